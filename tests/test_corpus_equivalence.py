"""Every rule that ships and every rule in the test suite: all targets agree with its expected rows.

For each rule file with `tests:`, each case's events go through the Python
module, the Defender and Sentinel KQL under duckdb-kql (after Kusto.Language
accepts them) and the SPL under the reference interpreter; each target's rows
must equal the case's expected rows. As in `rulecast test`, the rule's
enabled exclusions apply. Expected rows are written in the rule file by
hand, never computed here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import kqlexec
from backends import CompileSettings
from backends.kql import generate as generate_kql
from backends.python import generate_module, is_ordered, load_module
from backends.splunk import TARGETS as SPLUNK
from kustocheck import schema_tables
from translator.commands.test import run_case
from translator.compiler import analyze
from translator.exclusions import apply_exclusions
from translator.ir import sources
from translator.types import Type
from translator.values import format_datetime
from translator.rule import load_rule
from translator.schema import load_catalog

sys.path.insert(0, str(Path(__file__).with_name("spl")))
from harness import normalize, rule_inputs  # noqa: E402
from interpreter import run_spl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _rule_files():
    candidates = sorted((ROOT / "rules").rglob("*.yaml")) + sorted((ROOT / "tests").rglob("*.yaml"))
    return [p for p in candidates if "node_modules" not in p.parts and "\ntests:" in p.read_text(encoding="utf-8")]


RULES = _rule_files()


def test_the_corpus_is_found():
    assert any(p.is_relative_to(ROOT / "rules") for p in RULES)
    assert any(p.is_relative_to(ROOT / "tests") for p in RULES)


def _expected(case, columns):
    rows = case.expect.get("rows")
    if rows is None:
        return None
    return [tuple(row.get(c.name) for c in columns) for row in rows]


def _same(expected, actual, ordered):
    return expected == actual if ordered else sorted(map(repr, expected)) == sorted(map(repr, actual))


def _value(value, type_):
    """Expected YAML values and each target's values in one comparable form."""
    return normalize(value, type_)


@pytest.mark.parametrize("path", RULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_target_agrees_with_the_rule_tests(path, kusto):
    rule = load_rule(path)
    defender = analyze(rule, "defender")
    sentinel = analyze(rule, "sentinel")
    # The rule's exclusions are part of what every target compiles.
    defender.node = apply_exclusions(defender, "all")
    sentinel.node = apply_exclusions(sentinel, "all")
    module = load_module(generate_module(defender))
    ordered_rule = is_ordered(defender.node)
    columns = defender.node.columns
    kql = {"defender": generate_kql(defender.node), "sentinel": generate_kql(sentinel.node)}
    for platform, text in kql.items():
        tables = schema_tables(platform, [s.table for s in sources(
            (defender if platform == "defender" else sentinel).node)])
        analysis = kusto.analyze(text, tables)
        assert not analysis.errors, f"{path}: Kusto.Language rejects the {platform} KQL\n{analysis.report()}"
    spl = SPLUNK["splunk"].search(defender, CompileSettings())
    for case in rule.tests:
        outcome = run_case(rule, module, case, ordered_rule)
        assert outcome.passed, f"{path} {case.name}: python: {outcome.problems}"
        expected = _expected(case, columns)
        if expected is None:
            continue
        ordered = ordered_rule or case.expect.get("ordered", False)
        events = rule_inputs(rule, case)
        want = [tuple(_value(v, c.type) for v, c in zip(row, columns)) for row in expected]
        for platform in ("defender", "sentinel"):
            node = defender.node if platform == "defender" else sentinel.node
            catalog = load_catalog(platform).tables
            shaped = events if platform == "defender" else {
                t: [{("TimeGenerated" if k == "Timestamp" else k): v for k, v in e.items()} for e in rows]
                for t, rows in events.items()}
            con = kqlexec.connect({s.table: catalog[s.table] for s in sources(node)}, shaped)
            try:
                got = kqlexec.run(con, kql[platform], node.columns)
            finally:
                con.close()
            # Sentinel's tables have other columns; compare the ones both platforms output, by name.
            spelled = {c.name: ("TimeGenerated" if platform == "sentinel" and c.name == "Timestamp" else c.name)
                       for c in columns}
            have = {c.name for c in node.columns}
            shared = [i for i, c in enumerate(columns) if spelled[c.name] in have]
            assert len(shared) >= min(len(columns), 3), f"{path}: {platform} output shares too few columns"
            rows = [tuple(_value(_printable(r[spelled[columns[i].name]], columns[i].type), columns[i].type)
                          for i in shared) for r in got]
            want_shared = [tuple(row[i] for i in shared) for row in want]
            assert _same(want_shared, rows, ordered), \
                f"{path} {case.name}: duckdb-kql ({platform})\n{want_shared}\n{rows}"
        got = run_spl(spl, events)
        rows = [tuple(_value(r.get(c.name), c.type) for c in columns) for r in got]
        assert _same(want, rows, ordered), f"{path} {case.name}: splunk\n{want}\n{rows}"


def _printable(value, type_):
    """kqlexec gives datetimes as ticks; `normalize` reads ticks back through text."""
    if type_ is Type.DATETIME and isinstance(value, int):
        return format_datetime(value)
    return value

