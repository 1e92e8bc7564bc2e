"""The KQL generator: exact literals, dynamic keys, parentheses, join kinds and
the Sentinel/Defender column spellings, each checked with Kusto.Language."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from backends.kql import path_step, quote_name, string_literal
from kqlcheck import assert_valid_kql, cli, write_rule
from kustocheck import schema_tables
from translator.compiler import analyze
from translator.rule import load_rule

# ---------------------------------------------------------------- string literals


@pytest.mark.parametrize("value", [
    "\\w3wp.exe", "C:\\Windows\\", "\\", "ends with quote\"", "both \" and \\", "'single'", "a\nb", "tab\there",
    "cr\rlf\n", "nul\x00", "bell\x07 vt\x0b ff\x0c esc\x1b del\x7f", "next line\x85", "nbsp\u00a0", "sep\u2028\u2029",
    "bom\ufeff", "zero width\u200b", "é ü ß 中文 עברית", "😀 🏳️‍🌈", "\U0001F600\\", "", " ", "@\"not verbatim\"",
    "{{x}}", "\\\\server\\share\\", "\\U0001F600", "\\u0041", "%s %d",
])
def test_literal_value_round_trips(kusto, value):
    literal = string_literal(value)
    assert kusto.literal_value(literal) == value, literal
    assert "\n" not in literal
    assert "\r" not in literal
    assert kusto.literal_value(string_literal(value, verbatim=False)) == value


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(["\\", '"', "'", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "\x85", "\u2028", "😀", "@", "\ufeff"]),
)))
@example("\\")
@example("abc\\")
@example('\\"')
def test_any_string_literal_parses_to_its_value(kusto, value):
    assert kusto.literal_value(string_literal(value)) == value
    assert kusto.literal_value(string_literal(value, verbatim=False)) == value


def test_backslash_values_read_like_the_rule():
    assert string_literal("\\w3wp.exe") == '@"\\w3wp.exe"'
    assert string_literal("C:\\Temp\\") == '@"C:\\Temp\\"'
    assert string_literal('a"\\') == '"a\\"\\\\"'  # a quote rules out the verbatim form
    assert string_literal("\x01") == '"\\u0001"'
    assert string_literal("\U0001F600\x00") == '"\U0001F600\\u0000"'
    assert string_literal("\U000E0001") == '"\\udb40\\udc01"'  # unprintable above U+FFFF: a surrogate pair


# ---------------------------------------------------------------- whole rules


def compile_query(capsys, path, target: str) -> str:
    status, out, err = cli(capsys, "compile", path, "-t", target)
    assert status == 0, err
    return out


def test_endswith_backslash_value(tmp_path, capsys, kusto):
    path = write_rule(tmp_path, r'''
DeviceProcessEvents
| where FolderPath endswith "\\w3wp.exe" or FolderPath endswith @"C:\inetpub\"
| project Timestamp, DeviceName, FolderPath
''')
    for target in ("defender", "sentinel"):
        text = compile_query(capsys, path, target)
        assert 'FolderPath endswith @"\\w3wp.exe"' in text
        assert 'FolderPath endswith @"C:\\inetpub\\"' in text
        assert_valid_kql(kusto, text, target, analyze(load_rule(path), target).columns)
        literals = re.findall(r'@"[^"]*"', text)
        assert [kusto.literal_value(lit) for lit in literals] == ["\\w3wp.exe", "C:\\inetpub\\"]


def test_quotes_newlines_and_unicode_in_a_rule(tmp_path, capsys, kusto):
    path = write_rule(tmp_path, r'''
EmailEvents
| where Subject == "say \"hi\"\n\tnow" or Subject has 'it''s' or Subject contains "😀\u00a0é\\"
| project Subject
''')
    for target in ("defender", "sentinel"):
        text = compile_query(capsys, path, target)
        assert 'Subject == "say \\"hi\\"\\n\\tnow"' in text
        assert '"😀\\u00a0é\\\\"' in text
        assert_valid_kql(kusto, text, target, analyze(load_rule(path), target).columns)


def test_timestamp_is_written_per_target(tmp_path, capsys, kusto):
    path = write_rule(tmp_path, """
DeviceProcessEvents
| where Timestamp > ago(1d)
| project Timestamp, DeviceName
| sort by Timestamp desc
""")
    sentinel = compile_query(capsys, path, "sentinel")
    defender = compile_query(capsys, path, "defender")
    assert "Timestamp" not in sentinel
    assert sentinel.count("TimeGenerated") == 3
    assert "TimeGenerated" not in defender
    assert defender.count("Timestamp") == 3
    assert_valid_kql(kusto, sentinel, "sentinel", analyze(load_rule(path), "sentinel").columns)
    assert_valid_kql(kusto, defender, "defender", analyze(load_rule(path), "defender").columns)


def test_column_only_in_defender_fails_for_sentinel(tmp_path, capsys):
    path = write_rule(tmp_path, """
