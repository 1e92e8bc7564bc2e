"""The Splunk target's packaging, data mapping, CLI behaviour, golden files and grammar."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).with_name("spl")))

from harness import compile_spl, rule_for, run_spl  # noqa: E402
from interpreter import parse  # noqa: E402
from lark.exceptions import LarkError  # noqa: E402

from backends import CompileSettings  # noqa: E402
from backends.splunk import TARGETS  # noqa: E402
from backends.splunk_mapping import parse_mapping  # noqa: E402
from translator.compiler import analyze  # noqa: E402
from translator.diagnostics import RulecastError  # noqa: E402
from translator.rule import load_rule  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).with_name("golden") / "splunk"
RULES = sorted((ROOT / "rules").rglob("*.yaml"))
FORMATS = TARGETS["splunk"].formats
REGENERATE = os.environ.get("RULECAST_REGEN_GOLDEN") == "1"


def golden_artifacts():
    for path in RULES:
        for fmt in FORMATS:
            yield pytest.param(path, fmt, id=f"{path.stem}-{fmt}")


@pytest.mark.parametrize("path, fmt", list(golden_artifacts()))
def test_golden(path, fmt):
    """Shipped rules compile byte for byte to the checked-in output.

    Regenerate after an intended change with
    `RULECAST_REGEN_GOLDEN=1 python -m pytest tests/test_splunk_target.py -k golden`.
    """
    analysis = analyze(load_rule(path), "defender")
    [artifact] = TARGETS["splunk"].compile(analysis, fmt, CompileSettings())
    golden = GOLDEN / f"{path.stem}.{artifact.extension}"
    if REGENERATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(artifact.text, encoding="utf-8")
    assert artifact.text == golden.read_text(encoding="utf-8")


def test_query_parses_with_grammar():
    for path in RULES:
        analysis = analyze(load_rule(path), "defender")
        [artifact] = TARGETS["splunk"].compile(analysis, "query", CompileSettings())
        parse(artifact.text)


def test_output_is_deterministic():
    command = [sys.executable, "-m", "translator", "compile", str(RULES[0]), "-t", "splunk"]
    first = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True).stdout
    second = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert first == second and "| table " in first


@pytest.mark.parametrize("spl", [
    "`defender_emailevents` | search Subject=x | table Subject",
    "`defender_emailevents` | sort Subject | table Subject",
    "`defender_emailevents` | join type=outer max=0 k [search `defender_emailevents`] | table k",
    "`defender_emailevents` | where like(Subject, \"a%\") | table Subject",
    "`defender_emailevents` Subject=a OR Subject=b | table Subject",
])
def test_grammar_rejects_other_spl(spl):
    with pytest.raises(LarkError):
        parse(spl)


def test_savedsearch_stanza():
    rule = rule_for('EmailEvents | where Subject == "x"', extra=(
        "relevantTechniques: [T1566.001]\nseverity: High\n"
        "options:\n  splunk:\n    cron_schedule: '*/15 * * * *'\n    earliest_time: -15m\n"))
    [artifact] = TARGETS["splunk"].compile(analyze(rule), "savedsearch", CompileSettings())
    text = artifact.text
    assert "[Splunk semantics probe]" in text
    assert "cron_schedule = */15 * * * *" in text
    assert "dispatch.earliest_time = -15m" in text
    assert "alert.severity = 5" in text
    assert 'action.correlationsearch.annotations = {"mitre_attack": ["T1566.001"]}' in text
    # A multi-line search continues each line with a backslash.
    assert "search = `defender_emailevents` properties.Subject=\"x\" \\\n| rename" in text


def test_contentctl_ends_with_filter_macro():
    rule = rule_for('EmailEvents | where Subject == "x"')
    [artifact] = TARGETS["splunk"].compile(analyze(rule), "contentctl", CompileSettings())
    import yaml

    data = yaml.safe_load(artifact.text)
    assert data["search"].splitlines()[-1] == "| `splunk_semantics_probe_filter`"
    assert data["id"] == "00000000-0000-4000-8000-000000000001"
    assert data["tags"]["mitre_attack_id"] == []


def test_bad_option_value_is_positioned():
    rule = rule_for("EmailEvents", extra="options:\n  splunk:\n    detection_type: Sneaky\n")
    with pytest.raises(RulecastError) as info:
        TARGETS["splunk"].compile(analyze(rule), "query", CompileSettings())
    assert info.value.diagnostics[0].first_line.startswith("<probe>:8:21: error: splunk option 'detection_type'")


CUSTOM_MAPPING = """\
default:
  macro: m365_{table_lower}
  search: sourcetype="defender:ah" table="{table}"
  field_prefix: ""
tables:
  EmailEvents:
    macro: my_email
    search: index=mail sourcetype="defender:ah:email"
    field_prefix: body.properties.
    columns:
      Subject: subject_line
"""


def test_custom_mapping_names(tmp_path):
    mapping_file = tmp_path / "mapping.yaml"
    mapping_file.write_text(CUSTOM_MAPPING)
    rule = rule_for('EmailEvents | where Subject == "Hi" | project Subject, SenderFromAddress')
    spl = compile_spl(rule, mapping=str(mapping_file))
    lines = spl.splitlines()
    assert lines[0] == '`my_email` subject_line="Hi"'
    assert lines[1] == "| rename body.properties.SenderFromAddress AS SenderFromAddress, subject_line AS Subject"
    mapping = parse_mapping(CUSTOM_MAPPING)
    events = {"EmailEvents": [{"Subject": "Hi", "SenderFromAddress": "a@b"}, {"Subject": "hi"}]}
    assert run_spl(spl, events, mapping) == [{"Subject": "Hi", "SenderFromAddress": "a@b"}]
    [artifact] = TARGETS["splunk"].compile(analyze(rule), "macros", CompileSettings(splunk_mapping=str(mapping_file)))
    assert "[my_email]\ndefinition = index=mail sourcetype=\"defender:ah:email\"" in artifact.text


@pytest.mark.parametrize("text, message, line", [
    ("default: {macro: x, search: a=b, field_prefix: p.}\ntables: []\n", "'tables' must map", 2),
    ("default: {macro: x, search: a=b, field_prefix: p.}\nsurprise: 1\n", "unknown key 'surprise'", 2),
    ("default: {macro: 'bad name', search: a=b, field_prefix: p.}\n", "macro name 'bad name'", 1),
    ("default: {macro: x, search: 'a=b | eval c=1', field_prefix: p.}\n", "must be field=value terms", 1),
    ("default: {macro: x, search: a=b}\n", "missing required key 'field_prefix'", 1),
    ("default: [\n", "", 2),
])
def test_bad_mapping_is_positioned(text, message, line):
    with pytest.raises(RulecastError) as info:
        parse_mapping(text, "map.yaml")
    first = info.value.diagnostics[0].first_line
    assert first.startswith(f"map.yaml:{line}:") and message in first


def test_cli_reports_a_bad_mapping_file(tmp_path):
    mapping_file = tmp_path / "bad.yaml"
    mapping_file.write_text("default:\n  macro: x\n  search: a=b\n  field_prefix: p.\n  colour: red\n")
    result = subprocess.run(
        [sys.executable, "-m", "translator", "compile", str(RULES[0]), "-t", "splunk",
         "--splunk-mapping", str(mapping_file)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1
    assert f"{mapping_file}:5:3: error: splunk: unknown key 'colour'" in result.stderr
    assert "Traceback" not in result.stderr
