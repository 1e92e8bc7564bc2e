"""KQL semantics of the Python target: compile small queries, import the module, check rows.

Every expected value here is worked out by hand from KQL's documented rules
(and, where Microsoft's sources disagree, the choice docs/targets.md states).
"""

from __future__ import annotations

import math

import pytest

from backends.python import generate_for_node, load_module
from translator.parser import parse_query
from translator.resolver import resolve
from translator.schema import load_catalog
from translator.values import format_datetime, format_datetime_short, parse_datetime


def compile_query(text: str):
    node = resolve(parse_query(text), load_catalog("defender")).node
    return load_module(generate_for_node(node, name="test query"))


def rows(text: str, **tables):
    return compile_query(text).run(tables)


def column(text: str, name: str, **tables):
    return [row[name] for row in rows(text, **tables)]


def ids(text: str, events):
    """Return the ReportId of each CloudAppEvents event the query keeps."""
    return [row["ReportId"] for row in rows(text, CloudAppEvents=events)]


# ---------------------------------------------------------------- nulls


def test_null_equals_null_is_not_true():
    events = [{"ReportId": "a"}]
    assert ids("CloudAppEvents | where datetime(null) == datetime(null)", events) == []
    assert ids("CloudAppEvents | where Timestamp == datetime(null)", events) == []


def test_null_not_equal_value_is_true():
    events = [{"ReportId": "null"}, {"ReportId": "five", "ApplicationId": 5}, {"ReportId": "six", "ApplicationId": 6}]
    assert ids("CloudAppEvents | where ApplicationId != 5", events) == ["null", "six"]
    assert ids("CloudAppEvents | where ApplicationId == 5", events) == ["five"]


def test_null_comparisons_under_not():
    # null == null is null, so not() of it is null too and the row is dropped;
    # null == 5 is false, so not() of it keeps the row.
    events = [{"ReportId": "null"}]
    assert ids("CloudAppEvents | where not(Timestamp == datetime(null))", events) == []
    assert ids("CloudAppEvents | where not(ApplicationId == 5)", events) == ["null"]
    assert ids("CloudAppEvents | where not(ApplicationId < 5)", events) == []


def test_three_valued_and_or():
    events = [{"ReportId": "null"}]
    assert ids("CloudAppEvents | where ApplicationId > 1 or true", events) == ["null"]
    assert ids("CloudAppEvents | where not(ApplicationId > 1 and false)", events) == ["null"]
    assert ids("CloudAppEvents | where not(ApplicationId > 1 and true)", events) == []
    assert ids("CloudAppEvents | where not(ApplicationId > 1 or false)", events) == []


def test_missing_string_reads_empty_other_columns_null():
    result = rows("CloudAppEvents | project ActionType, ApplicationId, IsAdminOperation, RawEventData, Timestamp",
                  CloudAppEvents=[{}])
    assert result == [{"ActionType": "", "ApplicationId": None, "IsAdminOperation": None,
                       "RawEventData": None, "Timestamp": None}]


def test_in_and_not_in_with_null():
    events = [{"ReportId": "null"}, {"ReportId": "one", "ApplicationId": 1}]
    assert ids("CloudAppEvents | where ApplicationId in (1, 2)", events) == ["one"]
    assert ids("CloudAppEvents | where ApplicationId !in (1, 2)", events) == ["null"]


def test_isnull_isempty():
    events = [{"ReportId": "a", "RawEventData": {"x": ""}}, {"ReportId": "b"}, {"ReportId": "c", "RawEventData": {"x": []}}]
    assert ids("CloudAppEvents | where isempty(RawEventData.x)", events) == ["a", "b"]
    assert ids("CloudAppEvents | where isnull(RawEventData.x)", events) == ["b"]
    assert ids("CloudAppEvents | where isnull(ActionType)", events) == []
    assert ids("CloudAppEvents | where isempty(ActionType)", events) == ["a", "b", "c"]


# ---------------------------------------------------------------- string operators


def test_has_matches_whole_terms_only():
    events = [{"ReportId": "vm", "ObjectName": "Standard_D48s_v5"}, {"ReportId": "term", "ObjectName": "size 48 GB"}]
    assert ids('CloudAppEvents | where ObjectName has "48"', events) == ["term"]
    assert ids('CloudAppEvents | where ObjectName contains "48"', events) == ["vm", "term"]


