"""The Splunk target's packaging, data mapping, CLI behaviour, golden files and grammar."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).with_name("spl")))

from harness import compile_spl, conf_stanzas, rule_for, run_spl  # noqa: E402
from interpreter import parse  # noqa: E402
from lark.exceptions import LarkError  # noqa: E402

from backends import CompileSettings  # noqa: E402
from backends.splunk import TARGETS  # noqa: E402
from backends.splunk_mapping import parse_mapping  # noqa: E402
from translator.compiler import analyze  # noqa: E402
from translator.diagnostics import RulecastError  # noqa: E402
from translator.exclusions import apply_exclusions  # noqa: E402
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
    """Shipped rules compile byte for byte to the checked-in output, with their exclusions as compile applies them.

    Regenerate after an intended change with
    `RULECAST_REGEN_GOLDEN=1 python -m pytest tests/test_splunk_target.py -k golden`.
    """
    analysis = analyze(load_rule(path), "defender")
    analysis.node = apply_exclusions(analysis, "all")
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


DATED = "options:\n  splunk:\n    date: 2026-12-04\n"


def test_contentctl_ends_with_filter_macro():
    rule = rule_for('EmailEvents | where Subject == "x"', extra=DATED)
    [artifact] = TARGETS["splunk"].compile(analyze(rule), "contentctl", CompileSettings())
    import yaml

    data = yaml.safe_load(artifact.text)
    assert data["search"].splitlines()[-1] == "| `splunk_semantics_probe_filter`"
    assert data["id"] == "00000000-0000-4000-8000-000000000001"
    assert data["tags"]["mitre_attack_id"] == []
    assert data["date"] == "2026-12-04"
    assert artifact.stem == "splunk_semantics_probe"


def test_contentctl_requires_a_date():
    rule = rule_for('EmailEvents | where Subject == "x"')
    with pytest.raises(RulecastError) as info:
        TARGETS["splunk"].compile(analyze(rule), "contentctl", CompileSettings())
    assert "a contentctl detection requires a date" in info.value.diagnostics[0].message
    assert TARGETS["splunk"].compile(analyze(rule), "savedsearch", CompileSettings())


def test_contentctl_date_format():
    rule = rule_for('EmailEvents | where Subject == "x"', extra='options:\n  splunk:\n    date: "4 Dec 2026"\n')
    with pytest.raises(RulecastError) as info:
        TARGETS["splunk"].compile(analyze(rule), "contentctl", CompileSettings())
    assert info.value.diagnostics[0].first_line.startswith("<probe>:8:11: error: splunk option 'date' must be a date")


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


# ---------------------------------------------------------------- exclusions in the filter macro

SEED = ROOT / "rules" / "email" / "high_confidence_phish_released.yaml"
SEED_EXCLUSION = "Scheduled quarantine release by security team"
SEED_FILTER = "high_confidence_phish_released_filter"

PROBE_RULE = """\
id: 00000000-0000-4000-8000-00000000e0e1
name: Filter macro probe
description: Two exclusions over EmailEvents.
query: |
  EmailEvents
  | extend Conf = todynamic(ConfidenceLevel)
  | project NetworkMessageId, Subject, BulkComplaintLevel, EmailTime = Timestamp, Conf
fields:
  subject: Subject
  bcl: BulkComplaintLevel
exclusions:
  - name: bulk mail
    description: A high bulk complaint level.
    filter: 'bcl >= 5'
  - name: newsletters
    description: Newsletters, spam verdicts and old mail.
    filter: 'subject:*newsletter* or Conf:*Spam* or EmailTime < 2024-01-01T00:00:00Z'
options:
  splunk:
    date: "2026-12-04"
