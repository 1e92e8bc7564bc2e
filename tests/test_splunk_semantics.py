"""The Splunk target's SPL, run by the reference interpreter, against hand-worked results.

Every expected value here is worked out from the rule language's semantics
(docs/query-language, kql-semantics.md), not from running another target. The
tests of edges where the SPL once disagreed with the rule language (NaN, null
join keys, dynamic values) also check that the Python target returns the same
rows, on the equivalence tests' catalog.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).with_name("spl")))

from backends import CompileSettings  # noqa: E402
from backends.splunk import TARGETS  # noqa: E402
import equivalence as eq  # noqa: E402
from backends.splunk_spl import SplGenerator  # noqa: E402
from harness import compile_spl, normalize_rows, rule_for, rule_inputs, run_query, run_spl  # noqa: E402
from translator.compiler import analyze  # noqa: E402
from translator.diagnostics import RulecastError  # noqa: E402
from translator.exclusions import apply_exclusions  # noqa: E402
from translator.rule import load_rule  # noqa: E402
from translator.types import Type  # noqa: E402
from translator.values import parse_datetime, parse_timespan_text  # noqa: E402

SEED = Path(__file__).resolve().parents[1] / "rules" / "email" / "high_confidence_phish_released.yaml"


def names(rows, column="FileName"):
    return [row[column] for row in rows]


# ---------------------------------------------------------------- case modes and escaping

WORD_PATHS = [
    {"FileName": "a", "FolderPath": "C:\\Program Files\\Office\\WINWORD.EXE"},
    {"FileName": "b", "FolderPath": "C:\\Users\\x\\winword.exe"},
    {"FileName": "c", "FolderPath": "C:\\Users\\x\\notwinword.exe"},
    {"FileName": "d", "FolderPath": "C:\\Tools\\winword.exe.bak"},
]


def test_endswith_backslash_ignores_case():
    query = """
        DeviceProcessEvents
        | extend ParentImage = FolderPath
        | where ParentImage endswith @"\\winword.exe"
        | project FileName, ParentImage
    """
    spl = compile_spl(rule_for(query))
    assert '"\\\\winword.exe"' in spl  # one backslash in the rule, two in the SPL string
    rows = run_spl(spl, {"DeviceProcessEvents": WORD_PATHS})
    assert names(rows) == ["a", "b"]
    assert rows[0]["ParentImage"] == "C:\\Program Files\\Office\\WINWORD.EXE"


def test_endswith_cs_keeps_case():
    query = """
        DeviceProcessEvents
        | extend ParentImage = FolderPath
        | where ParentImage endswith_cs @"\\winword.exe"
        | project FileName
    """
    assert names(run_query(query, {"DeviceProcessEvents": WORD_PATHS})) == ["b"]


ACCOUNTS = [
    {"FileName": "lower", "AccountName": "admin"},
    {"FileName": "exact", "AccountName": "Admin"},
    {"FileName": "upper", "AccountName": "ADMIN"},
    {"FileName": "other", "AccountName": "Administrator"},
]


def test_equals_is_case_sensitive():
    query = 'DeviceProcessEvents | where AccountName == "Admin" | project FileName'
    spl = compile_spl(rule_for(query))
    # The base search may carry the value as a case-insensitive prefilter; the exact test is in where.
    assert 'properties.AccountName="Admin"' in spl.splitlines()[0]
    assert 'where AccountName=="Admin"' in spl
    assert names(run_spl(spl, {"DeviceProcessEvents": ACCOUNTS})) == ["exact"]


def test_tilde_equals_ignores_case():
    query = 'DeviceProcessEvents | where AccountName =~ "Admin" | project FileName'
    assert names(run_query(query, {"DeviceProcessEvents": ACCOUNTS})) == ["lower", "exact", "upper"]


def test_in_tilde_and_in():
    events = {"DeviceProcessEvents": ACCOUNTS}
    assert names(run_query('DeviceProcessEvents | where AccountName in~ ("ADMIN", "x") | project FileName',
                           events)) == ["lower", "exact", "upper"]
    assert names(run_query('DeviceProcessEvents | where AccountName in ("ADMIN", "x") | project FileName',
                           events)) == ["upper"]
    assert names(run_query('DeviceProcessEvents | where AccountName !in ("ADMIN", "x") | project FileName',
                           events)) == ["lower", "exact", "other"]


def test_literal_star_and_quote():
    events = {"DeviceProcessEvents": [
        {"FileName": "star", "ProcessCommandLine": 'run "a*b" now'},
        {"FileName": "plain", "ProcessCommandLine": 'run "axxb" now'},
    ]}
    query = 'DeviceProcessEvents | where ProcessCommandLine contains "\\"a*b\\"" | project FileName'
    assert names(run_query(query, events)) == ["star"]


# ---------------------------------------------------------------- missing fields and null

MISSING = [
    {"FileName": "missing"},
    {"FileName": "is_a", "AccountName": "a", "ProcessId": 5},
    {"FileName": "is_b", "AccountName": "b", "ProcessId": 6},
]


@pytest.mark.parametrize("predicate", ['AccountName != "a"', 'not(AccountName == "a")'])
def test_missing_string_is_empty(predicate):
    query = f"DeviceProcessEvents | where {predicate} | project FileName"
    # A missing string column is "", which is not "a": both forms keep the event.
    assert names(run_query(query, {"DeviceProcessEvents": MISSING})) == ["missing", "is_b"]


@pytest.mark.parametrize("predicate, expected", [
    ("ProcessId != 5", ["missing", "is_b"]),       # null != 5 is true
    ("not(ProcessId == 5)", ["missing", "is_b"]),  # null == 5 is false, so not() is true
    ("ProcessId == 5", ["is_a"]),
    ("not(ProcessId != 5)", ["is_a"]),
    ("ProcessId > 5", ["is_b"]),                   # null > 5 is null: dropped
    ("not(ProcessId > 5)", ["is_a"]),              # not(null) is null: dropped too
    ("isnull(ProcessId)", ["missing"]),
    ('isempty(AccountName)', ["missing"]),
])
def test_null_number_comparisons(predicate, expected):
    query = f"DeviceProcessEvents | where {predicate} | project FileName"
    assert names(run_query(query, {"DeviceProcessEvents": MISSING})) == expected


# ---------------------------------------------------------------- and / or grouping

GRID = [
    {"FileName": "ax", "AccountName": "a", "DeviceName": "x"},
    {"FileName": "ay", "AccountName": "a", "DeviceName": "y"},
    {"FileName": "by", "AccountName": "b", "DeviceName": "y"},
    {"FileName": "bx", "AccountName": "b", "DeviceName": "x"},
    {"FileName": "cx", "AccountName": "c", "DeviceName": "x"},
]


def test_or_of_ands():
    query = """
        DeviceProcessEvents
        | where (AccountName == "a" and DeviceName == "x") or (AccountName == "b" and DeviceName == "y")
        | project FileName
    """
    spl = compile_spl(rule_for(query))
    assert '((AccountName=="a" AND DeviceName=="x") OR (AccountName=="b" AND DeviceName=="y"))' in spl
    assert names(run_spl(spl, {"DeviceProcessEvents": GRID})) == ["ax", "by"]


def test_and_of_ors():
    query = """
        DeviceProcessEvents
        | where (AccountName == "a" or AccountName == "b") and (DeviceName == "x" or DeviceName == "z")
        | project FileName
    """
    spl = compile_spl(rule_for(query))
    assert '((AccountName=="a" OR AccountName=="b") AND (DeviceName=="x" OR DeviceName=="z"))' in spl
    assert names(run_spl(spl, {"DeviceProcessEvents": GRID})) == ["ax", "bx"]


def test_not_of_an_or():
    query = 'DeviceProcessEvents | where not(AccountName == "a" or DeviceName == "y") | project FileName'
    assert names(run_query(query, {"DeviceProcessEvents": GRID})) == ["bx", "cx"]


# ---------------------------------------------------------------- has and contains

COMMAND_LINES = [
    {"FileName": "joined", "ProcessCommandLine": "Kusto: ad67d136-c1db;KustoExplorerQueryRun"},
    {"FileName": "term", "ProcessCommandLine": "Kusto: ad67d136;Explorer run"},
    {"FileName": "lower", "ProcessCommandLine": "explorer.exe /e"},
    {"FileName": "underscore", "ProcessCommandLine": "my_explorer_tool"},
]


def test_has_matches_whole_terms_only():
    query = 'DeviceProcessEvents | where ProcessCommandLine has "Explorer" | project FileName'
    # `_` separates terms; "KustoExplorerQueryRun" is one term.
    assert names(run_query(query, {"DeviceProcessEvents": COMMAND_LINES})) == ["term", "lower", "underscore"]


def test_contains_matches_substrings():
    query = 'DeviceProcessEvents | where ProcessCommandLine contains "Explorer" | project FileName'
    assert names(run_query(query, {"DeviceProcessEvents": COMMAND_LINES})) == ["joined", "term", "lower", "underscore"]


def test_has_phrase_edge_rule():
    events = {"DeviceProcessEvents": [
        {"FileName": "edge", "ProcessCommandLine": "a.b.c"},
        {"FileName": "inside", "ProcessCommandLine": "xa.b"},
    ]}
    query = 'DeviceProcessEvents | where ProcessCommandLine has "a.b" | project FileName'
    assert names(run_query(query, events)) == ["edge"]


def test_has_any():
    query = 'DeviceProcessEvents | where ProcessCommandLine has_any ("explorer", "ad67d136") | project FileName'
    assert names(run_query(query, {"DeviceProcessEvents": COMMAND_LINES})) == ["joined", "term", "lower", "underscore"]


def test_regex_dollar_ends_text():
    events = {"DeviceProcessEvents": [
        {"FileName": "end", "ProcessCommandLine": "run.exe"},
        {"FileName": "newline", "ProcessCommandLine": "run.exe\n"},
    ]}
    query = 'DeviceProcessEvents | where ProcessCommandLine matches regex @"\\.exe$" | project FileName'
    spl = compile_spl(rule_for(query))
    assert "\\\\z" in spl
    assert names(run_spl(spl, events)) == ["end"]


# ---------------------------------------------------------------- sort

def test_sort_all_rows_by_time():
    # 25,000 timestamps in known order, across a year boundary and with uneven
    # fractions, so that neither the 10,000-row default nor text order would pass.
    ordered = []
    for i in range(25_000):
        year = 2023 if i < 12_500 else 2024
        day = 1 + (i % 12_500) // 500
        second = (i % 500) // 10
        fraction = ["", ".0625", ".125", ".25", ".5", ".9", ".95", ".99", ".999", ".9999999"][i % 10]
        ordered.append(f"{year}-01-{day:02d}T00:00:{second:02d}{fraction}Z")
    assert sorted(ordered) != ordered  # text order is not time order here
    events = [{"FileName": str(i), "Timestamp": stamp} for i, stamp in enumerate(ordered)]
    random.Random(7).shuffle(events)
    events.append({"FileName": "no-time"})
    query = "DeviceProcessEvents | project FileName, Timestamp | sort by Timestamp asc"
    spl = compile_spl(rule_for(query))
    assert "| sort 0 " in spl
    rows = run_spl(spl, {"DeviceProcessEvents": events})
    # Ascending puts the null first.
    assert names(rows) == ["no-time"] + [str(i) for i in range(25_000)]


def test_sort_numbers_descending():
    events = {"DeviceProcessEvents": [
        {"FileName": "nine", "FileSize": 9}, {"FileName": "none"},
        {"FileName": "hundred", "FileSize": 100}, {"FileName": "ten", "FileSize": 10},
    ]}
    query = "DeviceProcessEvents | project FileName, FileSize | sort by FileSize desc"
    assert names(run_query(query, events)) == ["hundred", "ten", "nine", "none"]
    query = "DeviceProcessEvents | project FileName, FileSize | sort by FileSize desc nulls first"
    assert names(run_query(query, events)) == ["none", "hundred", "ten", "nine"]


def test_take_after_sort():
    events = {"DeviceProcessEvents": [{"FileName": f"f{i}", "FileSize": i} for i in range(10)]}
    query = "DeviceProcessEvents | top 3 by FileSize desc | project FileName"
    assert names(run_query(query, events)) == ["f9", "f8", "f7"]


# ---------------------------------------------------------------- dynamic paths

def test_paths_into_dynamic_and_todynamic():
    events = {"CloudAppEvents": [
        {"ActionType": "a", "RawEventData": {"Items": [{"Name": "first"}, {"Name": "second"}], "n": {"0": "zero"}}},
        {"ActionType": "b", "RawEventData": {"Items": []}},
    ]}
    query = """
        CloudAppEvents
        | project ActionType, Second = tostring(RawEventData.Items[1].Name), Zero = tostring(RawEventData.n["0"])
    """
    rows = run_query(query, events)
    assert [(r["ActionType"], r["Second"], r["Zero"]) for r in rows] == [("a", "second", "zero"), ("b", "", "")]


def test_dotted_key_is_rejected():
    rule = rule_for('CloudAppEvents | project X = tostring(RawEventData["a.b"])')
    with pytest.raises(RulecastError) as info:
        compile_spl(rule)
    message = info.value.diagnostics[0].render()
    assert "cannot express the key 'a.b'" in message
    assert message.startswith("<probe>:5:")


# ---------------------------------------------------------------- joins

EMAILS = [
    {"NetworkMessageId": "m1", "Subject": "s1"},
    {"NetworkMessageId": "m2", "Subject": "s2"},
    {"NetworkMessageId": "m3", "Subject": "s3"},
]
RELEASES = [
    {"ActionType": "u1", "RawEventData": {"NetworkMessageId": "m1"}},
    {"ActionType": "u2", "RawEventData": {"NetworkMessageId": "m1"}},
    {"ActionType": "u3", "RawEventData": {"NetworkMessageId": "m3"}},
    {"ActionType": "u9", "RawEventData": {"NetworkMessageId": "m9"}},
]
JOIN = """
    EmailEvents
    | project NetworkMessageId, Subject
    | join kind={kind} (
        CloudAppEvents
        | project NetworkMessageId = tostring(RawEventData.NetworkMessageId), ActionType
    ) on NetworkMessageId
