"""The parser: every corpus query parses, and each syntax form builds the right tree."""

from __future__ import annotations

import pytest

import queries
from translator import syntax as s
from translator.diagnostics import QueryError
from translator.parser import parse_query
from translator.types import Type
from translator.values import TICKS_PER_DAY, TICKS_PER_SECOND, parse_datetime

CORPUS = queries.load()


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_query_parses(name):
    query = parse_query(CORPUS[name])
    assert isinstance(query, s.Query)
    assert query.pipeline.table in ("EmailEvents", "CloudAppEvents")


def where(text: str) -> s.Expr:
    """Parse `T | where <text>` and return the predicate."""
    query = parse_query(f"T | where {text}")
    [op] = query.pipeline.operators
    return op.predicate


def value(text: str) -> s.Lit:
    """Parse a literal on the right of `==` and return it."""
    predicate = where(f"x == {text}")
    assert isinstance(predicate.right, s.Lit), predicate
    return predicate.right


# ---------------------------------------------------------------- string literals


@pytest.mark.parametrize(
    "text, expected",
    [
        ('"plain"', "plain"),
        ("'single'", "single"),
        (r'"a \"quoted\" word"', 'a "quoted" word'),
        (r"'it\'s'", "it's"),
        (r'"tab\there"', "tab\there"),
        (r'"line\nbreak"', "line\nbreak"),
        (r'"back\\slash"', "back\\slash"),
        (r'"\u00e9\x41"', "éA"),
        (r'@"C:\Temp\x"', r"C:\Temp\x"),
        ('@"say ""hi"""', 'say "hi"'),
        ("@'it''s'", "it's"),
        ('h"hidden"', "hidden"),
        ("H'hidden'", "hidden"),
        (r'h@"C:\x"', r"C:\x"),
        ("```multi\nline \"with\" 'quotes'```", "multi\nline \"with\" 'quotes'"),
        ('"con" \'cat\' @"e\\nated"', "concat" + "e\\nated"),
        ('""', ""),
    ],
)
def test_string_literal_forms(text, expected):
    lit = value(text)
    assert lit.type is Type.STRING
    assert lit.value == expected


def test_comment_marker_inside_a_string_is_text():
    assert value('"http://example.com"').value == "http://example.com"


# ---------------------------------------------------------------- other literals


