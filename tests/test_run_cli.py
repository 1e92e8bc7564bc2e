"""`rulecast run`: JSON Lines input (plain and gzip), malformed lines, --strict, output formats."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest

from translator.cli import main

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules/email/high_confidence_phish_released.yaml"
SELECTIVE = ROOT / "rules/cloudapp/mailbox_full_access_granted.yaml"

RELEASE = {"Timestamp": "2024-05-14T10:00:00Z", "ActionType": "QuarantineReleaseMessage",
           "RawEventData": {"NetworkMessageId": "m-1", "UserId": "admin@contoso.com", "ResultStatus": "Succeeded"}}
MESSAGE = {"Timestamp": "2024-05-14T09:00:00.1234567Z", "NetworkMessageId": "m-1",
           "ConfidenceLevel": '{"Phish":"High"}', "Subject": "Invoice"}


def write_lines(path: Path, lines: list[str], compress: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def inputs(tmp_path):
    cloudapp = write_lines(tmp_path / "cloudapp.jsonl", [
        json.dumps(RELEASE),
        "not json at all QuarantineReleaseMessage",
        '["an", "array", "QuarantineReleaseMessage"]',
        json.dumps({"Timestamp": "yesterday", "ActionType": "QuarantineReleaseMessage"}),
        "",
        json.dumps({**RELEASE, "Timestamp": "2024-05-14T08:00:00Z", "RawEventData": {"NetworkMessageId": "m-1", "UserId": "early@contoso.com"}}),
    ])
    email = write_lines(tmp_path / "email.jsonl.gz", [json.dumps(MESSAGE)], compress=True)
    return cloudapp, email


def test_run_jsonl_output_sorted_and_formatted(capsys, inputs):
    cloudapp, email = inputs
    status, out, err = run_cli(capsys, "run", SEED, "--table", f"CloudAppEvents={cloudapp}", "--table", f"EmailEvents={email}",
                               "-f", "jsonl")
    assert status == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["ReleasedBy"] for r in rows] == ["early@contoso.com", "admin@contoso.com"]
    assert rows[1]["ReleaseTime"] == "2024-05-14T10:00:00.0000000Z"
    assert rows[1]["EmailTime"] == "2024-05-14T09:00:00.1234567Z"
    assert rows[1]["ResultStatus"] == "Succeeded"
    assert rows[0]["ResultStatus"] is None
    assert list(rows[0])[:3] == ["ReleaseTime", "ResultStatus", "ActionType"]


def test_run_reports_malformed_lines_with_positions(capsys, inputs):
    cloudapp, email = inputs
    status, _, err = run_cli(capsys, "run", SEED, "--table", f"CloudAppEvents={cloudapp}", "--table", f"EmailEvents={email}",
                             "-f", "jsonl")
    assert status == 0
    assert f"{cloudapp}:2:1: warning: invalid JSON" in err
    assert f"{cloudapp}:3:1: warning: an event must be a JSON object, not an array" in err
    assert f"{cloudapp}:4:2: warning: Timestamp: expected a datetime" in err
    assert f"{cloudapp}: 3 malformed lines skipped" in err
    assert "Traceback" not in err


def test_run_strict_fails_without_output(capsys, inputs, tmp_path):
    cloudapp, email = inputs
    target = tmp_path / "out.csv"
    status, out, err = run_cli(capsys, "run", SEED, "--table", f"CloudAppEvents={cloudapp}", "--table", f"EmailEvents={email}",
                               "--strict", "-o", target)
    assert status == 1
    assert out == ""
    assert not target.exists()
    assert f"{cloudapp}:2:1: error: invalid JSON" in err
    assert "3 malformed lines rejected" in err


def test_run_strict_checks_lines_the_prefilter_would_skip(capsys, tmp_path):
    # The broken line does not contain the rule's literal, so only --strict parses it.
    cloudapp = write_lines(tmp_path / "c.jsonl", [json.dumps(RELEASE), '{"ActionType": "Send", "Timestamp": 5}'])
    email = write_lines(tmp_path / "e.jsonl", [json.dumps(MESSAGE)])
    args = ["run", SEED, "--table", f"CloudAppEvents={cloudapp}", "--table", f"EmailEvents={email}", "-f", "jsonl"]
    status, out, err = run_cli(capsys, *args)
    assert status == 0
    assert len(out.splitlines()) == 1
    assert "malformed" not in err
    status, out, err = run_cli(capsys, *args, "--strict")
    assert status == 1
    assert f"{cloudapp}:2:" in err


def test_run_csv_and_table(capsys, inputs, tmp_path):
    cloudapp, email = inputs
    target = tmp_path / "out.csv"
    status, _, err = run_cli(capsys, "run", SEED, "--table", f"CloudAppEvents={cloudapp}", "--table", f"EmailEvents={email}",
                             "-f", "csv", "-o", target)
    assert status == 0
    table = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert table[0][:4] == ["ReleaseTime", "ResultStatus", "ActionType", "ReleasedBy"]
    assert table[1][0] == "2024-05-14T08:00:00.0000000Z"
    assert table[1][1] == ""
    assert len(table) == 3
    status, out, _ = run_cli(capsys, "run", SEED, "--table", f"CloudAppEvents={cloudapp}", "--table", f"EmailEvents={email}")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("ReleaseTime ")
    assert lines[-1] == "(2 rows)"


def test_run_usage_errors(capsys, inputs, tmp_path):
    cloudapp, email = inputs
    cases = [
        (["--table", f"CloudAppEvents={cloudapp}"], "no input for table EmailEvents"),
        (["--table", f"CloudAppEvents={cloudapp}", "--table", f"Emails={email}"], "the rule does not read table 'Emails'"),
        (["--table", f"CloudAppEvents={tmp_path / 'nope.jsonl'}", "--table", f"EmailEvents={email}"], "file not found"),
        (["--table", "CloudAppEvents", "--table", f"EmailEvents={email}"], "invalid --table 'CloudAppEvents'"),
        (["--table", f"CloudAppEvents={cloudapp}", "--table", f"EmailEvents={email}", "--now", "soon"], "invalid datetime 'soon'"),
    ]
    for extra, message in cases:
        status, _, err = run_cli(capsys, "run", SEED, *extra)
        assert status == 2, extra
        assert message in err


def test_run_invalid_rule_exits_1(capsys, tmp_path):
    rule = tmp_path / "bad.yaml"
    rule.write_text(SELECTIVE.read_text(encoding="utf-8").replace('ActionType == "Add', 'ActionTyp == "Add'),
                    encoding="utf-8")
    status, _, err = run_cli(capsys, "run", rule, "--table", f"CloudAppEvents={rule}")
    assert status == 1
    assert f"{rule}:" in err
    assert "unknown column 'ActionTyp'" in err


def test_run_prefilter_respects_json_escapes_and_case(capsys, tmp_path):
    # Each line matches the rule, but spells the needle so that a raw byte search misses it.
    base = {"Timestamp": "2024-06-03T14:00:00Z", "RawEventData": {"ResultStatus": "Succeeded",
                                                                  "Parameters": [{"Value": "FullAccess"}]}}
    lines = [
        json.dumps({**base, "ActionType": "Add-MailboxPermission", "ReportId": "plain"}),
        json.dumps({**base, "ActionType": "Add-MailboxPermission", "ReportId": "escaped"}).replace(
            "Add-MailboxPermission", "\\u0041dd-MailboxPermission"),
        json.dumps({**base, "ActionType": "Send", "ReportId": "other"}),
    ]
    cloudapp = write_lines(tmp_path / "c.jsonl", lines)
    status, out, _ = run_cli(capsys, "run", SELECTIVE, "--table", f"CloudAppEvents={cloudapp}", "-f", "jsonl")
    assert status == 0
    assert [json.loads(line)["ReportId"] for line in out.splitlines()] == ["plain", "escaped"]


def test_run_reads_large_files_in_chunks(capsys, tmp_path, monkeypatch):
    # A small chunk size makes lines straddle chunk boundaries; line numbers must stay right.
    import translator.jsonl

    monkeypatch.setattr(translator.jsonl, "CHUNK_SIZE", 97)
    lines = [json.dumps({**RELEASE, "RawEventData": {"NetworkMessageId": "m-1", "UserId": f"u{i}@contoso.com"}})
             for i in range(50)]
    lines[37] = '{"ActionType": "QuarantineReleaseMessage", '
    cloudapp = write_lines(tmp_path / "c.jsonl", lines)
    email = write_lines(tmp_path / "e.jsonl", [json.dumps(MESSAGE)])
    for extra in ([], ["--no-prefilter"]):
        status, out, err = run_cli(capsys, "run", SEED, "--table", f"CloudAppEvents={cloudapp}", "--table",
                                   f"EmailEvents={email}", "-f", "jsonl", *extra)
        assert status == 0
        assert len(out.splitlines()) == 49
        assert f"{cloudapp}:38:" in err


def test_run_prefilter_with_dense_backslashes(capsys, tmp_path):
    # Many escaped backslashes switch the escape scan to its regex form; the
    # escaped spelling of the needle must still be found.
    base = {"Timestamp": "2024-06-03T14:00:00Z", "ObjectName": "\\\\Archive\\\\" * 5,
            "RawEventData": {"ResultStatus": "Succeeded", "Parameters": [{"Value": "FullAccess"}]}}
    lines = [json.dumps({**base, "ActionType": "Send", "ReportId": f"n{i}"}) for i in range(200)]
    lines.append(json.dumps({**base, "ActionType": "Add-MailboxPermission", "ReportId": "escaped"}).replace(
        "Add-MailboxPermission", "Add-Mailbox\\u0050ermission"))
    cloudapp = write_lines(tmp_path / "c.jsonl", lines)
    status, out, _ = run_cli(capsys, "run", SELECTIVE, "--table", f"CloudAppEvents={cloudapp}", "-f", "jsonl")
    assert status == 0
    assert [json.loads(line)["ReportId"] for line in out.splitlines()] == ["escaped"]


EXCLUDING_RULE = """\
id: 0b6f1d7a-3c2e-4f5a-9b8c-7d6e5f4a3b2d
name: Sends with an excluded service account
description: Sends; the mail service account is a known false positive.
query: |
  CloudAppEvents
  | where ActionType == "Send"
  | project Timestamp, AccountId