def test_has_edge_rule_and_phrases():
    cases = [
        ("Kusto: ad67d136-c1db;KustoExplorerQueryRun", "Explorer", False),
        ("Kusto: ad67d136-c1db;KustoExplorerQueryRun", "kustoexplorerqueryrun", True),
        ("hello-world", "o-w", False),
        ("a.b.c", "a.b", True),
        ("xa.b", "a.b", False),
        ("a_b", "a", True),
        ("/resourcegroups/test.rg000001?api", "/resourcegroups/test.rg000001?", True),
        ("anything", "", True),
        ("BA", "b", False),
    ]
    for value, needle, expected in cases:
        kept = ids(f'CloudAppEvents | where ObjectName has "{needle}"', [{"ReportId": "r", "ObjectName": value}])
        assert kept == (["r"] if expected else []), (value, needle)


def test_hasprefix_hassuffix():
    events = [{"ReportId": "r", "ObjectName": "x-error"}]
    assert ids('CloudAppEvents | where ObjectName hasprefix "err"', events) == ["r"]
    assert ids('CloudAppEvents | where ObjectName hassuffix "err"', events) == []
    state = [{"ReportId": "nc", "ObjectName": "NORTH CAROLINA"}]
    assert ids('CloudAppEvents | where ObjectName hassuffix "th"', state) == ["nc"]


def test_has_any_has_all():
    events = [{"ReportId": "r", "ObjectName": "errors found in Alpha"}]
    assert ids('CloudAppEvents | where ObjectName has_any ("error")', events) == []
    assert ids('CloudAppEvents | where ObjectName has_any ("error", "alpha")', events) == ["r"]
    assert ids('CloudAppEvents | where ObjectName has_all ("errors", "ALPHA")', events) == ["r"]
    assert ids('CloudAppEvents | where ObjectName has_all ("errors", "beta")', events) == []


def test_case_modes():
    events = [{"ReportId": "r", "ActionType": "QuarantineReleaseMessage"}]
    assert ids('CloudAppEvents | where ActionType == "quarantinereleasemessage"', events) == []
    assert ids('CloudAppEvents | where ActionType =~ "quarantinereleasemessage"', events) == ["r"]
    assert ids('CloudAppEvents | where ActionType contains "RELEASE"', events) == ["r"]
    assert ids('CloudAppEvents | where ActionType contains_cs "RELEASE"', events) == []
    assert ids('CloudAppEvents | where ActionType startswith "quarantine"', events) == ["r"]
    assert ids('CloudAppEvents | where ActionType endswith_cs "message"', events) == []
    assert ids('CloudAppEvents | where ActionType in~ ("QUARANTINERELEASEMESSAGE")', events) == ["r"]
    assert ids('CloudAppEvents | where ActionType in ("QUARANTINERELEASEMESSAGE")', events) == []
    assert ids('CloudAppEvents | where ActionType !~ "QUARANTINERELEASEMESSAGE"', events) == []


def test_case_insensitive_uses_unicode_lowercase():
    events = [{"ReportId": "r", "ObjectName": "ÉTÉ"}]
    assert ids('CloudAppEvents | where ObjectName =~ "été"', events) == ["r"]
    assert ids('CloudAppEvents | where ObjectName == "été"', events) == []


def test_string_operators_on_null_dynamic():
    events = [{"ReportId": "r"}]
    assert ids('CloudAppEvents | where RawEventData.x contains "a"', events) == []
    assert ids('CloudAppEvents | where RawEventData.x !contains "a"', events) == ["r"]
    assert ids('CloudAppEvents | where RawEventData.x has "a"', events) == []
    assert ids('CloudAppEvents | where RawEventData.x !has "a"', events) == ["r"]


def test_matches_regex_searches():
    events = [{"ReportId": "r", "ObjectName": "Fabrikam\n"}]
    assert ids('CloudAppEvents | where ObjectName matches regex "b.*k"', events) == ["r"]
    assert ids('CloudAppEvents | where ObjectName matches regex "kam$"', events) == []


# ---------------------------------------------------------------- dynamic


def test_key_with_dot_is_one_key():
    events = [{"ReportId": "flat", "RawEventData": {"k8s.container.name": "api"}},
              {"ReportId": "nested", "RawEventData": {"k8s": {"container": {"name": "api"}}}}]
    assert ids('CloudAppEvents | where RawEventData["k8s.container.name"] == "api"', events) == ["flat"]
    assert ids('CloudAppEvents | where RawEventData.k8s.container.name == "api"', events) == ["nested"]


