"""SigmaHQ's regression events: every corpus rule that has them must fire on them.

The corpus (a SigmaHQ checkout with `regression_data/`) is found through the
environment variable RULECAST_SIGMA_CORPUS, or at ../shared/corpus/sigmahq
next to the repository. Each `info.yml` names the rule id and contains the
exported events (JSON from EVTX, or raw log lines); the rule is compiled for
the Python target, the events are flattened into Sigma's field names, and the
rule must return at least one row.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from backends.python import generate_module, load_module
from translator.sigma.events import coerce, flatten, read_json_records
from translator.sigma.mapping import Refusal
from translator.sigma.rules import analysis_for, load_file, node_for

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("RULECAST_SIGMA_CORPUS", REPO.parent / "shared" / "corpus" / "sigmahq"))

pytestmark = pytest.mark.skipif(not (CORPUS / "regression_data").is_dir(),
                                reason=f"no SigmaHQ corpus with regression_data at {CORPUS}")


def _rule_index() -> dict[str, Path]:
    index = {}
    for path in CORPUS.glob("rules*/**/*.yml"):
        match = re.search(r"(?m)^id:\s*['\"]?([0-9a-fA-F-]{36})", path.read_text(encoding="utf-8"))
        if match:
            index[match.group(1).lower()] = path
    return index


def _cases() -> list[Path]:
    return sorted(CORPUS.glob("regression_data/**/info.yml"))


@pytest.fixture(scope="module")
def rule_index() -> dict[str, Path]:
    return _rule_index()


def load_events(folder: Path, columns) -> list[dict]:
    events = []
    for path in sorted(folder.glob("*.json")):
        for record in read_json_records(path.read_text(encoding="utf-8")):
            events.append(coerce(flatten(record), columns))
    for path in sorted(folder.glob("*.raw")):
        events.extend({"message": line} for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return events


def fires(info: Path, rule_index: dict[str, Path]) -> tuple[bool, str]:
    """Compile the rule named by `info` for Python and run it on its events; return (fired, detail)."""
    metadata = yaml.safe_load(info.read_text(encoding="utf-8"))
    rule_id = str(metadata["rule_metadata"][0]["id"]).lower()
    rule_path = rule_index.get(rule_id)
    if rule_path is None:
        return False, f"rule {rule_id} is not in the corpus"
    document = load_file(rule_path)[0]
    try:
        node = node_for(document, "python")
    except Refusal as exc:
        return False, f"refused: {exc.message}"
    module = load_module(generate_module(analysis_for(document, "python", "defender")))
    events = load_events(info.parent, node.columns)
    rows = list(module.run({module.TABLES[0]: events}))
    return bool(rows), f"{len(rows)} of {len(events)} events matched"


@pytest.mark.parametrize("info", _cases(), ids=lambda p: p.parent.name)
def test_regression_rule_fires(info, rule_index):
    fired, detail = fires(info, rule_index)
    assert fired, f"{info.parent.name}: {detail}"


def test_every_regression_case_has_a_python_mapping(rule_index):
    refused = []
    for info in _cases():
        fired, detail = fires(info, rule_index)
        if detail.startswith("refused"):
            refused.append(f"{info.parent.name}: {detail}")
    assert not refused, "\n".join(refused)