"""


def join_rows(kind, emails=EMAILS, join="join"):
    rows = run_query(JOIN.format(kind=kind), {"EmailEvents": emails, "CloudAppEvents": RELEASES}, join)
    return sorted(tuple(row.values()) for row in rows), (list(rows[0]) if rows else [])


def test_inner_join_all_pairs():
    rows, columns = join_rows("inner")
    assert columns == ["NetworkMessageId", "Subject", "NetworkMessageId1", "ActionType"]
    assert rows == [("m1", "s1", "m1", "u1"), ("m1", "s1", "m1", "u2"), ("m3", "s3", "m3", "u3")]


def test_leftouter_pads_empty_strings():
    rows, _ = join_rows("leftouter")
    assert rows == [("m1", "s1", "m1", "u1"), ("m1", "s1", "m1", "u2"), ("m2", "s2", "", ""),
                    ("m3", "s3", "m3", "u3")]


def test_semi_and_anti_joins():
    assert join_rows("leftsemi")[0] == [("m1", "s1"), ("m3", "s3")]
    assert join_rows("leftanti")[0] == [("m2", "s2")]
    assert join_rows("rightsemi")[0] == [("m1", "u1"), ("m1", "u2"), ("m3", "u3")]
    assert join_rows("rightanti")[0] == [("m9", "u9")]


def test_rightouter_keeps_right_rows():
    rows, columns = join_rows("rightouter")
    assert columns == ["NetworkMessageId", "Subject", "NetworkMessageId1", "ActionType"]
    assert rows == [("", "", "m9", "u9"), ("m1", "s1", "m1", "u1"), ("m1", "s1", "m1", "u2"), ("m3", "s3", "m3", "u3")]


def test_innerunique_one_left_row():
    emails = EMAILS + [{"NetworkMessageId": "m1", "Subject": "s1-again"}]
    rows, _ = join_rows("innerunique", emails=emails)
    m1 = [r for r in rows if r[0] == "m1"]
    assert len(m1) == 2 and len({r[1] for r in m1}) == 1 and m1[0][1] in ("s1", "s1-again")
    assert [r for r in rows if r[0] != "m1"] == [("m3", "s3", "m3", "u3")]


STATS_JOIN = """
    CloudAppEvents
    | project NetworkMessageId = tostring(RawEventData.NetworkMessageId), ActionType
    | join kind={kind} (EmailEvents | project NetworkMessageId, Subject) on NetworkMessageId