def test_array_indexes():
    query = "CloudAppEvents | project First = tostring(RawEventData.a[0]), Last = tostring(RawEventData.a[-1]), " \
            "Out = tostring(RawEventData.a[5]), Digit = tostring(RawEventData['18'])"
    result = rows(query, CloudAppEvents=[{"RawEventData": {"a": ["x", "y", "z"], "18": 7}}])
    assert result == [{"First": "x", "Last": "z", "Out": "", "Digit": "7"}]


def test_paths_through_todynamic():
    query = 'EmailEvents | project P = tostring(todynamic(ConfidenceLevel).Phish), ' \
            'N = tostring(todynamic(ConfidenceLevel).Spam), Bad = tostring(todynamic(ConfidenceLevel)), ' \
            'Missing = isnull(todynamic(Subject))'
    result = rows(query, EmailEvents=[
        {"ConfidenceLevel": '{"Phish":"High","Spam":1}'},
        {"ConfidenceLevel": "{Phish:High"},
    ])
    assert result[0] == {"P": "High", "N": "1", "Bad": '{"Phish":"High","Spam":1}', "Missing": True}
    assert result[1] == {"P": "", "N": "", "Bad": "{Phish:High", "Missing": True}


def test_tostring_forms():
    query = "CloudAppEvents | project O = tostring(RawEventData), A = tostring(RawEventData.a), " \
            "B = tostring(IsAdminOperation), T = tostring(Timestamp), R = tostring(RawEventData.r), " \
            "N = tostring(ApplicationId)"
    event = {"RawEventData": {"a": [1, 2.0, "x"], "r": 118.0, "s": {"k": True}},
             "IsAdminOperation": True, "Timestamp": "2020-01-02T03:04:05.6Z", "ApplicationId": None}
    assert rows(query, CloudAppEvents=[event]) == [{
        "O": '{"a":[1,2,"x"],"r":118,"s":{"k":true}}',
        "A": '[1,2,"x"]',
        "B": "True",
        "T": "2020-01-02T03:04:05.6000000Z",
        "R": "118",
        "N": "",
    }]


def test_dynamic_compares_by_kind():
    events = [{"ReportId": "str", "RawEventData": {"v": "5"}}, {"ReportId": "num", "RawEventData": {"v": 5}},
              {"ReportId": "bool", "RawEventData": {"v": True}}]
    assert ids('CloudAppEvents | where RawEventData.v == "5"', events) == ["str"]
    assert ids("CloudAppEvents | where RawEventData.v == 5", events) == ["num"]
    assert ids("CloudAppEvents | where RawEventData.v == 1", events) == []
    assert ids("CloudAppEvents | where RawEventData.v > 4", events) == ["num"]


# ---------------------------------------------------------------- arithmetic and time


def test_integer_division_and_modulo():
    query = "CloudAppEvents | project A = ApplicationId / 2, B = -7 / 2, C = -14 % 12, D = 14 % -12, " \
            "E = -14 % -12, F = ApplicationId / 0, G = 1.0 / 0.0, H = 7 / 2.0"
    result = rows(query, CloudAppEvents=[{"ApplicationId": 1}])[0]
    assert result["A"] == 0
    assert result["B"] == -3
    assert result["C"] == 10
    assert result["D"] == 2
    assert result["E"] == 10
    assert result["F"] is None
    assert result["G"] == math.inf
    assert result["H"] == 3.5


def test_datetimes_with_zones_compare_as_ticks():
    events = [
        {"ReportId": "offset", "Timestamp": "2022-12-02T13:45:56+02:00"},
        {"ReportId": "defender", "Timestamp": "2022-12-02T11:45:56.0000000Z"},
        {"ReportId": "later", "Timestamp": "2022-12-02T11:45:56.0000001Z"},
    ]
    assert ids("CloudAppEvents | where Timestamp == datetime(2022-12-02T11:45:56Z)", events) == ["offset", "defender"]
    assert ids("CloudAppEvents | where Timestamp > datetime(2022-12-02 11:45:56)", events) == ["later"]
    result = rows("CloudAppEvents | project Timestamp", CloudAppEvents=events[:1])
    assert result == [{"Timestamp": "2022-12-02T11:45:56.0000000Z"}]