CloudAppEvents
| where Isp == "Contoso"
""")
    status, out, err = cli(capsys, "compile", path, "-t", "sentinel")
    assert status == 1 and out == ""
    lines = err.splitlines()
    assert lines[0] == (f"{path}:6:11: error: sentinel: unknown column 'Isp': the sentinel schema has no such "
                        "column, only the defender schema (CloudAppEvents)")
    assert lines[-1] == "  hint: did you mean 'ISP'? (names are case-sensitive)"
    assert "Traceback" not in err
    assert cli(capsys, "compile", path, "-t", "defender")[0] == 0


def test_column_only_in_sentinel_fails_for_defender(tmp_path, capsys):
    path = write_rule(tmp_path, """
EmailEvents
| project TimeGenerated, TenantId
""")
    status, _, err = cli(capsys, "compile", path, "-t", "defender")
    assert status == 1
    first = err.splitlines()[0]
    assert first.startswith(f"{path}:6:13: error: defender: unknown column 'TimeGenerated': the defender schema "
                            "has no such column, only the sentinel schema (")
    assert "hint: write 'Timestamp', which each target spells as its schema does" in err
    assert cli(capsys, "compile", path, "-t", "sentinel")[0] == 0


def test_dynamic_keys_are_single_bracketed_steps(tmp_path, capsys, kusto):
    path = write_rule(tmp_path, """
CloudAppEvents
| extend Container = tostring(RawEventData["k8s.container.name"]), Code = tostring(RawEventData["18"]),
    First = tostring(RawEventData.Parameters[0].Value), Spaced = tostring(RawEventData["a key"]),
    Keyword = tostring(RawEventData["where"])
| project Container, Code, First, Spaced, Keyword
""")
    for target in ("defender", "sentinel"):
        text = compile_query(capsys, path, target)
        assert 'RawEventData["k8s.container.name"]' in text
        assert 'RawEventData["18"]' in text
        assert "RawEventData.Parameters[0].Value" in text
        assert 'RawEventData["a key"]' in text
        assert 'RawEventData["where"]' in text
        assert_valid_kql(kusto, text, target, analyze(load_rule(path), target).columns)
    assert path_step("k8s.container.name") == '["k8s.container.name"]'
    assert path_step("18") == '["18"]'
    assert path_step(18) == "[18]"
    assert quote_name("Column with space") == '["Column with space"]'


def test_precedence_is_explicit(tmp_path, capsys, kusto):
    path = write_rule(tmp_path, """
DeviceProcessEvents
| where (ProcessId == 1 or ProcessId == 2) and FileName == "a"
| where ProcessId == 3 or (FileName == "b" and not(FolderPath has "x"))
| extend Total = (ProcessId + 1) * 2, Minus = ProcessId - (1 - 2), Neg = -ProcessId
| project Total, Minus, Neg
""")
    text = compile_query(capsys, path, "defender")
    assert '| where (ProcessId == 1 or ProcessId == 2) and FileName == "a"' in text
    assert '| where ProcessId == 3 or (FileName == "b" and not(FolderPath has "x"))' in text
    assert "Total = (ProcessId + 1) * 2" in text
    assert "Minus = ProcessId - (1 - 2)" in text
    assert_valid_kql(kusto, text, "defender", analyze(load_rule(path), "defender").columns)


def test_bare_join_gets_an_explicit_kind_and_a_warning(tmp_path, capsys, kusto):
    path = write_rule(tmp_path, """
EmailEvents
| project NetworkMessageId, Subject
| join (EmailEvents | project NetworkMessageId, RecipientEmailAddress) on NetworkMessageId
""")
    for target in ("defender", "sentinel"):
        status, out, err = cli(capsys, "compile", path, "-t", target)
        assert status == 0, err
        assert "| join kind=innerunique (" in out
        assert f"{path}:7:5: warning: join without kind= uses innerunique" in err
        checked = kusto.analyze(out, schema_tables(target), lint=True)
        assert checked.errors == () and "KS508" not in [d.code for d in checked.lint], checked.report()


def test_every_join_kind_is_written_out(tmp_path, capsys, kusto):
    for kind in ("inner", "innerunique", "leftouter", "rightouter", "fullouter", "leftsemi", "rightsemi", "leftanti",
                 "rightanti"):
        path = write_rule(tmp_path, f"""
EmailEvents
| project NetworkMessageId, Subject
| join kind={kind} (EmailEvents | project NetworkMessageId, RecipientEmailAddress) on NetworkMessageId
""")
        text = compile_query(capsys, path, "sentinel")
        assert f"| join kind={kind} (" in text
        assert_valid_kql(kusto, text, "sentinel", analyze(load_rule(path), "sentinel").columns)


def test_one_pipe_stage_per_line(tmp_path, capsys):
    path = write_rule(tmp_path, """
EmailEvents | where Subject has "x" | project NetworkMessageId, Subject | join kind=leftouter (EmailEvents
| where DeliveryAction == "Blocked" | project NetworkMessageId, ReportId) on NetworkMessageId | take 10
""")
    text = compile_query(capsys, path, "defender")
    assert text == """\
EmailEvents
| where Subject has "x"
| project NetworkMessageId, Subject
| join kind=leftouter (
    EmailEvents
    | where DeliveryAction == "Blocked"
    | project NetworkMessageId, ReportId
    ) on NetworkMessageId
| take 10
"""
