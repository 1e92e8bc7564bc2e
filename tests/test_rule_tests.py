"""`rulecast test`: the shipped rules pass, failures show a readable diff, bad cases are reported."""

from __future__ import annotations

import os
from pathlib import Path

from backends.python import generate_module
from translator.cli import main
from translator.compiler import analyze
from translator.rule import load_rule

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules/email/high_confidence_phish_released.yaml"
GOLDEN = ROOT / "tests/golden/python/high_confidence_phish_released.py"

RULE_HEAD = """\
id: 0b6f1d7a-3c2e-4f5a-9b8c-7d6e5f4a3b2c
name: Sends by user
description: Sends, newest first.
query: |
  CloudAppEvents
  | where ActionType == "Send"
  | project Timestamp, AccountId
  | sort by Timestamp desc
"""


def run_cli(capsys, *argv):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_shipped_rules_pass(capsys):
    status, out, _ = run_cli(capsys, "test", ROOT / "rules")
    assert status == 0
    assert "  PASS  release of a high-confidence phish" in out
    assert out.splitlines()[-1].endswith(" passed, 0 failed")


def test_seed_has_the_required_cases():
    names = [case.name for case in load_rule(SEED).tests]
    assert len(names) >= 7
    for required in ("high-confidence", "low-confidence", "without NetworkMessageId", "same message",
                     "not valid JSON", "case", "out of time order"):
        assert any(required in name for name in names), required


def test_failure_shows_column_diff(capsys, tmp_path):
    rule = tmp_path / "rule.yaml"
    rule.write_text(RULE_HEAD + """\
tests:
  - name: newest first
    input:
      CloudAppEvents:
        - {Timestamp: "2024-01-01T00:00:00Z", ActionType: Send, AccountId: old}
        - {Timestamp: "2024-01-02T00:00:00Z", ActionType: Send, AccountId: new}
    expect:
      rows:
        - {Timestamp: "2024-01-02T00:00:00Z", AccountId: new}
        - {Timestamp: "2024-01-01T00:00:00Z", AccountId: wrong}
""", encoding="utf-8")
    status, out, _ = run_cli(capsys, "test", rule)
    assert status == 1
    lines = out.splitlines()
    assert lines[1] == "  FAIL  newest first"
    # The error points at the expected value in the rule file, with the source line and a caret.
    assert lines[2:5] == [
        f'        {rule}:18:58: error: row 2, column AccountId: expected "wrong", got "old"',
        '                  - {Timestamp: "2024-01-01T00:00:00Z", AccountId: wrong}',
        "                                                                   ^",
    ]
    assert lines[5] == "          hint: rows are compared in order because the rule sorts, or the case sets ordered: true"
    assert out.splitlines()[-1] == "0 passed, 1 failed"


def test_order_matters_only_when_rule_sorts(capsys, tmp_path):
    unsorted = RULE_HEAD.replace("  | sort by Timestamp desc\n", "")
    case = """\
tests:
  - name: two sends
    input:
      CloudAppEvents:
        - {Timestamp: "2024-01-01T00:00:00Z", ActionType: Send, AccountId: a}
        - {Timestamp: "2024-01-02T00:00:00Z", ActionType: Send, AccountId: b}
    expect:
      rows:
        - {Timestamp: "2024-01-02T00:00:00Z", AccountId: b}
        - {Timestamp: "2024-01-01T00:00:00Z", AccountId: a}
"""
    rule = tmp_path / "unsorted.yaml"
    rule.write_text(unsorted + case, encoding="utf-8")
    assert run_cli(capsys, "test", rule)[0] == 0
    rule.write_text(unsorted + case.replace("    expect:\n", "    expect:\n      ordered: true\n"), encoding="utf-8")
    status, out, _ = run_cli(capsys, "test", rule)
    assert status == 1
    assert "hint: rows are compared in order" in out
    assert f'{rule}:17:58: error: row 1, column AccountId: expected "b", got "a"' in out


def test_omitted_columns_must_be_empty(capsys, tmp_path):
    rule = tmp_path / "rule.yaml"
    rule.write_text(RULE_HEAD + """\
tests:
  - name: account left out
    input:
      CloudAppEvents:
        - {Timestamp: "2024-01-01T00:00:00Z", ActionType: Send, AccountId: someone}
    expect:
      rows:
        - {Timestamp: "2024-01-01T00:00:00Z"}
""", encoding="utf-8")
    status, out, _ = run_cli(capsys, "test", rule)
    assert status == 1
    # The column is left out of the expected row, so the error points at the row.
    assert f'{rule}:16:11: error: row 1, column AccountId: expected "", got "someone"' in out