@pytest.mark.parametrize(
    "text, expected, type_",
    [
        ("42", 42, Type.LONG),
        ("0x1F", 31, Type.LONG),
        ("-7", -7, Type.LONG),
        ("1.5", 1.5, Type.REAL),
        ("1e3", 1000.0, Type.REAL),
        ("2.5E-1", 0.25, Type.REAL),
        ("true", True, Type.BOOL),
        ("false", False, Type.BOOL),
        ("int(5)", 5, Type.INT),
        ("long(-3)", -3, Type.LONG),
        ("real(2)", 2.0, Type.REAL),
        ("bool(true)", True, Type.BOOL),
        ("long(null)", None, Type.LONG),
        ("datetime(null)", None, Type.DATETIME),
        ("guid(8A9D5E6F-1234-4ABC-9DEF-0123456789AB)", "8a9d5e6f-1234-4abc-9def-0123456789ab", Type.GUID),
        ("1d", TICKS_PER_DAY, Type.TIMESPAN),
        ("1.5h", 90 * 60 * TICKS_PER_SECOND, Type.TIMESPAN),
        ("30m", 30 * 60 * TICKS_PER_SECOND, Type.TIMESPAN),
        ("5min", 5 * 60 * TICKS_PER_SECOND, Type.TIMESPAN),
        ("10s", 10 * TICKS_PER_SECOND, Type.TIMESPAN),
        ("100ms", TICKS_PER_SECOND // 10, Type.TIMESPAN),
        ("3tick", 3, Type.TIMESPAN),
        ("2microseconds", 20, Type.TIMESPAN),
        ("200nanoseconds", 2, Type.TIMESPAN),
        ("-1d", -TICKS_PER_DAY, Type.TIMESPAN),
        ("timespan(2)", 2 * TICKS_PER_DAY, Type.TIMESPAN),
        ("timespan(0.12:34:56.7)", (12 * 3600 + 34 * 60 + 56) * TICKS_PER_SECOND + 7_000_000, Type.TIMESPAN),
        ("datetime(2024-01-31)", parse_datetime("2024-01-31T00:00:00Z"), Type.DATETIME),
        ("datetime(2024-01-31 13:45:56.1234567)", parse_datetime("2024-01-31T13:45:56.1234567Z"), Type.DATETIME),
        ("datetime('2022-12-02T13:45:56+02:00')", parse_datetime("2022-12-02T11:45:56Z"), Type.DATETIME),
    ],
)
def test_scalar_literals(text, expected, type_):
    lit = value(text)
    assert (lit.value, lit.type) == (expected, type_)


def test_datetime_offset_converts_to_utc():
    assert parse_datetime("2022-12-02T13:45:56+02:00") == parse_datetime("2022-12-02T11:45:56Z")


def test_dynamic_literals():
    assert value('dynamic([1, "two", 3.5, true, null, -4])').value == [1, "two", 3.5, True, None, -4]
    assert value('dynamic({"a": {"b": [1]}, "c": false})').value == {"a": {"b": [1]}, "c": False}
    assert value("dynamic([])").value == []
    assert value("dynamic({})").value == {}


# ---------------------------------------------------------------- dynamic paths and names


@pytest.mark.parametrize(
    "text, base, keys",
    [
        ("RawEventData.UserId", "RawEventData", ["UserId"]),
        ('x["a.b"]', "x", ["a.b"]),
        ("x['a']", "x", ["a"]),
        ("x[0]", "x", [0]),
        ("x[-1]", "x", [-1]),
        ("x.a[2].b", "x", ["a", 2, "b"]),
        ("x.['two words']", "x", ["two words"]),
    ],
)
def test_dynamic_paths(text, base, keys):
    node = where(f"{text} == 1").left
    found = []
    while isinstance(node, s.Member):
        found.insert(0, node.key)
        node = node.base
    assert node == s.Name(base)
    assert found == keys


def test_path_on_a_call():
    node = where('todynamic(ConfidenceLevel).Phish == "High"').left
    assert node == s.Member(s.CallExpr("todynamic", (s.Name("ConfidenceLevel"),)), "Phish")


def test_bracketed_names_declare_and_reference():
    query = parse_query("T | project ['a b'] = 1, [\"c.d\"] = 2 | project-rename ['e f'] = ['a b'] | distinct ['e f']")
    project, rename, distinct = query.pipeline.operators
    assert [a.name for a in project.items] == ["a b", "c.d"]
    assert (rename.pairs[0].new, rename.pairs[0].old) == ("e f", "a b")
    assert distinct.names == (s.Name("e f"),)


# ---------------------------------------------------------------- operators


@pytest.mark.parametrize(
    "op",
    [
        "contains", "!contains", "contains_cs", "!contains_cs", "has", "!has", "has_cs", "!has_cs",
        "startswith", "!startswith", "startswith_cs", "!startswith_cs", "endswith", "!endswith",
        "endswith_cs", "!endswith_cs", "hasprefix", "!hasprefix", "hasprefix_cs", "hassuffix", "!hassuffix_cs",
        "==", "!=", "=~", "!~", "<", "<=", ">", ">=",
    ],
)
def test_binary_string_and_comparison_operators(op):
    assert where(f'a {op} "x"') == s.Binary(op, s.Name("a"), s.Lit("x", Type.STRING))


@pytest.mark.parametrize("op", ["in", "!in", "in~", "!in~", "has_any", "has_all"])
def test_list_operators(op):
    assert where(f'a {op} ("x", "y")') == s.InExpr(op, s.Name("a"), (s.Lit("x", Type.STRING), s.Lit("y", Type.STRING)))


def test_between_and_regex():
    assert where("a between (1 .. 5)") == s.BetweenExpr(s.Name("a"), s.Lit(1, Type.LONG), s.Lit(5, Type.LONG), False)
    assert where("a !between (1 .. 5)").negated is True
    assert where('a matches regex "x+"') == s.Binary("matches regex", s.Name("a"), s.Lit("x+", Type.STRING))


def test_precedence():
    # and binds tighter than or; * tighter than +; comparison looser than arithmetic.
    tree = where("a == 1 or b == 2 and c + d * 2 > 3")
    assert tree.op == "or"
    right = tree.operands[1]
    assert right.op == "and"
    sum_ = right.operands[1].left
    assert (sum_.op, sum_.right.op) == ("+", "*")


def test_and_or_chains_are_one_node():
    tree = where("a == 1 or b == 2 or c == 3 and d == 4 and e == 5")
    assert tree.op == "or"
    assert len(tree.operands) == 3
    assert tree.operands[2].op == "and"
    assert len(tree.operands[2].operands) == 3
    grouped = where("(a == 1 or b == 2) or c == 3")
    assert len(grouped.operands) == 2
    assert grouped.operands[0].op == "or"


def test_keywords_stay_usable_as_column_names():
    query = parse_query("T | where kind == 1 and by == 2 | project on = 1, nulls = 2")
    where_op, project = query.pipeline.operators
    assert where_op.predicate.operands[0].left == s.Name("kind")
    assert [a.name for a in project.items] == ["on", "nulls"]


def test_join_forms():
    query = parse_query("L | join kind=leftouter (R | where x == 1) on A, $left.B == $right.C and D")
    [join] = query.pipeline.operators
    assert join.kind == "leftouter"
    assert join.right.table == "R" and len(join.right.operators) == 1
    assert [(c.left, c.right) for c in join.conditions] == [("A", "A"), ("B", "C"), ("D", "D")]
    bare = parse_query("L | join R on A").pipeline.operators[0]
    assert bare.kind is None and bare.right == s.Pipeline("R", ())


def test_sort_take_top_distinct_summarize():
    query = parse_query(
        "T | order by a | sort by b asc nulls last, c desc nulls first | take 5 | limit 6 | top 3 by d asc"
        " | distinct * | distinct a, b | summarize n = count(), arg_max(t, *) by a, day = bin(t, 1d)"
    )
    order, sort, take, limit, top, all_, some, summarize = query.pipeline.operators
    assert order.keys[0].direction is None and order.keys[0].nulls is None
    assert [(k.direction, k.nulls) for k in sort.keys] == [("asc", "last"), ("desc", "first")]
    assert (take.count, limit.count) == (s.Lit(5, Type.LONG), s.Lit(6, Type.LONG))
    assert (top.count, top.key.direction) == (s.Lit(3, Type.LONG), "asc")
    assert all_.names is None and some.names == (s.Name("a"), s.Name("b"))
    assert [a.name for a in summarize.aggregates] == ["n", None]
    assert summarize.aggregates[1].expr.args[1] == s.Star()
    assert [a.name for a in summarize.by] == [None, "day"]


def test_let_statements():
    query = parse_query('let n = 5; let L = dynamic(["a"]); let s = "x";\nT | take n')
    assert [(l.name, l.value) for l in query.lets] == [
        ("n", s.Lit(5, Type.LONG)),
        ("L", s.Lit(["a"], Type.DYNAMIC)),
        ("s", s.Lit("x", Type.STRING)),
    ]


def test_spans_point_into_the_text():
    text = 'EmailEvents\n| where Subject has "x"'
    query = parse_query(text)
    [op] = query.pipeline.operators
    name = op.predicate.left
    assert (name.span.line, name.span.column) == (2, 9)
    assert text[name.span.start : name.span.end] == "Subject"


# ---------------------------------------------------------------- syntax errors (positions: test_error_catalogue)


@pytest.mark.parametrize(
    "text, message",
    [
        ("T | where a == 'x", "unterminated string literal"),
        ('T | where a == @"x', "unterminated string literal"),
        ("T | where a == 1 |", "dangling '|' at the end of the query"),
        ("T | parse a with b", "operator 'parse' is not supported"),
        ("T | mv-expand a", "operator 'mv-expand' is not supported"),
        ("T | union U", "operator 'union' is not supported"),
        ("T | evaluate bag_unpack(a)", "operator 'evaluate' is not supported"),
        ("T | frobnicate", "unknown tabular operator 'frobnicate'"),
        ("T | join kind=inner hint.remote=auto (U) on a", "join parameter 'hint.remote' is not supported"),
        ("T | join kind=inner kind=inner (U) on a", "join kind is given twice"),
        ("T | join (U) on $left.a == $left.b", "a join condition must be written $left.<column> == $right.<column>"),
        ("T | where a == .5", "unexpected '.'"),
        ('T | where a == "\\q"', "invalid escape sequence '\\q' in string literal"),
        ("T | where a[b] == 1", "an index into a dynamic value must be a string or integer constant"),
        ("T | extend x = datetime()", "datetime() without a value means the current time; use now() instead"),
        ("T | extend x = int(99999999999)", "int literal 99999999999 is out of range"),
        ("T | extend x = 5parsecs", "invalid number or timespan '5parsecs'"),
        ("T | where a b", "unexpected name 'b'; expected an operator such as '==', 'and' or '|'"),
        ("T | extend x = dynamic([1d])", "only JSON values (strings, numbers, bools, null, arrays, objects) may appear in dynamic()"),
        ("let t = T | take 1; t", "a let statement may bind only a scalar or a dynamic list, not a tabular expression"),
        ("", "the query is empty"),
        ("// only a comment\n", "the query is empty"),
        ("T | where (a == 1", "the query ends unexpectedly"),
    ],
)
def test_syntax_errors(text, message):
    with pytest.raises(QueryError) as info:
        parse_query(text)
    assert info.value.message == message