"""


def compile_cli(capsys, path, fmt: str, *extra: str) -> str:
    from translator.cli import main

    status = main(["compile", str(path), "-t", "splunk", "-f", fmt, *extra])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured.out


def expand_filter_macro(search: str, macros_conf: str, name: str) -> str:
    """Replace the final macro call of a contentctl search with the definition that `--format macros` prints."""
    call = f"| `{name}`"
    assert search.endswith("\n" + call)
    return search[: -len(call)] + "| " + conf_stanzas(macros_conf)[name]["definition"]


def contentctl_search(capsys, path, *extra: str) -> str:
    import yaml

    return yaml.safe_load(compile_cli(capsys, path, "contentctl", *extra))["search"]


def seed_with_account(tmp_path: Path, account: str) -> Path:
    text = SEED.read_text(encoding="utf-8")
    assert "        value: null\n" in text
    path = tmp_path / SEED.name
    path.write_text(text.replace("        value: null\n", f"        value: {account}\n"), encoding="utf-8")
    return path


def _release(mid: str, user: str) -> dict:
    return {"Timestamp": "2024-05-14T10:00:00Z", "ActionType": "QuarantineReleaseMessage",
            "RawEventData": {"NetworkMessageId": mid, "UserId": user}}


def _message(mid: str, subject: str) -> dict:
    return {"Timestamp": "2024-05-14T09:00:00Z", "NetworkMessageId": mid, "Subject": subject,
            "ConfidenceLevel": '{"Phish":"High"}'}


SEED_EVENTS = {
    "CloudAppEvents": [_release("by-subject", "alice@contoso.com"), _release("by-team", "SecOps@Contoso.com"),
                       _release("near-subject", "alice@contoso.com"),
                       _release("near-team", "secops@contoso.com.example"), _release("plain", "bob@contoso.com")],
    "EmailEvents": [_message("by-subject", "FW: scheduled quarantine release"), _message("by-team", "Invoice"),
                    _message("near-subject", "Scheduled Quarantine"), _message("near-team", "Invoice"),
                    _message("plain", "Invoice")],
}


def test_contentctl_exclusions_in_filter_macro(capsys, tmp_path):
    rule = seed_with_account(tmp_path, "secops@contoso.com")
    search = contentctl_search(capsys, rule)
    assert "exclusion" not in search
    assert "Scheduled Quarantine Release" not in search
    assert search.splitlines()[-2].startswith("| table ReleaseTime, ")
    macros = compile_cli(capsys, rule, "macros")
    definition = conf_stanzas(macros)[SEED_FILTER]["definition"]
    # Each exclusion reads as the query format writes it: the comment line, then its where.
    query_lines = compile_cli(capsys, rule, "query").splitlines()
    comment = f"```exclusion: {SEED_EXCLUSION}```"
    where = query_lines[query_lines.index(comment) + 1]
    assert where.startswith("| where (NOT match(Subject, ")
    assert definition.splitlines() == [comment, where[2:]]

    expanded = expand_filter_macro(search, macros, SEED_FILTER)
    inline = "\n".join(query_lines)
    kept = [row["NetworkMessageId"] for row in run_spl(expanded, SEED_EVENTS)]
    assert sorted(kept) == ["near-subject", "near-team", "plain"]
    assert run_spl(expanded, SEED_EVENTS) == run_spl(inline, SEED_EVENTS)
    # Without the macro's exclusions both rows the exclusion removes come back.
    unfiltered = contentctl_search(capsys, rule).rsplit("\n", 1)[0]
    assert len(run_spl(unfiltered, SEED_EVENTS)) == 5


def test_seed_filter_macro_placeholder_unset(capsys):
    search = contentctl_search(capsys, SEED)
    macros = compile_cli(capsys, SEED, "macros")
    expanded = expand_filter_macro(search, macros, SEED_FILTER)
    rows = run_spl(expanded, SEED_EVENTS)
    assert sorted(row["NetworkMessageId"] for row in rows) == ["by-team", "near-subject", "near-team", "plain"]
    assert rows == run_spl(compile_cli(capsys, SEED, "query"), SEED_EVENTS)


def test_filter_macro_helper_fields(capsys, tmp_path):
    rule = tmp_path / "probe.yaml"
    rule.write_text(PROBE_RULE, encoding="utf-8")
    macros = compile_cli(capsys, rule, "macros")
    definition = conf_stanzas(macros)["filter_macro_probe_filter"]["definition"].splitlines()
    assert definition[0] == "```exclusion: bulk mail```"
    assert definition[1].startswith("where (isnull(BulkComplaintLevel) OR ")
    assert definition[2] == "```exclusion: newsletters```"
    assert definition[3].startswith("| eval rc_")
    assert definition[4].startswith("| where (NOT match(Subject, ")
    assert definition[5].startswith("| fields - rc_")
    assert len(definition) == 6

    def email(mid: str, **columns) -> dict:
        return {"NetworkMessageId": mid, "Timestamp": "2024-05-14T09:00:00Z", "Subject": "Hello", **columns}

    events = {"EmailEvents": [
        email("bulk", BulkComplaintLevel=7),
        email("bulk-low", BulkComplaintLevel=4),
        email("no-bulk-level"),  # the field is missing: the bulk exclusion keeps the event
        email("newsletter", Subject="Our May Newsletter"),
        email("spam", ConfidenceLevel='{"Spam":"High"}'),
        email("no-confidence"),
        email("old", Timestamp="2023-12-31T23:59:59Z"),
        email("new-year", Timestamp="2024-01-01T00:00:00Z"),
    ]}
    expanded = expand_filter_macro(contentctl_search(capsys, rule), macros, "filter_macro_probe_filter")
    rows = run_spl(expanded, events)
    assert [row["NetworkMessageId"] for row in rows] == ["bulk-low", "no-bulk-level", "no-confidence", "new-year"]
    assert list(rows[0]) == ["NetworkMessageId", "Subject", "BulkComplaintLevel", "EmailTime", "Conf"]
    assert rows == run_spl(compile_cli(capsys, rule, "query"), events)


def test_filter_macro_without_exclusions(capsys):
    macros = compile_cli(capsys, SEED, "macros", "--exclusions", "none")
    assert conf_stanzas(macros)[SEED_FILTER]["definition"] == "search *"
    assert "exclusion" not in compile_cli(capsys, SEED, "query", "--exclusions", "none")


def test_savedsearch_exclusions_inline(capsys):
    stanza = conf_stanzas(compile_cli(capsys, SEED, "savedsearch"))["High Confidence Phish Released"]
    lines = stanza["search"].splitlines()
    assert lines[-3:-1] == [f"```exclusion: {SEED_EXCLUSION}```",
                            '| where NOT match(Subject, "(?i)Scheduled Quarantine Release")']
    assert lines[-1].startswith("| table ")


def test_filter_macro_rejects_timespan_exclusion(capsys, tmp_path):
    from translator.cli import main

    rule = tmp_path / "span.yaml"
    rule.write_text(PROBE_RULE.replace("EmailTime = Timestamp, Conf", "EmailTime = Timestamp, Conf, Wait = 1h")
                    .replace("filter: 'bcl >= 5'", "filter: 'Wait >= 2h'"), encoding="utf-8")
    for fmt in ("contentctl", "macros"):
        status = main(["compile", str(rule), "-t", "splunk", "-f", fmt])
        captured = capsys.readouterr()
        assert status == 1
        assert captured.out == ""
        assert captured.err.splitlines()[0] == (
            f"{rule}:14:14: error: splunk: exclusion 'bulk mail' reads the timespan column 'Wait', which is text "
            "in the filter_macro_probe_filter macro (after the search's final table command)")
        assert "Traceback" not in captured.err
    assert "```exclusion: bulk mail```" in compile_cli(capsys, rule, "query")