def test_bad_cases_name_their_position(capsys, tmp_path):
    rule = tmp_path / "rule.yaml"
    rule.write_text(RULE_HEAD + """\
tests:
  - name: wrong input type
    input:
      CloudAppEvents:
        - {Timestamp: 12, ActionType: Send}
    expect:
      count: 1
  - name: unknown expected column
    input:
      CloudAppEvents: []
    expect:
      rows:
        - {AcountId: x}
  - name: missing file
    input:
      CloudAppEvents: events/nope.jsonl
    expect:
      count: 0
  - name: count mismatch
    input:
      CloudAppEvents:
        - {ActionType: Send}
    expect:
      count: 2
""", encoding="utf-8")
    status, out, _ = run_cli(capsys, "test", rule)
    assert status == 1
    errors = [line.strip() for line in out.splitlines() if ": error: " in line]
    assert errors == [
        f"{rule}:13:23: error: CloudAppEvents event 1: column Timestamp: expected a datetime such as "
        "2024-05-01T12:34:56.1234567Z, got 12",
        f"{rule}:21:22: error: expected row 1 names column 'AcountId', which the output does not have "
        "(did you mean 'AccountId'?)",
        f"{rule}:24:23: error: input file {tmp_path / 'events/nope.jsonl'} not found",
        f"{rule}:32:14: error: expected 2 rows, got 1",
    ]
    assert out.splitlines()[-1] == "0 passed, 4 failed"


def test_row_failures_point_at_rows(capsys, tmp_path):
    unsorted = RULE_HEAD.replace("  | sort by Timestamp desc\n", "")
    rule = tmp_path / "rule.yaml"
    rule.write_text(unsorted + """\
tests:
  - name: one row differs, one is missing
    input:
      CloudAppEvents:
        - {Timestamp: "2024-01-01T00:00:00Z", ActionType: Send, AccountId: a}
    expect:
      rows:
        - {Timestamp: "2024-01-01T00:00:00Z", AccountId: b}
        - {Timestamp: "2024-01-02T00:00:00Z", AccountId: c}
  - name: an unexpected row
    input:
      CloudAppEvents:
        - {Timestamp: "2024-01-01T00:00:00Z", ActionType: Send, AccountId: a}
        - {Timestamp: "2024-01-01T00:00:00Z", ActionType: Send, AccountId: z}
    expect:
      rows:
        - {Timestamp: "2024-01-01T00:00:00Z", AccountId: a}
  - name: an input table the rule does not read
    input:
      EmailEvents: []
    expect:
      count: 0
""", encoding="utf-8")
    status, out, _ = run_cli(capsys, "test", rule)
    assert status == 1
    errors = [line.strip() for line in out.splitlines() if ": error: " in line]
    assert errors == [
        f"{rule}:14:7: error: expected 2 rows, got 1",
        f'{rule}:15:58: error: row 1 is not in the output; in the closest output row, column AccountId: '
        'expected "b", got "a"',
        f"{rule}:16:11: error: row 2 is not in the output",
        f"{rule}:23:7: error: expected 1 row, got 2",
        f"{rule}:27:7: error: input table 'EmailEvents' is not read by the rule, which reads CloudAppEvents",
    ]
    assert '    {Timestamp: 2024-01-01T00:00:00.0000000Z, AccountId: "z"}' in out
    assert out.splitlines()[-1] == "0 passed, 3 failed"


def test_file_inputs_are_read_relative_to_the_rule(capsys, tmp_path):
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "sends.jsonl").write_text(
        '{"Timestamp": "2024-01-01T00:00:00Z", "ActionType": "Send", "AccountId": "x"}\n'
        '{"Timestamp": "2024-01-01T00:00:00Z", "ActionType": "Read", "AccountId": "y"}\n', encoding="utf-8")
    rule = tmp_path / "rule.yaml"
    rule.write_text(RULE_HEAD + """\
tests:
  - name: from a file
    input:
      CloudAppEvents: events/sends.jsonl
    expect:
      rows:
        - {Timestamp: 2024-01-01T00:00:00Z, AccountId: x}
""", encoding="utf-8")
    status, out, _ = run_cli(capsys, "test", rule)
    assert status == 0, out
    assert "1 passed, 0 failed" in out