def test_ago_uses_the_given_now():
    now = "2024-05-14T12:00:00Z"
    module = compile_query("CloudAppEvents | where Timestamp > ago(1h) | project ReportId")
    events = [{"ReportId": "recent", "Timestamp": "2024-05-14T11:30:00Z"},
              {"ReportId": "old", "Timestamp": "2024-05-14T10:30:00Z"}]
    assert module.run({"CloudAppEvents": events}, now=now) == [{"ReportId": "recent"}]
    assert module.run({"CloudAppEvents": events}, now=parse_datetime(now)) == [{"ReportId": "recent"}]


def test_bin_rounds_down():
    query = "CloudAppEvents | project T = bin(Timestamp, 1h), N = bin(ApplicationId, 5)"
    result = rows(query, CloudAppEvents=[{"Timestamp": "2024-05-14T11:59:59.9Z", "ApplicationId": -7}])
    assert result == [{"T": "2024-05-14T11:00:00.0000000Z", "N": -10}]


def test_wrong_type_is_malformed():
    module = compile_query("CloudAppEvents | project ReportId")
    for event, column in [({"Timestamp": "yesterday"}, "Timestamp"), ({"ApplicationId": "5"}, "ApplicationId"),
                          ({"ActionType": 5}, "ActionType"), ({"IsAdminOperation": 1}, "IsAdminOperation"),
                          ({"ApplicationId": 2**40}, "ApplicationId")]:
        with pytest.raises(module.MalformedEvent) as caught:
            module.run({"CloudAppEvents": [event]})
        assert caught.value.column == column


# ---------------------------------------------------------------- joins

JOIN_LEFT = [
    {"AccountId": "a", "ObjectName": "x", "ApplicationId": 1},
    {"AccountId": "a", "ObjectName": "x", "ApplicationId": 9},
]
JOIN_RIGHT = [{"NetworkMessageId": "a", "Subject": "x"}]
JOIN_QUERY = ("CloudAppEvents | project Key = AccountId, Obj = ObjectName, N = ApplicationId "
              "| join {kind} (EmailEvents | project Key = NetworkMessageId, Obj = Subject) on Key, Obj")


def test_bare_join_keeps_first_left_row_per_key():
    result = rows(JOIN_QUERY.format(kind=""), CloudAppEvents=JOIN_LEFT, EmailEvents=JOIN_RIGHT)
    assert result == [{"Key": "a", "Obj": "x", "N": 1, "Key1": "a", "Obj1": "x"}]


def test_inner_join_keeps_every_pair():
    result = rows(JOIN_QUERY.format(kind="kind=inner"), CloudAppEvents=JOIN_LEFT, EmailEvents=JOIN_RIGHT)
    assert sorted(r["N"] for r in result) == [1, 9]
    assert len(result) == 2


def test_innerunique_with_larger_left_side():
    # More left rows than right rows makes the right side the hash table; the
    # first left row of each key must still be the one kept.
    left = [{"AccountId": "a", "ObjectName": "x", "ApplicationId": n} for n in (3, 1, 2)]
    left += [{"AccountId": "b", "ObjectName": "x", "ApplicationId": 7}]
    result = rows(JOIN_QUERY.format(kind="kind=innerunique"), CloudAppEvents=left, EmailEvents=JOIN_RIGHT)
    assert [r["N"] for r in result] == [3]


def test_join_empty_strings_match():
    query = "CloudAppEvents | project Key = AccountId, N = ApplicationId " \
            "| join kind=inner (EmailEvents | project Key = NetworkMessageId, S = Subject) on Key"
    result = rows(query, CloudAppEvents=[{"ApplicationId": 1}], EmailEvents=[{"Subject": "no id"}])
    assert result == [{"Key": "", "N": 1, "Key1": "", "S": "no id"}]


def test_join_null_keys_match():
    query = "CloudAppEvents | project K = ApplicationId, A = ReportId " \
            "| join kind=inner (CloudAppEvents | project K = AppInstanceId, B = ReportId) on $left.K == $right.K"
    result = rows(query, CloudAppEvents=[{"ReportId": "r1"}, {"ReportId": "r2", "ApplicationId": 5, "AppInstanceId": 6}])
    assert sorted((r["A"], r["B"]) for r in result) == [("r1", "r1")]


