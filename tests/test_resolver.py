"""The resolver: names, types and output columns, checked against Microsoft's parser.

The `kusto` fixture runs Kusto.Language (Microsoft's KQL parser and binder)
on the same query and the same Advanced Hunting schemas; the result columns
it reports, names and types in order, must equal the IR's. Queries the
resolver rejects must be rejected by Kusto.Language too, or be listed in
`STRICTER` (checks rulecast adds on purpose, documented in docs/language.md).
"""

from __future__ import annotations

import pytest

import queries
from kustocheck import schema_tables
from translator import ir
from translator.diagnostics import QueryError
from translator.parser import parse_query
from translator.resolver import resolve
from translator.schema import load_catalog
from translator.types import Type

CORPUS = queries.load()


def columns(text: str, platform: str = "defender") -> list[str]:
    return [str(c) for c in resolve(parse_query(text), load_catalog(platform)).node.columns]


def error(text: str) -> str:
    with pytest.raises(QueryError) as info:
        resolve(parse_query(text), load_catalog())
    return info.value.message


# The Advanced Hunting tables: the top-level `columns` of each schema file.
TABLES = schema_tables("defender")


def kusto_view(kusto, text: str) -> tuple[list[str], list[str]]:
    """Return Kusto.Language's (error diagnostics, result columns as `name:type`)."""
    result = kusto.analyze(text, TABLES)
    errors = [f"{d.code} {d.message}" for d in result.errors]
    return errors, [f"{name}:{type_}" for name, type_ in result.columns or ()]


# ---------------------------------------------------------------- against Kusto.Language


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_columns_match_kusto(kusto, name):
    text = CORPUS[name]
    errors, expected = kusto_view(kusto, text)
    assert errors == []
    assert columns(text) == expected


# Naming and column-order rules, each confirmed against Kusto.Language.
SHAPES = {
    "unnamed_function_names": "EmailEvents | project tostring(Subject), toint(UrlCount), tolong(UrlCount), "
    "todouble(UrlCount), tobool(Subject), todynamic(Subject), tolower(Subject), strlen(Subject), "
    "isempty(Subject), coalesce(Subject, 'x'), iff(true, Subject, 'x'), strcat(Subject, 'x'), ago(1d), "
    "now(), bin(Timestamp, 1h), floor(UrlCount, 2), array_length(todynamic(Subject))",
    "unnamed_paths": "EmailEvents | project UrlCount + 1, Subject == 'x', todynamic(Subject).a.b, "
    "todynamic(Subject)['x.y'], todynamic(Subject)[0]",
    "extend_in_place": "EmailEvents | project A = UrlCount, B = Subject, C = Timestamp | extend A = 99",
    "extend_unnamed_in_place": "EmailEvents | project A = UrlCount, B = Subject | extend tostring(A)",
    "extend_derived_twice": "EmailEvents | project A = UrlCount | extend tostring(A), tolong(A)",
    "extend_sees_input": "EmailEvents | project A = UrlCount | extend A = A * 2, B = A",
    "extend_generated_names": "EmailEvents | project Column1 = 1 | extend UrlCount2 = 2, 3",
    "extend_new_derived": "EmailEvents | project A = UrlCount, B = todynamic(Subject) | extend B.x, strlen(tostring(A))",
    "arg_max_star": "EmailEvents | project A = UrlCount, B = Subject, C = Timestamp, D = SenderFromAddress "
    "| summarize arg_max(C, *) by B",
    "arg_max_listed": "EmailEvents | project A = UrlCount, B = Subject, C = Timestamp | summarize arg_max(C, A, B) by B",
    "arg_max_listed_target": "EmailEvents | project A = UrlCount, B = Subject | summarize arg_max(A, A, B)",
    "arg_max_expression": "EmailEvents | project A = UrlCount, B = Subject | summarize arg_max(A + 1, B)",
    "arg_max_named": "EmailEvents | project A = UrlCount, B = Subject, C = Timestamp | summarize M = arg_max(A, *)",
    "arg_max_twice": "EmailEvents | project A = UrlCount, B = Subject | summarize arg_max(A, *), arg_min(A, *)",
    "aggregate_names": "EmailEvents | summarize count(), count(), sum(UrlCount), sum(UrlCount), dcount(Subject), "
    "avg(UrlCount), make_set(Subject), make_list(Subject), min(Subject), max(UrlCount), countif(UrlCount > 1), "
    "sum(UrlCount + 1), make_set(todynamic(Subject).a), min(strlen(Subject)), dcount(tolower(Subject))",
    "aggregate_types": "EmailEvents | summarize sum(BulkComplaintLevel), sum(EmailClusterId), avg(Timestamp - Timestamp), "
    "sum(todouble(UrlCount)), avg(BulkComplaintLevel), avg(Timestamp), sum(Timestamp - Timestamp)",
    "by_key_names": "EmailEvents | summarize count() by bin(Timestamp, 1h), tolower(Subject), strlen(Subject), UrlCount + 1",
    "by_key_collides_with_aggregate": "EmailEvents | summarize count() by count_ = Subject",
    "by_key_path": "EmailEvents | summarize count() by tostring(todynamic(Subject).a)",
    "join_suffix_reserved": "EmailEvents | project A = 1, A1 = 2 | join kind=inner (EmailEvents | project A = 1, A1 = 3) on A",
    "join_semi_keeps_one_side": "EmailEvents | project A = 1, B = 2 | join kind=rightsemi (EmailEvents | project A = 1, C = 3) on A",
    "arithmetic_types": "EmailEvents | project a = UrlCount / BulkComplaintLevel, b = UrlCount * 1.0, c = 1d * 2, "
    "d = 2 * 1d, e = 1d / 1h, f = 1d / 2, g = Timestamp - 1d, h = now() - Timestamp, i = -UrlCount",
    "bin_types": "EmailEvents | project a = bin(UrlCount, 2), b = bin(1.5, 1), c = bin(1d, 1h), d = bin(EmailClusterId, 10)",
    "coalesce_iff_types": "EmailEvents | project x = iff(true, 1, 2.5), y = coalesce(UrlCount, EmailClusterId)",
}

