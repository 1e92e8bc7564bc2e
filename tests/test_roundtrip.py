"""Round trip: the IR printed back as query text parses and resolves to the same IR.

IR equality ignores source spans, so the printed text may be formatted
differently (explicit sort directions, join kinds, quoting) as long as it
means the same thing. Covers every corpus query and every rule file under
`rules/` and `tests/`, for both platforms' schemas.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import queries
from backends.kql import generate
from translator.compiler import analyze, rule_files
from translator.parser import parse_query
from translator.resolver import resolve
from translator.rule import load_rule
from translator.schema import load_catalog

ROOT = Path(__file__).resolve().parent.parent
CORPUS = queries.load()


def _is_rule_file(path: Path) -> bool:
    """Rule files carry a top-level `query:`; other YAML under tests/ (Sigma inputs, data) does not."""
    return re.search(r"^query:", path.read_text(encoding="utf-8", errors="replace"), re.M) is not None


# Compiled packaging under tests/golden/ (hunting and analytics YAML) carries
# a `query:` too; it is output, checked by the golden tests, not a rule source.
RULE_FILES = sorted(
    str(p.relative_to(ROOT)) for p in rule_files([ROOT / "rules", ROOT / "tests"])
    if _is_rule_file(p) and p.relative_to(ROOT).parts[:2] != ("tests", "golden")
)


def round_trip(text: str, platform: str = "defender"):
    catalog = load_catalog(platform)
    first = resolve(parse_query(text), catalog).node
    printed = generate(first)
    second = resolve(parse_query(printed), catalog).node
    return first, printed, second


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_query_round_trips(name):
    first, printed, second = round_trip(CORPUS[name])
    assert second == first, printed
    # Printing is a fixed point after one round.
    assert generate(second) == printed


def test_seed_round_trips_on_both_platforms():
    for platform in ("defender", "sentinel"):
        first, printed, second = round_trip(CORPUS["seed"], platform)
        assert second == first, printed
        assert len(first.columns) == (44 if platform == "defender" else len(first.columns))


@pytest.mark.parametrize("path", RULE_FILES)
def test_rule_file_round_trips(path):
    rule = load_rule(ROOT / path)
    analysis = analyze(rule)
    printed = generate(analysis.node)
    second = resolve(parse_query(printed), load_catalog("defender")).node
    assert second == analysis.node, printed


def test_rule_files_are_found():
    assert "rules/email/high_confidence_phish_released.yaml" in RULE_FILES
    assert any(p.startswith("tests/rules/") for p in RULE_FILES)


def test_equality_ignores_spans_but_not_meaning():
    a = resolve(parse_query("EmailEvents | where Subject == 'x'"), load_catalog()).node
    b = resolve(parse_query("EmailEvents\n|   where   Subject == \"x\""), load_catalog()).node
    c = resolve(parse_query("EmailEvents | where Subject =~ 'x'"), load_catalog()).node
    assert a == b
    assert a.span != b.span
    assert a != c


def test_bare_join_prints_its_kind():
    first, printed, second = round_trip("EmailEvents | join EmailEvents on NetworkMessageId")
    assert "kind=innerunique" in printed
    assert second == first
    assert first.kind_explicit is False and second.kind_explicit is True