@pytest.mark.parametrize("kind, expected", [
    # Left rows a and c have key k1, b has k2; right rows A has k1, D has k9.
    ("leftouter", [("a", "A"), ("b", ""), ("c", "A")]),
    ("rightouter", [("", "D"), ("a", "A"), ("c", "A")]),
    ("fullouter", [("", "D"), ("a", "A"), ("b", ""), ("c", "A")]),
    ("leftsemi", [("a",), ("c",)]),
    ("leftanti", [("b",)]),
    ("rightsemi", [("A",)]),
    ("rightanti", [("D",)]),
])
def test_join_kinds(kind, expected):
    left = [{"AccountId": "k1", "ReportId": "a"}, {"AccountId": "k2", "ReportId": "b"}, {"AccountId": "k1", "ReportId": "c"}]
    right = [{"NetworkMessageId": "k1", "Subject": "A"}, {"NetworkMessageId": "k9", "Subject": "D"}]
    query = f"CloudAppEvents | project K = AccountId, L = ReportId " \
            f"| join kind={kind} (EmailEvents | project K = NetworkMessageId, R = Subject) on K"
    result = rows(query, CloudAppEvents=left, EmailEvents=right)
    got = sorted(tuple(r[c] for c in ("L", "R") if c in r) for r in result)
    assert got == expected


@pytest.mark.parametrize("kind", ["innerunique", "inner", "leftouter", "rightouter", "fullouter",
                                  "leftsemi", "leftanti", "rightsemi", "rightanti"])
def test_join_build_sides_agree(kind):
    # The hash table goes on whichever side ends first; both choices must give the same rows.
    module = compile_query("CloudAppEvents | take 0")
    left = [{"k": key, "l": n} for n, key in enumerate(["a", "b", "a", None, ""])]
    right = [{"k": key, "r": n} for n, key in enumerate(["a", None, "c", "", "a"])]

    def combine(l, r):
        return {"l": l["l"], "r": r["r"]}

    key = lambda row: row["k"]  # noqa: E731
    null_left, null_right = {"k": None, "l": None}, {"k": None, "r": None}
    by_left = list(module._join_build_left(kind, left, iter(right), key, key, combine, null_left, null_right))
    by_right = list(module._join_build_right(kind, iter(left), right, key, key, combine, null_left, null_right))
    canonical = lambda rows: sorted(repr(sorted(r.items())) for r in rows)  # noqa: E731
    assert canonical(by_left) == canonical(by_right)
    if kind == "innerunique":
        # Left rows 0 and 2 share key "a": only row 0 is kept, paired with both right "a" rows;
        # None matches None and "" matches "".
        assert canonical(by_left) == canonical([{"l": 0, "r": 0}, {"l": 0, "r": 4}, {"l": 3, "r": 1}, {"l": 4, "r": 3}])


def test_outer_join_pads_with_empty_and_null():
    query = "CloudAppEvents | project K = AccountId | join kind=leftouter " \
            "(EmailEvents | project K = NetworkMessageId, S = Subject, T = Timestamp) on K"
    result = rows(query, CloudAppEvents=[{"AccountId": "k"}], EmailEvents=[])
    assert result == [{"K": "k", "K1": "", "S": "", "T": None}]


# ---------------------------------------------------------------- sort, take, top, distinct


SORT_EVENTS = [{"ReportId": "n"}, {"ReportId": "2", "ApplicationId": 2}, {"ReportId": "1", "ApplicationId": 1}]


def test_sort_default_is_descending_nulls_last():
    assert ids("CloudAppEvents | order by ApplicationId", SORT_EVENTS) == ["2", "1", "n"]


def test_sort_ascending_nulls_first():
    assert ids("CloudAppEvents | sort by ApplicationId asc", SORT_EVENTS) == ["n", "1", "2"]
    assert ids("CloudAppEvents | sort by ApplicationId asc nulls last", SORT_EVENTS) == ["1", "2", "n"]
    assert ids("CloudAppEvents | sort by ApplicationId desc nulls first", SORT_EVENTS) == ["n", "2", "1"]


def test_sort_by_two_keys():
    events = [{"ReportId": "a1", "ActionType": "a", "ApplicationId": 1}, {"ReportId": "b2", "ActionType": "b", "ApplicationId": 2},
              {"ReportId": "a2", "ActionType": "a", "ApplicationId": 2}]
    assert ids("CloudAppEvents | sort by ActionType asc, ApplicationId", events) == ["a2", "a1", "b2"]