# The same shapes as Kusto.Language reported them, written down so that the
# rules are visible here and hold without Node.
EXPECTED_SHAPES = {
    "unnamed_function_names": "Subject:string, UrlCount:int, UrlCount1:long, UrlCount2:real, Subject1:bool, "
    "Subject2:dynamic, Column1:string, strlen_Subject:long, Column2:bool, Column3:string, Column4:string, "
    "Column5:string, Column6:datetime, Column7:datetime, Timestamp:datetime, UrlCount3:long, Column8:long",
    "unnamed_paths": "Column1:long, Column2:bool, Subject_a_b:dynamic, Subject_x.y:dynamic, Subject_0:dynamic",
    "extend_in_place": "A:long, B:string, C:datetime",
    "extend_unnamed_in_place": "A:string, B:string",
    "extend_derived_twice": "A:long",
    "extend_sees_input": "A:long, B:int",
    "extend_generated_names": "Column1:long, UrlCount2:long, Column2:long",
    "extend_new_derived": "A:int, B:dynamic, B_x:dynamic, strlen_A:long",
    "arg_max_star": "B:string, C:datetime, A:int, D:string",
    "arg_max_listed": "B:string, C:datetime, A:int, B1:string",
    "arg_max_listed_target": "A:int, A1:int, B:string",
    "arg_max_expression": "max_:long, B:string",
    "arg_max_named": "M:int, B:string, C:datetime",
    "arg_max_twice": "A:int, B:string, A1:int, B1:string",
    "aggregate_names": "count_:long, count_1:long, sum_UrlCount:long, sum_UrlCount1:long, dcount_Subject:long, "
    "avg_UrlCount:real, set_Subject:dynamic, list_Subject:dynamic, min_Subject:string, max_UrlCount:int, "
    "countif_:long, sum_:long, set_Subject_a:dynamic, min_strlen_Subject:long, dcount_:long",
    "aggregate_types": "sum_BulkComplaintLevel:long, sum_EmailClusterId:long, avg_:timespan, sum_UrlCount:real, "
    "avg_BulkComplaintLevel:real, avg_Timestamp:datetime, sum_:timespan",
    "by_key_names": "Timestamp:datetime, Column1:string, strlen_Subject:long, Column2:long, count_:long",
    "by_key_collides_with_aggregate": "count_:string, count_1:long",
    "by_key_path": "Subject_a:string, count_:long",
    "join_suffix_reserved": "A:long, A1:long, A2:long, A11:long",
    "join_semi_keeps_one_side": "A:long, C:long",
    "arithmetic_types": "a:long, b:real, c:timespan, d:timespan, e:real, f:timespan, g:datetime, h:timespan, i:long",
    "bin_types": "a:long, b:real, c:timespan, d:long",
    "coalesce_iff_types": "x:real, y:long",
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_column_shapes(name):
    assert ", ".join(columns(SHAPES[name])) == EXPECTED_SHAPES[name]


@pytest.mark.parametrize("name", list(SHAPES))
def test_column_shapes_match_kusto(kusto, name):
    errors, expected = kusto_view(kusto, SHAPES[name])
    assert errors == []
    assert ", ".join(expected) == EXPECTED_SHAPES[name]


# Queries the resolver rejects. Each is rejected by Kusto.Language as well,
# unless it is in STRICTER.
BAD = {
    "string_equals_number": ("EmailEvents | where Subject == 5", "cannot compare string with long using '=='"),
    "bool_equals_string": ('CloudAppEvents | where IsAdminOperation == "yes"', "cannot compare bool with string using '=='"),
    "datetime_equals_string": ('EmailEvents | where Timestamp == "2024-01-01"', "cannot compare datetime with string using '=='"),
    "number_in_strings": ('EmailEvents | where UrlCount in ("1", "2")', "cannot compare int with string in 'in'"),
    "dynamic_equals_dynamic": ("CloudAppEvents | where RawEventData == AdditionalFields", "cannot compare dynamic with dynamic using '=='"),
    "max_of_bool": ("CloudAppEvents | summarize max(IsAdminOperation)", "max() of a bool value is not supported"),
    "contains_on_number": ('EmailEvents | where UrlCount contains "1"', "'contains' needs a string on the left, not int"),
    "string_less_than": ('EmailEvents | where Subject < "b"', "'<' is not defined on strings"),
    "where_not_bool": ("EmailEvents | where UrlCount", "the where predicate must be bool, not int"),
    "unknown_column": ("EmailEvents | where Subjet == 'x'", "unknown column 'Subjet'"),
    "unknown_table": ("EmailEvent | take 1", "unknown table 'EmailEvent' in the defender schema"),
    "unknown_function": ("EmailEvents | extend x = tostrin(Subject)", "unknown function 'tostrin'"),
    "project_away_missing": ("EmailEvents | project-away NetworkMessageId1", "project-away: column 'NetworkMessageId1' does not exist"),
    "join_key_missing": ("EmailEvents | join kind=inner (CloudAppEvents) on NetworkMessageId",
                         "join key 'NetworkMessageId' does not exist on the right side"),
    "join_key_types": ("EmailEvents | join kind=inner (EmailEvents | project NetworkMessageId = UrlCount) on NetworkMessageId",
                       "join keys have different types: NetworkMessageId is string, NetworkMessageId is int"),
    "join_key_dynamic": ("CloudAppEvents | join kind=inner (CloudAppEvents) on RawEventData",
                         "join key 'RawEventData' is dynamic; join keys cannot be dynamic"),
    "duplicate_project": ("EmailEvents | project Subject, tostring(Subject)", "a column named 'Subject' is already declared in this project"),
    "duplicate_by": ("EmailEvents | summarize count() by Subject, tostring(Subject)",
                     "a column named 'Subject' is already declared in this summarize"),
    "duplicate_extend": ("EmailEvents | extend x = 1, x = 2", "a column named 'x' is already declared in this extend"),
    "extend_sees_sibling": ("EmailEvents | extend a = 1, b = a + 1", "unknown column 'a'"),
    "rename_onto_itself": ("EmailEvents | project-rename Subject = Subject", "a column named 'Subject' already exists"),
    "distinct_dynamic": ("CloudAppEvents | distinct RawEventData", "distinct cannot group by the dynamic column 'RawEventData'"),
    "summarize_by_dynamic": ("CloudAppEvents | summarize count() by RawEventData", "summarize cannot group by a dynamic value"),
    "member_of_string": ('EmailEvents | where ConfidenceLevel.Phish == "High"',
                         "cannot access '.Phish' on a string value; only dynamic values have members"),
    "not_of_string": ("EmailEvents | where not(Subject)", "not() needs a bool argument, not string"),
    "and_of_number": ("EmailEvents | where UrlCount and true", "'and' needs bool operands, not int"),
    "datetime_plus_datetime": ("EmailEvents | extend x = Timestamp + Timestamp", "'+' is not defined between datetime and datetime"),
    "sum_of_string": ("EmailEvents | summarize sum(Subject)", "sum() needs a number or timespan, not string"),
    "countif_not_bool": ("EmailEvents | summarize countif(UrlCount)", "countif() needs a bool predicate, not int"),
    "ago_of_number": ("EmailEvents | where Timestamp > ago(7)", "ago(): argument 1 must be of type timespan, not long"),
    "iff_mixed_types": ("EmailEvents | extend x = iff(true, 'a', 1)", "iff(): all arguments of iff must have the same type; found string and long"),
    "aggregate_in_where": ("EmailEvents | where count() > 1", "aggregate function 'count' can only be used in summarize"),
    "regex_lookahead": (r'EmailEvents | where Subject matches regex @"a(?=b)"',
                        "look-around assertions are not supported by KQL's regex engine"),
}

# Rejected here on purpose although Kusto.Language accepts them (see
# docs/language.md, "Where rulecast is stricter than Kusto").
STRICTER = {
    "string_equals_number",  # never true in KQL: almost always a mistake
    "bool_equals_string",
    "datetime_equals_string",
    "number_in_strings",
    "dynamic_equals_dynamic",  # compares JSON text; targets differ
    "max_of_bool",  # not every target orders bools
    "regex_lookahead",  # Kusto.Language does not check regex syntax; the engine rejects it at run time
    "join_key_dynamic",  # the engine rejects dynamic join keys when the query runs
    "datetime_plus_datetime",  # no KQL meaning (kql-semantics: "no datetime + datetime")
    "iff_mixed_types",  # the branches must have one type for every target
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_queries(name):
    text, message = BAD[name]
    assert error(text) == message


@pytest.mark.parametrize("name", list(BAD))
def test_bad_queries_against_kusto(kusto, name):
    errors, _ = kusto_view(kusto, BAD[name][0])
    if name in STRICTER:
        assert errors == [], "Kusto.Language rejects it too: move it out of STRICTER"
    else:
        assert errors, "Kusto.Language accepts it: list it in STRICTER and document it, or accept it"


# ---------------------------------------------------------------- the seed and platforms


def test_seed_output_columns():
    result = columns(CORPUS["seed"])
    assert len(result) == 44
    assert result[:8] == [
        "ReleaseTime:datetime", "ResultStatus:dynamic", "ActionType:string", "ReleasedBy:string",
        "NetworkMessageId:string", "ReleaseTo:dynamic", "EmailTime:datetime", "InternetMessageId:string",
    ]
    assert not any(c.startswith("NetworkMessageId1:") for c in result)


def test_seed_on_sentinel_reads_timestamp_as_timegenerated():
    result = columns(CORPUS["seed"], "sentinel")
    assert result[0] == "ReleaseTime:datetime"
    node = resolve(parse_query("CloudAppEvents | project Timestamp"), load_catalog("sentinel")).node
    assert node.items[0].expr == ir.ColumnRef("TimeGenerated", Type.DATETIME)
    assert [str(c) for c in node.columns] == ["TimeGenerated:datetime"]


def test_bare_join_warns_and_means_innerunique():
    resolved = resolve(parse_query("EmailEvents | join EmailEvents on NetworkMessageId"), load_catalog())
    assert resolved.node.kind == "innerunique"
    [warning] = resolved.warnings
    assert warning.message == "join without kind= uses innerunique, which keeps one arbitrary left row per key"
    explicit = resolve(parse_query("EmailEvents | join kind=innerunique EmailEvents on NetworkMessageId"), load_catalog())
    assert explicit.warnings == []


def test_join_kind_aliases():
    for alias, kind in (("anti", "leftanti"), ("leftantisemi", "leftanti"), ("rightantisemi", "rightanti")):
        node = resolve(parse_query(f"EmailEvents | join kind={alias} EmailEvents on ReportId"), load_catalog()).node
        assert node.kind == kind


# ---------------------------------------------------------------- IR shapes


def test_string_operators_become_string_matches():
    node = resolve(parse_query('EmailEvents | where Subject !contains_cs "X"'), load_catalog()).node
    assert node.predicate == ir.StringMatch(
        "contains", ir.ColumnRef("Subject", Type.STRING), ir.Literal("X", Type.STRING), True, True
    )
    node = resolve(parse_query('EmailEvents | where Subject =~ "x"'), load_catalog()).node
    assert (node.predicate.kind, node.predicate.case_sensitive) == ("equals", False)


def test_in_lists_flatten_let_and_nested_arrays():
    text = "let L = dynamic([1, [2, 3]]); EmailEvents | where UrlCount in (L, 4)"
    node = resolve(parse_query(text), load_catalog()).node
    assert [v.value for v in node.predicate.values] == [1, 2, 3, 4]


def test_sort_defaults():
    node = resolve(parse_query("EmailEvents | sort by Timestamp, UrlCount asc"), load_catalog()).node
    assert [(k.descending, k.nulls_first) for k in node.keys] == [(True, False), (False, True)]


def test_top_is_limit_over_sort():
    node = resolve(parse_query("EmailEvents | top 3 by UrlCount"), load_catalog()).node
    assert isinstance(node, ir.Limit) and isinstance(node.input, ir.Sort) and node.count == 3


def test_between_with_timespan_upper_bound():
    node = resolve(parse_query("EmailEvents | where Timestamp between (datetime(2024-01-01) .. 1d)"), load_catalog()).node
    assert isinstance(node.predicate.high, ir.Arith) and node.predicate.high.type is Type.DATETIME


def test_let_scalars_are_substituted():
    node = resolve(parse_query("let n = 5; EmailEvents | where UrlCount > n | take n"), load_catalog()).node
    assert node.count == 5
    assert node.input.predicate.right == ir.Literal(5, Type.LONG)


def test_column_shadows_let():
    node = resolve(parse_query("let Subject = 'x'; EmailEvents | where Subject == 'y'"), load_catalog()).node
    assert node.predicate.left == ir.ColumnRef("Subject", Type.STRING)
