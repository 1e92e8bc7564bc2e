"""Golden files of the KQL targets, and Kusto.Language on every query they hold.

Every shipped rule (rules/**/*.yaml) is compiled in every format of both KQL
targets through the CLI and compared byte for byte with
tests/golden/<target>/<rule>.<extension>. Regenerate after an intended
change with `python scripts/regen_golden.py` (it sets RULECAST_REGEN_GOLDEN=1
and runs the golden tests of every installed target).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backends.kql_target import EXTENSIONS, TARGETS, custom_detection
from kqlcheck import ROOT, assert_valid_kql, cli, query_text
from translator.compiler import analyze
from translator.rule import load_rule

GOLDEN = Path(__file__).with_name("golden")
RULES = sorted((ROOT / "rules").rglob("*.yaml"))
REGENERATE = os.environ.get("RULECAST_REGEN_GOLDEN") == "1"
CASES = [(path, target, fmt) for path in RULES for target in TARGETS for fmt in TARGETS[target].formats]


def _id(case) -> str:
    path, target, fmt = case
    return f"{path.stem}-{target}-{fmt}"


def golden_path(path: Path, target: str, fmt: str) -> Path:
    return GOLDEN / target / f"{path.stem}.{EXTENSIONS[fmt]}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_golden(case, capsys, monkeypatch):
    path, target, fmt = case
    monkeypatch.chdir(ROOT)
    status, out, err = cli(capsys, "compile", path.relative_to(ROOT), "-t", target, "-f", fmt)
    assert status == 0, err
    golden = golden_path(path, target, fmt)
    if REGENERATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(out, encoding="utf-8")
    assert golden.is_file(), f"{golden} is missing; run python scripts/regen_golden.py"
    assert out == golden.read_text(encoding="utf-8")


def test_golden_files_have_no_strays():
    """Every file under tests/golden/sentinel and tests/golden/defender belongs to a shipped rule and format."""
    expected = {golden_path(*case) for case in CASES}
    present = {p for target in TARGETS for p in (GOLDEN / target).glob("*") if p.is_file()}
    strays = sorted(present - expected)
    if REGENERATE:
        for stray in strays:
            stray.unlink()
        strays = []
    assert strays == [], "golden files without a rule or format: " + ", ".join(map(str, strays))
    assert expected <= present


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_golden_kql_is_valid_for_its_target(case, kusto):
    """The KQL inside each golden file parses and type-checks against the target's schemas.

    Kusto.Language's result columns must equal the IR's output columns.
    """
    path, target, fmt = case
    golden = golden_path(path, target, fmt)
    text = query_text(golden.read_text(encoding="utf-8"), fmt)
    analysis = analyze(load_rule(path), TARGETS[target].platform)
    columns = custom_detection(analysis).node.columns if fmt == "custom-detection" else analysis.columns
    assert_valid_kql(kusto, text, TARGETS[target].platform, columns)


def test_phish_rule_time_column_per_target():
    stem = "high_confidence_phish_released"
    sentinel = (GOLDEN / "sentinel" / f"{stem}.kql").read_text(encoding="utf-8")
    defender = (GOLDEN / "defender" / f"{stem}.kql").read_text(encoding="utf-8")
    assert "ReleaseTime = TimeGenerated" in sentinel
    assert "Timestamp" not in sentinel
    assert "ReleaseTime = Timestamp" in defender
    assert "TimeGenerated" not in defender
    detection = (GOLDEN / "defender" / f"{stem}.detection.json").read_text(encoding="utf-8")
    assert "| extend Timestamp = ReleaseTime" in query_text(detection, "custom-detection")


def test_compile_output_is_byte_identical_across_runs(tmp_path):
    """Two processes (with different hash seeds) write the same files for every KQL format."""
    outputs = []
    for run, seed in enumerate(("1", "2")):
        directory = tmp_path / str(run)
        for target in TARGETS:
            for fmt in TARGETS[target].formats:
                command = [sys.executable, "-m", "translator", "compile", "rules", "-t", target, "-f", fmt,
                           "-o", str(directory)]
                env = dict(os.environ, PYTHONHASHSEED=seed)
                subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
        outputs.append({p.relative_to(directory): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()})
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == len(CASES)