exclusions:
  - name: mail service
    description: The mail service sends on its own behalf.
    filter: 'AccountId:svc-mail'
"""


def test_run_applies_exclusions_unless_turned_off(capsys, tmp_path):
    rule = tmp_path / "rule.yaml"
    rule.write_text(EXCLUDING_RULE, encoding="utf-8")
    events = write_lines(tmp_path / "cloudapp.jsonl", [
        json.dumps({"Timestamp": "2024-01-01T00:00:00Z", "ActionType": "Send", "AccountId": account})
        for account in ("alice", "SVC-MAIL", "svc-mail-2")])

    def accounts(*extra: str) -> list[str]:
        status, out, err = run_cli(capsys, "run", rule, "--table", f"CloudAppEvents={events}", "-f", "jsonl", *extra)
        assert status == 0, err
        return [json.loads(line)["AccountId"] for line in out.splitlines()]

    assert accounts() == ["alice", "svc-mail-2"]
    assert accounts("--exclusions", "all") == ["alice", "svc-mail-2"]
    assert accounts("--exclusions", "mail service") == ["alice", "svc-mail-2"]
    assert accounts("--exclusions", "none") == ["alice", "SVC-MAIL", "svc-mail-2"]

    status, out, err = run_cli(capsys, "run", rule, "--table", f"CloudAppEvents={events}", "--exclusions", "mail")
    assert (status, out) == (2, "")
    assert err == "rulecast: error: --exclusions: no exclusion named 'mail'; exclusions: 'mail service'\n"


def test_run_warns_about_an_unset_placeholder(capsys, inputs):
    cloudapp, email = inputs
    status, _, err = run_cli(capsys, "run", SEED, "--table", f"CloudAppEvents={cloudapp}", "--table", f"EmailEvents={email}")
    assert status == 0
    assert "warning: exclusion 'Scheduled quarantine release by security team': placeholder " \
           "security_team_account unset" in err
    status, _, err = run_cli(capsys, "run", SEED, "--table", f"CloudAppEvents={cloudapp}", "--table", f"EmailEvents={email}",
                             "--exclusions", "none")
    assert status == 0
    assert "placeholder" not in err