"""


@pytest.mark.parametrize("kind, expected", [
    ("inner", [("m1", "u1", "m1", "s1"), ("m1", "u2", "m1", "s1"), ("m3", "u3", "m3", "s3")]),
    ("leftouter", [("m1", "u1", "m1", "s1"), ("m1", "u2", "m1", "s1"), ("m3", "u3", "m3", "s3"),
                   ("m9", "u9", "", "")]),
])
def test_stats_join_unique_right(kind, expected):
    events = {"EmailEvents": EMAILS, "CloudAppEvents": RELEASES}
    rows = run_query(STATS_JOIN.format(kind=kind), events, join="stats")
    assert sorted(tuple(r.values()) for r in rows) == expected
    # The join command gives the same rows.
    rows = run_query(STATS_JOIN.format(kind=kind), events)
    assert sorted(tuple(r.values()) for r in rows) == expected


def test_stats_join_repeated_key():
    # The documented limit: a repeated right key folds its rows into multivalue fields.
    rows, _ = join_rows("inner", join="stats")
    assert ("m1", "s1", "m1", ["u1", "u2"]) in rows


def test_fullouter_keeps_both_sides():
    rows, columns = join_rows("fullouter")
    assert columns == ["NetworkMessageId", "Subject", "NetworkMessageId1", "ActionType"]
    # m2 has no release and m9 no message: each comes once, its other side padded with "".
    assert rows == [("", "", "m9", "u9"), ("m1", "s1", "m1", "u1"), ("m1", "s1", "m1", "u2"), ("m2", "s2", "", ""),
                    ("m3", "s3", "m3", "u3")]


def test_fullouter_states_limits():
    spl = compile_spl(rule_for(JOIN.format(kind="fullouter")))
    assert "| append [" in spl
    assert "append reads at most 50,000 rows" in spl


# ---------------------------------------------------------------- summarize and distinct

def test_count_of_nothing_is_zero():
    query = 'EmailEvents | where Subject == "never" | summarize n = count(), s = sum(UrlCount)'
    rows = run_query(query, {"EmailEvents": EMAILS})
    assert rows == [{"n": 0, "s": 0}]


def test_summarize_by_key():
    events = {"EmailEvents": [
        {"SenderFromAddress": "a", "UrlCount": 2}, {"SenderFromAddress": "b", "UrlCount": 5},
        {"SenderFromAddress": "a"}, {"SenderFromAddress": "a", "UrlCount": 3},
    ]}
    query = "EmailEvents | summarize n = count(), s = sum(UrlCount), m = max(UrlCount) by SenderFromAddress"
    rows = run_query(query, events)
    assert sorted((r["SenderFromAddress"], r["n"], float(r["s"]), float(r["m"])) for r in rows) == [
        ("a", 3, 5.0, 3.0), ("b", 1, 5.0, 5.0)]


def test_distinct():
    query = "DeviceProcessEvents | distinct AccountName"
    rows = run_query(query, {"DeviceProcessEvents": GRID})
    assert sorted(r["AccountName"] for r in rows) == ["a", "b", "c"]


# ---------------------------------------------------------------- the seed rule

def seed_cases():
    rule = load_rule(SEED)
    return [pytest.param(rule, case, id=case.name) for case in rule.tests]


@pytest.mark.parametrize("join", ["join", "stats"])
@pytest.mark.parametrize("rule, case", seed_cases())
def test_seed_rule_tests(rule, case, join):
    # The rule's tests expect its enabled exclusions applied, as `rulecast test` applies them.
    analysis = analyze(rule, "defender")
    analysis.node = apply_exclusions(analysis, "all")
    columns = analysis.columns
    spl = TARGETS["splunk"].search(analysis, CompileSettings(splunk_join=join))
    rows = run_spl(spl, rule_inputs(rule, case))
    if "count" in case.expect:
        assert len(rows) == case.expect["count"]
    if "rows" in case.expect:
        assert list(rows[0]) == [c.name for c in columns] if rows else True
        # The seed sorts by ReleaseTime, so the rows are compared in order.
        assert normalize_rows(rows, columns) == normalize_rows(case.expect["rows"], columns)


# ---------------------------------------------------------------- make_set, make_list, arg_max, arg_min

SIZES = [
    {"DeviceName": "d1", "FileName": "c", "AccountName": "x", "FileSize": 5},
    {"DeviceName": "d1", "FileName": "a", "AccountName": 'q"uote', "FileSize": 9},
    {"DeviceName": "d1", "FileName": "b", "AccountName": "x"},
    {"DeviceName": "d2", "FileName": "d", "AccountName": "back\\slash\nline"},
    {"DeviceName": "d3", "FileName": "e"},
]


def by_device(rows, column):
    return {row["DeviceName"]: row[column] for row in rows}


def test_make_set_skips_nulls():
    query = "DeviceProcessEvents | summarize s = make_set(FileSize), a = make_set(AccountName) by DeviceName"
    rows = run_query(query, {"DeviceProcessEvents": SIZES})
    sets = {d: sorted(json.loads(v)) for d, v in by_device(rows, "s").items()}
    assert sets == {"d1": [5, 9], "d2": [], "d3": []}
    names_ = {d: sorted(json.loads(v)) for d, v in by_device(rows, "a").items()}
    # A missing string column is "", which is a value, not a null.
    assert names_ == {"d1": ['q"uote', "x"], "d2": ["back\\slash\nline"], "d3": [""]}


def test_make_list_follows_sort_order():
    query = """
        DeviceProcessEvents
        | sort by FileName asc
        | summarize l = make_list(AccountName), n = make_list(FileSize) by DeviceName
    """
    rows = run_query(query, {"DeviceProcessEvents": SIZES})
    assert json.loads(by_device(rows, "l")["d1"]) == ['q"uote', "x", "x"]  # files a, b, c
    assert json.loads(by_device(rows, "n")["d1"]) == [9, 5]


def test_make_list_keeps_more_than_100_values():
    events = [{"DeviceName": "d", "FileName": f"f{i:03d}", "ProcessId": i} for i in range(150)]
    query = "DeviceProcessEvents | sort by FileName desc | summarize l = make_list(ProcessId), s = make_set(ProcessId, 3)"
    [row] = run_query(query, {"DeviceProcessEvents": events})
    assert json.loads(row["l"]) == list(range(149, -1, -1))
    assert len(json.loads(row["s"])) == 3


def test_make_set_of_nothing_is_empty_array():
    query = 'DeviceProcessEvents | where FileName == "none" | summarize s = make_set(FileName), l = make_list(FileName)'
    assert run_query(query, {"DeviceProcessEvents": SIZES}) == [{"s": "[]", "l": "[]"}]


def test_arg_max_picks_the_row():
    query = "DeviceProcessEvents | summarize arg_max(FileSize, FileName, AccountName) by DeviceName"
    rows = run_query(query, {"DeviceProcessEvents": SIZES})
    picked = {r["DeviceName"]: (r["FileSize"], r["FileName"], r["AccountName"]) for r in rows}
    # Null sizes are ignored unless the whole group is null; then one of its rows comes back.
    assert picked == {"d1": ("9", "a", 'q"uote'), "d2": (None, "d", "back\\slash\nline"), "d3": (None, "e", "")}


def test_arg_min_ties_are_deterministic():
    events = [
        {"DeviceName": "d", "FileName": "first", "Timestamp": "2024-05-01T00:00:00Z"},
        {"DeviceName": "d", "FileName": "second", "Timestamp": "2024-05-01T00:00:00.0000000Z"},
        {"DeviceName": "d", "FileName": "later", "Timestamp": "2024-05-02T00:00:00Z"},
    ]
    query = "DeviceProcessEvents | summarize arg_min(Timestamp, FileName) by DeviceName"
    first = run_query(query, {"DeviceProcessEvents": events})
    assert [r["FileName"] for r in first] in (["first"], ["second"])
    assert run_query(query, {"DeviceProcessEvents": events}) == first


def test_arg_max_of_strings_is_not_numeric():
    events = [{"DeviceName": "d", "FileName": "10"}, {"DeviceName": "d", "FileName": "9"}]
    query = "DeviceProcessEvents | summarize arg_max(FileName, DeviceName)"
    # Strings order by code point, so "9" > "10".
    assert [r["FileName"] for r in run_query(query, {"DeviceProcessEvents": events})] == ["9"]


def test_min_and_max_of_datetimes():
    events = [{"DeviceName": "d", "Timestamp": t} for t in
              ("2024-05-01T10:00:00.5Z", "2024-05-01T10:00:00.25Z", "2024-05-01T09:00:00Z")]
    rows = run_query("DeviceProcessEvents | summarize lo = min(Timestamp), hi = max(Timestamp)",
                     {"DeviceProcessEvents": events})
    assert rows == [{"lo": "2024-05-01T09:00:00.0000000Z", "hi": "2024-05-01T10:00:00.5000000Z"}]


# ---------------------------------------------------------------- keys that can be null

def test_summarize_groups_null_keys():
    query = "DeviceProcessEvents | summarize n = count() by FileSize"
    events = SIZES + [{"FileName": "f", "FileSize": 5}]
    rows = run_query(query, {"DeviceProcessEvents": events})
    assert sorted(((r["FileSize"] or ""), r["n"]) for r in rows) == [("", 3), ("5", 2), ("9", 1)]


def test_distinct_keeps_one_null_row():
    rows = run_query("DeviceProcessEvents | distinct FileSize", {"DeviceProcessEvents": SIZES})
    assert sorted(r["FileSize"] or "" for r in rows) == ["", "5", "9"]


# ---------------------------------------------------------------- computed needles

NEEDLES = [
    {"FileName": "contains", "ProcessCommandLine": "run A.B now", "AccountName": "a.b"},
    {"FileName": "dot-is-literal", "ProcessCommandLine": "run axb now", "AccountName": "a.b"},
    {"FileName": "term", "ProcessCommandLine": "KustoExplorer", "AccountName": "Explorer"},
    {"FileName": "empty", "ProcessCommandLine": "anything", "AccountName": ""},
]


@pytest.mark.parametrize("operator, expected", [
    ("contains", ["contains", "term", "empty"]),
    ("contains_cs", ["term", "empty"]),
    ("has", ["contains", "empty"]),
    ("startswith", ["empty"]),
    ("endswith", ["term", "empty"]),
    ("!contains", ["dot-is-literal"]),
])
def test_computed_needle(operator, expected):
    query = f"DeviceProcessEvents | where ProcessCommandLine {operator} AccountName | project FileName"
    assert names(run_query(query, {"DeviceProcessEvents": NEEDLES})) == expected


def test_computed_prefix_and_suffix():
    events = [{"FileName": "both", "ProcessCommandLine": "C:\\Tools\\x.exe", "AccountName": "c:\\tools"},
              {"FileName": "suffix", "ProcessCommandLine": "x.EXE", "AccountName": ".exe"}]
    query = "DeviceProcessEvents | where ProcessCommandLine startswith AccountName | project FileName"
    assert names(run_query(query, {"DeviceProcessEvents": events})) == ["both"]
    query = "DeviceProcessEvents | where ProcessCommandLine endswith AccountName | project FileName"
    assert names(run_query(query, {"DeviceProcessEvents": events})) == ["suffix"]


def test_bin_of_real_by_zero_cannot_be_expressed():
    with pytest.raises(RulecastError) as info:
        compile_spl(rule_for("DeviceProcessEvents | project b = bin(FileSize * 1.5, 0.0)"))
    message = info.value.diagnostics[0].render()
    assert "the splunk target cannot express bin() of a real by 0: the result is NaN" in message
    assert message.startswith("<probe>:5:")


# ---------------------------------------------------------------- edges checked against the Python target


def both_targets(query, events, join="join"):
    """Run `query` on the Python target and as SPL over the equivalence catalog; return both rows in one view."""
    events = {"Process": [], "Account": [], **events}
    compiled = eq.compile_query(query)
    columns = compiled.node.columns
    python = [tuple(eq.splunk_view(v, c.type) for v, c in zip(row, columns)) for row in eq.run_python(compiled, events)]
    spl = SplGenerator(eq.splunk_mapping(), join_mode=join).generate(compiled.node)
    rows = run_spl(spl, eq.splunk_events(events))
    return python, [tuple(splunk_value(row.get(c.name), c.type) for c in columns) for row in rows]


def splunk_value(value, type_):
    """An SPL output value in the equivalence view; timespans, which the SPL prints, as ticks."""
    if type_ is Type.TIMESPAN and isinstance(value, str):
        return parse_timespan_text(value)
    return eq.splunk_view(value, type_, from_splunk=True)


SCORES = {"Process": [
    {"Id": 1, "Key": "k1", "Score": 1.5}, {"Id": 2, "Key": "k1", "Score": 2.5}, {"Id": 3, "Key": "k2"},
]}


def test_avg_of_no_values_is_nan():
    python, splunk = both_targets("Process | summarize A = avg(Score), B = avg(Num) by Key", SCORES)
    assert sorted(splunk) == [("k1", 2.0, "NaN"), ("k2", "NaN", "NaN")]
    assert sorted(python) == sorted(splunk)
    python, splunk = both_targets("Process | where Id > 9 | summarize A = avg(Score)", SCORES)
    assert splunk == [("NaN",)]
    assert python == splunk


@pytest.mark.parametrize("predicate, expected", [
    ("A > 1.0", ["k1"]),
    ("not(A > 1.0)", ["k2"]),        # NaN > 1.0 is false, not null
    ("A < 1.0", []),
    ("not(A < 1.0)", ["k1", "k2"]),
    ("A == 2.0", ["k1"]),
    ("A != 2.0", ["k2"]),            # NaN differs from every number
    ("not(A == 2.0)", ["k2"]),
    ("A == A", ["k1"]),              # NaN does not equal itself
    ("isnull(A)", []),
    ("isnotnull(A)", ["k1", "k2"]),
])
def test_nan_in_predicates(predicate, expected):
    query = f"Process | summarize A = avg(Score) by Key | where {predicate} | project Key"
    python, splunk = both_targets(query, SCORES)
    assert sorted(splunk) == [(k,) for k in expected]
    assert sorted(python) == sorted(splunk)


@pytest.mark.parametrize("direction, expected", [
    ("asc", ["k4", "k2", "k3", "k5", "k1"]),
    ("desc", ["k1", "k5", "k2", "k3", "k4"]),
    ("asc nulls last", ["k5", "k1", "k2", "k3", "k4"]),
    ("desc nulls first", ["k4", "k2", "k3", "k1", "k5"]),
])
def test_nan_sorts_next_to_null(direction, expected):
    # B is 1 for k1, -3 for k5, NaN for k2 and k3 (no N), and null for k4 (no Account row).
    events = {
        "Process": [{"Id": i, "Key": k} for i, k in enumerate(["k1", "k2", "k3", "k4", "k5"], 1)],
        "Account": [{"Key": "k1", "N": 1}, {"Key": "k2"}, {"Key": "k5", "N": -3}, {"Key": "k3"}],
    }
    query = ("Process | summarize n = count() by Key\n"
             "| join kind=leftouter (Account | summarize B = avg(N) by Key) on Key\n"
             f"| project Key, B | sort by B {direction}, Key asc")
    python, splunk = both_targets(query, events)
    assert [row[0] for row in splunk] == expected
    assert python == splunk


def test_other_uses_of_a_nan_column_are_rejected():
    rule = rule_for("DeviceProcessEvents | summarize A = avg(FileSize) by DeviceName | extend B = A * 2")
    with pytest.raises(RulecastError) as info:
        compile_spl(rule)
    message = info.value.diagnostics[0].render()
    assert "does not translate this use of the column 'A', which avg() may leave NaN, yet" in message


KEYED = {
    "Process": [{"Id": 1, "Key2": None}, {"Id": 2, "Key2": 1}, {"Id": 3}, {"Id": 4, "Key2": 5}],
    "Account": [{"Val": "null"}, {"Val": "one", "Key2": 1}, {"Val": "two", "Key2": 2}],
}
KEYED_JOIN = "Process | project Id, Key2 | join kind={kind} (Account | project Key2, Val) on Key2"


@pytest.mark.parametrize("kind", ["inner", "innerunique", "leftouter", "rightouter", "fullouter", "leftsemi",
                                  "rightsemi", "leftanti", "rightanti"])
def test_null_join_keys_match(kind):
    python, splunk = both_targets(KEYED_JOIN.format(kind=kind), KEYED)
    assert sorted(map(repr, splunk)) == sorted(map(repr, python))


def test_null_join_keys_inner_rows():
    _, splunk = both_targets(KEYED_JOIN.format(kind="inner") + " | project Id, Val", KEYED)
    # Ids 1 and 3 have null keys, which match the Account row without Key2.
    assert sorted(splunk) == [(1.0, "null"), (2.0, "one"), (3.0, "null")]
    _, splunk = both_targets(KEYED_JOIN.format(kind="leftanti") + " | project Id", KEYED)
    assert splunk == [(4.0,)]


@pytest.mark.parametrize("kind", ["inner", "leftouter"])
def test_null_join_keys_match_in_stats_join(kind):
    python, splunk = both_targets(KEYED_JOIN.format(kind=kind), KEYED, join="stats")
    assert sorted(map(repr, splunk)) == sorted(map(repr, python))


JSON_TEXTS = {"Process": [
    {"Id": 1, "Json": "null"}, {"Id": 2, "Json": '""'}, {"Id": 3, "Json": '"a\\"b"'},
    {"Id": 4, "Json": '"x\\u00e9"'}, {"Id": 5, "Json": "{bad json"}, {"Id": 6, "Json": ""},
    {"Id": 7, "Json": ' "k" '}, {"Id": 8, "Json": '"{\\"k\\":1}"'}, {"Id": 9, "Json": '{"k":1}'},
]}


def test_todynamic_of_json_scalar_text():
    query = "Process | project Id, Null = isnull(todynamic(Json)), Text = tostring(parse_json(Json))"
    python, splunk = both_targets(query, JSON_TEXTS)
    assert sorted(splunk) == [
        (1.0, True, ""), (2.0, False, ""), (3.0, False, 'a"b'), (4.0, False, "xé"), (5.0, False, "{bad json"),
        (6.0, True, ""), (7.0, False, "k"), (8.0, False, '{"k":1}'), (9.0, False, '{"k":1}')]
    assert sorted(python) == sorted(splunk)


def test_path_into_parsed_json_string():
    # Row 8 is the JSON string '{"k":1}', whose text spells an object; a path into a string is null.
    python, splunk = both_targets("Process | project Id, K = todynamic(Json).k", JSON_TEXTS)
    assert [row for row in sorted(splunk) if row[1] is not None] == [(9.0, 1.0)]
    assert sorted(python) == sorted(splunk)


NUMBERS = {"Process": [
    {"Id": 1, "Data": {"n": 5}}, {"Id": 2, "Data": {"n": -1}}, {"Id": 3, "Data": {"n": 2.5}},
    {"Id": 4, "Data": {"n": "x"}}, {"Id": 5, "Data": {"n": True}}, {"Id": 6, "Data": {}},
    {"Id": 7, "Data": {"n": [1]}}, {"Id": 8, "Data": {"n": {"a": 1}}}, {"Id": 9, "Data": {"n": 0}},
]}


@pytest.mark.parametrize("predicate, expected", [
    ("Data.n > 0", [1, 3]),
    ("not(Data.n > 0)", [2, 9]),     # text, bool, missing, array and object compare as null
    ("Data.n <= 0", [2, 9]),
    ("Data.n == 0", [9]),
    ("Data.n != 0", [1, 2, 3, 4, 5, 6, 7, 8]),
    ("not(Data.n != 0)", [9]),
])
def test_dynamic_compared_with_a_number(predicate, expected):
    python, splunk = both_targets(f"Process | where {predicate} | project Id", NUMBERS)
    assert sorted(splunk) == [(float(i),) for i in expected]
    assert sorted(python) == sorted(splunk)


def test_toint_and_tolong_of_dynamic_values():
    events = {"Process": [
        {"Id": 1, "Data": {"n": True}}, {"Id": 2, "Data": {"n": False}}, {"Id": 3, "Data": {"n": 2.5}},
        {"Id": 4, "Data": {"n": -2.5}}, {"Id": 5, "Data": {"n": 3000000000}}, {"Id": 6, "Data": {"n": "7"}},
        {"Id": 7, "Data": {"n": "x"}}, {"Id": 8, "Data": {"n": 1e20}}, {"Id": 9, "Data": {"n": [1]}},
    ]}
    python, splunk = both_targets("Process | project Id, I = toint(Data.n), L = tolong(Data.n)", events)
    assert sorted(splunk) == [
        (1.0, 1.0, 1.0), (2.0, 0.0, 0.0), (3.0, 2.0, 2.0), (4.0, -2.0, -2.0),
        (5.0, -1294967296.0, 3000000000.0),  # toint wraps integers to 32 bits
        (6.0, 7.0, 7.0), (7.0, None, None),
        (8.0, 2147483647.0, float(2**63 - 1)),  # reals saturate
        (9.0, None, None)]
    assert sorted(python) == sorted(splunk)


def test_min_and_max_of_numeric_text():
    events = {"Process": [{"Id": 1}, {"Id": 2, "Name": "05"}, {"Id": 3, "Name": "10"}, {"Id": 4, "Name": "9"}]}
    python, splunk = both_targets('Process | where Name != "" | summarize Lo = min(Name), Hi = max(Name)', events)
    # Strings order by code point, and keep their text: "05" is not 5.
    assert splunk == [("05", "9")]
    assert python == splunk
    python, splunk = both_targets("Process | summarize Lo = min(Name), Hi = max(Name)", events)
    assert splunk == [("", "9")]  # a missing Name is ""
    assert python == splunk


# ---------------------------------------------------------------- timespans and datetime bins

SPANS = {"Process": [
    {"Id": 1, "Key": "k1", "Timestamp": "2024-05-14T09:31:27.4412093Z", "Score": 1.5},
    {"Id": 2, "Key": "k1", "Timestamp": "2024-05-14T10:00:00Z", "Score": -0.5},
    {"Id": 3, "Key": "k2", "Score": 2.0},
    {"Id": 4, "Key": "k3", "Timestamp": "2024-05-13T22:00:00Z", "Score": 0.0},
]}
SINCE = "Process | extend D = Timestamp - datetime(2024-05-14)"


def test_avg_of_timespans():
    python, splunk = both_targets(SINCE + " | summarize A = avg(D) by Key", SPANS)
    # k1: (34287.4412093 s + 36000 s) / 2, floored to the tick; k2 has no values, so null.
    assert sorted(splunk) == [("k1", 351437206046), ("k2", None), ("k3", -72000000000)]
    assert sorted(python) == sorted(splunk)


@pytest.mark.parametrize("item, expected", [
    ("D * Score", [514311618139, -180000000000, None, 0]),
    ("Score * D", [514311618139, -180000000000, None, 0]),
    ("D / Score", [228582941395, -720000000000, None, None]),  # dividing by 0.0 gives null
    ("1h * Score", [54000000000, -18000000000, 72000000000, 0]),
    ("D / 0.3", [1142914706976, 1200000000000, None, -240000000000]),
])
def test_timespan_times_a_real(item, expected):
    python, splunk = both_targets(SINCE + f" | project Id, X = {item}", SPANS)
    assert [x for _, x in sorted(splunk)] == expected
    assert sorted(python) == sorted(splunk)


@pytest.mark.parametrize("size", ["1500ms", "1.1s", "1.5h", "2.5d", "333ms", "3tick", "12345678tick"])
def test_bin_of_datetime_by_any_size(size):
    stamps = ["2024-05-14T09:31:27.4412093Z", "2023-12-31T23:59:59.9999999Z", "1969-12-31T23:59:59.5Z",
              "9999-12-31T23:59:59.9999999Z", "2024-02-29T12:00:00.1234567Z"]
    events = {"Process": [{"Id": i, "Timestamp": t} for i, t in enumerate(stamps, 1)] + [{"Id": 9}]}
    python, splunk = both_targets(f"Process | project Id, B = bin(Timestamp, {size})", events)
    assert sorted(python) == sorted(splunk)
    assert splunk[-1] == (9.0, None)


def test_bin_of_datetime_by_1500ms():
    events = {"Process": [{"Id": 1, "Timestamp": "2024-05-14T09:31:27.4412093Z"}]}
    _, splunk = both_targets("Process | project B = bin(Timestamp, 1500ms)", events)
    # 09:31:27 is second 63851275887 since 0001-01-01, a multiple of 1.5, so a bin starts there.
    assert splunk == [(parse_datetime("2024-05-14T09:31:27Z"),)]


BETWEEN_EVENTS = {
    "Process": [{"Id": 1, "Key": "a", "Timestamp": "2024-05-14T09:31:27Z"},
                {"Id": 2, "Key": "b", "Timestamp": "2024-05-14T10:31:27Z"},
                {"Id": 3, "Key": "c", "Timestamp": "2024-05-14T09:35:00Z"}],
    "Account": [{"Key": "a", "Timestamp": "2024-05-14T09:30:00Z"}, {"Key": "b", "Timestamp": "2024-05-14T09:30:00Z"}],
}
BETWEEN_JOIN = "Process | join kind=leftouter (Account | project Key, T2 = Timestamp) on Key | where "


@pytest.mark.parametrize("condition", ["Timestamp between (T2 .. 10m)", "not(Timestamp !between (T2 .. 10m))"])
def test_between_null_bound_keeps_inside(condition):
    # Id 1 is 87 s after its account's time; Id 2 is an hour after; Id 3 has no account, so T2 is null.
    compiled = eq.compile_query(BETWEEN_JOIN + condition + " | project Id")
    assert eq.run_splunk(compiled, BETWEEN_EVENTS) == [(1.0,)]
    assert eq.run_python(compiled, BETWEEN_EVENTS) == [(1,)]


def test_negated_between_null_bound_rejected():
    compiled = eq.compile_query(BETWEEN_JOIN + "Timestamp !between (T2 .. 10m) | project Id")
    assert compiled.spl is None
    assert "with a bound that can be null, under a negation" in str(compiled.spl_refusal)
    assert "x >= low and x <= high" in compiled.spl_refusal.hint


@pytest.mark.parametrize("condition, ids", [
    ('Data.a in~ ("")', [2]),
    ('Data.a !in~ ("")', [1, 3]),
    ('Data.a has_any ("")', [2, 3]),
    ('not(Data.a has_any (""))', [1]),
])
def test_null_dynamic_is_in_no_list(condition, ids):
    # Id 1 has no Data, so Data.a is null: in~ and has_any are false for it, even against "".
    events = {"Process": [{"Id": 1}, {"Id": 2, "Data": {"a": ""}}, {"Id": 3, "Data": {"a": "X"}}], "Account": []}
    compiled = eq.compile_query(f"Process | where {condition} | project Id")
    assert eq.run_splunk(compiled, events) == [(float(i),) for i in ids]
    assert eq.run_python(compiled, events) == [(i,) for i in ids]