def test_take_and_top():
    assert len(ids("CloudAppEvents | take 2", SORT_EVENTS)) == 2
    assert ids("CloudAppEvents | take 0", SORT_EVENTS) == []
    assert ids("CloudAppEvents | top 1 by ApplicationId", SORT_EVENTS) == ["2"]
    assert ids("CloudAppEvents | top 2 by ApplicationId asc", SORT_EVENTS) == ["n", "1"]


def test_distinct():
    events = [{"ActionType": "a", "ApplicationId": 1}, {"ActionType": "a", "ApplicationId": 1}, {"ActionType": "b"}]
    result = rows("CloudAppEvents | distinct ActionType, ApplicationId", CloudAppEvents=events)
    assert result == [{"ActionType": "a", "ApplicationId": 1}, {"ActionType": "b", "ApplicationId": None}]


# ---------------------------------------------------------------- summarize


def test_summarize_empty_input_without_keys():
    query = "CloudAppEvents | summarize c = count(), d = dcount(ActionType), s = sum(ApplicationId), " \
            "a = avg(ApplicationId), m = max(ApplicationId), ms = make_set(ActionType)"
    result = rows(query, CloudAppEvents=[])
    assert len(result) == 1
    row = result[0]
    assert row["c"] == 0
    assert row["d"] == 0
    assert row["s"] == 0
    assert math.isnan(row["a"])
    assert row["m"] is None
    assert row["ms"] == []


def test_summarize_empty_input_with_keys():
    assert rows("CloudAppEvents | summarize count() by ActionType", CloudAppEvents=[]) == []


def test_summarize_skips_nulls():
    events = [{"ActionType": "x", "ApplicationId": 4}, {"ActionType": "x"}, {"ActionType": "y"},
              {"ActionType": "x", "ApplicationId": 2}]
    query = "CloudAppEvents | summarize n = count(), s = sum(ApplicationId), lo = min(ApplicationId), " \
            "a = avg(ApplicationId), l = make_list(ApplicationId) by ActionType"
    result = rows(query, CloudAppEvents=events)
    assert result[0] == {"ActionType": "x", "n": 3, "s": 6, "lo": 2, "a": 3.0, "l": [4, 2]}
    assert result[1]["ActionType"] == "y"
    assert result[1]["s"] == 0
    assert result[1]["lo"] is None
    assert math.isnan(result[1]["a"])


def test_arg_max():
    events = [{"ActionType": "x", "ApplicationId": 4, "ReportId": "r4"}, {"ActionType": "x", "ApplicationId": 9, "ReportId": "r9"},
              {"ActionType": "x", "ReportId": "rnull"}]
    result = rows("CloudAppEvents | summarize arg_max(ApplicationId, ReportId) by ActionType", CloudAppEvents=events)
    assert result == [{"ActionType": "x", "ApplicationId": 9, "ReportId": "r9"}]


# ---------------------------------------------------------------- module surface


def test_match_streams_single_events():
    module = compile_query('CloudAppEvents | where ActionType == "Send" | project ReportId')
    assert module.match({"ActionType": "Send"}) is True
    assert module.match({"ActionType": "send"}) is False


def test_match_absent_when_rule_sorts():
    module = compile_query("CloudAppEvents | sort by Timestamp asc")
    assert not hasattr(module, "match")
    assert module.ORDERED is True


def test_module_needs_only_standard_library():
    source = generate_for_node(resolve(parse_query("CloudAppEvents | take 1"), load_catalog("defender")).node)
    imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports == {"datetime", "ipaddress", "json", "math", "re", "time"}


@pytest.mark.parametrize("text, full, short", [
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.0000000Z", "0001-01-01T00:00:00Z"),
    ("0999-12-31T23:59:59.5Z", "0999-12-31T23:59:59.5000000Z", "0999-12-31T23:59:59.5Z"),
    ("2024-05-14T09:31:27.4412093Z", "2024-05-14T09:31:27.4412093Z", "2024-05-14T09:31:27.4412093Z"),
])
def test_datetime_text_has_four_digit_years(text, full, short):
    ticks = parse_datetime(text)
    assert format_datetime(ticks) == full
    assert format_datetime_short(ticks) == short