def test_golden_module_matches(monkeypatch):
    # Regenerate with: python scripts/regen_golden.py
    monkeypatch.chdir(ROOT)  # the module names the rule path it was compiled from
    text = generate_module(analyze(load_rule("rules/email/high_confidence_phish_released.yaml"), "defender"))
    if os.environ.get("RULECAST_REGEN_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


EXCLUSION = """\
exclusions:
  - name: mail service
    description: The mail service sends on its own behalf.
    filter: 'AccountId:svc-mail'
  - name: robots
    description: Not applied; kept to show that a disabled exclusion stays off.
    filter: 'AccountId:robot*'
    enabled: false
    reason: Robots are what the rule looks for.
tests:
  - name: the mail service is excluded
    input:
      CloudAppEvents:
        - {Timestamp: "2024-01-03T00:00:00Z", ActionType: Send, AccountId: alice}
        - {Timestamp: "2024-01-02T00:00:00Z", ActionType: Send, AccountId: SVC-Mail}
        - {Timestamp: "2024-01-01T00:00:00Z", ActionType: Send, AccountId: svc-mail-2}
        - {Timestamp: "2023-12-31T00:00:00Z", ActionType: Send, AccountId: robot-7}
    expect:
      rows:
        - {Timestamp: "2024-01-03T00:00:00Z", AccountId: alice}
        - {Timestamp: "2024-01-01T00:00:00Z", AccountId: svc-mail-2}
        - {Timestamp: "2023-12-31T00:00:00Z", AccountId: robot-7}
"""


def test_exclusions_apply_unless_turned_off(capsys, tmp_path):
    rule = tmp_path / "rule.yaml"
    rule.write_text(RULE_HEAD + EXCLUSION, encoding="utf-8")
    status, out, err = run_cli(capsys, "test", rule)
    assert status == 0, out
    assert "  PASS  the mail service is excluded" in out
    assert err == ""
    status, out, _ = run_cli(capsys, "test", rule, "--exclusions", "mail service")
    assert status == 0, out
    status, out, _ = run_cli(capsys, "test", rule, "--exclusions", "none")
    assert status == 1
    assert "  FAIL  the mail service is excluded" in out
    assert "error: expected 3 rows, got 4" in out
    assert 'error: row 2, column AccountId: expected "svc-mail-2", got "SVC-Mail"' in out


def test_exclusions_option_errors_match_compile(capsys, tmp_path):
    rule = tmp_path / "rule.yaml"
    rule.write_text(RULE_HEAD + EXCLUSION, encoding="utf-8")
    cases = [
        ("mail", "rulecast: error: --exclusions: no exclusion named 'mail'; exclusions: 'mail service'; 'robots'\n"),
        ("robots", f"rulecast: error: --exclusions: exclusion 'robots' in {rule} is disabled: "
                   "Robots are what the rule looks for.\n"),
        (",", "rulecast: error: --exclusions needs all, none, or a comma-separated list of exclusion names\n"),
    ]
    for value, message in cases:
        status, out, err = run_cli(capsys, "test", rule, "--exclusions", value)
        assert (status, out, err) == (2, "", message), value
        status, out, err = run_cli(capsys, "compile", rule, "-t", "python", "--exclusions", value)
        assert (status, out, err) == (2, "", message), value


def test_exclusion_names_may_come_from_any_rule_tested(capsys, tmp_path):
    (tmp_path / "with.yaml").write_text(RULE_HEAD + EXCLUSION, encoding="utf-8")
    (tmp_path / "without.yaml").write_text(RULE_HEAD.replace("0b6f1d7a", "0b6f1d7b"), encoding="utf-8")
    status, out, _ = run_cli(capsys, "test", tmp_path, "--exclusions", "mail service")
    assert status == 0
    assert out.splitlines()[-1] == "1 passed, 0 failed"
    status, _, err = run_cli(capsys, "test", tmp_path / "without.yaml", "--exclusions", "mail service")
    assert status == 2
    assert "no exclusion named 'mail service'; exclusions: the rules have no exclusions" in err
