"""Hypothesis strategies: rule queries as text over the test catalog, events with awkward values, and exclusions.

The catalog is `equivalence.TABLE_COLUMNS`: `Process` (one row per event,
with a unique `Id`) and `Account` (the right side of joins, sharing `Key`
and `Key2`). Queries stay inside the rule language (translator/query.lark)
and its type rules, so every generated query resolves; what a target cannot
express is then a documented refusal, checked by the equivalence module.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from hypothesis import strategies as st

from translator.types import Type
from translator.values import format_datetime, format_timespan_literal

# ---------------------------------------------------------------- values

AWKWARD_STRINGS = (
    "", "a", "A", "abc", "ABC", "aBc", "abc def", "ABC-def", " abc", "abc ", "a\tb", "a\nb",
    'say "hi"', "it's", "back\\slash", "C:\\Windows\\cmd.exe", "a*b", "a?b", "*", "?", "50%", "a_b", "_",
    "a.b", "a.b.c", "xa.b", "(x)", "[x]", "^a$", "a|b", "a+b", "{1}", "$", "é", "É", "straße", "STRASSE",
    "😀", "x😀y", "ünï cödé", '{"k":"v"}', '{"a.b":1,"2":[1,2],"k":"V"}', "[1,2,3]", '"quoted"', "{bad json",
    "[1,", "5", "05", "-3", "1e3", "3.5", "null", "true", "k1", "K1", "hello-world", "o-w", "x-error",
)
NEEDLES = (
    "", "a", "A", "abc", "ABC", "b", "abc def", "def", "c d", "a b", '"', "'", "\\", "\\W", "*", "?", "a*b", "a?b",
    "%", "_", "a_b", "a.b", ".", "(x)", "[", "^", "$", "|", "+", "é", "É", "ß", "😀", "k", "v", '"k"', "{", "1", "5",
    "-", "o-w", "err", "error", "hello", "world", "null", "ü",
)
REGEXES = (
    "a", "^a", "a$", "^abc$", "b.", "[0-9]+", "\\d", "^$", "(?i)abc", "a|b", "\\.", "\\\\", "\\*", "x?y", "\\s",
    "é", "[[:alpha:]]", "\\w+-\\w+", ".", "^\\{",
)
KEYS = ("k1", "K1", "k2", "", "k 1")
DATETIME_TEXTS = (
    "2024-05-14T09:31:27.4412093Z", "2024-05-14T09:31:27Z", "2024-05-14T09:31:27.5Z", "2024-05-14 09:31",
    "2024-05-14", "2024-05-14T11:31:27+02:00", "2024-05-13T22:00:00-05:30", "2024-05-14T09:31:27",
    "2023-12-31T23:59:59.9999999Z", "2024-05-14T09:31:27.000001Z",
)
DATETIME_LITERALS = ("2024-05-14", "2024-05-14T09:31:27Z", "2024-05-14 10:00", "2023-12-31T23:59:59.9999999Z")


def json_values(depth: int = 2):
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.sampled_from([0.5, -2.5, 1e3, 2.0]),
                        st.sampled_from(AWKWARD_STRINGS))
    if depth == 0:
        return scalars
    inner = json_values(depth - 1)
    return st.one_of(
        scalars,
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "a.b", "2", "k", "arr", "n", "K", "x y"]), inner, max_size=3),
    )


def _column_value(name: str):
    """A strategy for one column's JSON value (None is JSON null)."""
    if name in ("Name", "Cmd", "Val"):
        return st.one_of(st.sampled_from(AWKWARD_STRINGS), st.text(max_size=6), st.none())
    if name == "Json":
        return st.one_of(st.sampled_from(AWKWARD_STRINGS), json_values().map(lambda v: json.dumps(v)), st.none())
    if name == "Key":
        return st.one_of(st.sampled_from(KEYS), st.none())
    if name == "Key2":
        return st.one_of(st.integers(0, 2), st.none())
    if name in ("Num", "N"):
        return st.one_of(st.integers(-5, 10), st.sampled_from([2**31, -(2**40)]), st.none())
    if name == "Score":
        return st.one_of(st.sampled_from([0.0, -0.5, 1.5, 2.0, 3.25, 1e10, -7.0]), st.none())
    if name == "Flag":
        return st.one_of(st.booleans(), st.none())
    if name == "Timestamp":
        return st.one_of(st.sampled_from(DATETIME_TEXTS), st.none())
    if name == "Data":
        return st.one_of(
            st.fixed_dictionaries({}, optional={
                "a": json_values(1), "a.b": json_values(0), "2": json_values(0), "k": st.sampled_from(AWKWARD_STRINGS),
                "arr": st.lists(json_values(0), max_size=3), "n": st.one_of(st.integers(-3, 5), st.sampled_from(["5", "x"])),
            }),
            json_values(1),
        )
    raise KeyError(name)


PROCESS_COLUMNS = ("Timestamp", "Name", "Cmd", "Num", "Score", "Flag", "Data", "Json", "Key", "Key2")
ACCOUNT_COLUMNS = ("Key", "Key2", "Val", "N", "Timestamp")


@st.composite
def _event(draw, columns):
    event = {}
    for name in columns:
        if draw(st.integers(0, 9)) == 0:
            continue  # the column is absent from the event
        event[name] = draw(_column_value(name))
    return event


@st.composite
def events(draw, max_process: int = 8, max_account: int = 6, min_process: int = 0):
    """Events for both tables; Process rows get a unique Id, Account rows share keys with them."""
    process = draw(st.lists(_event(PROCESS_COLUMNS), min_size=min_process, max_size=max_process))
    for index, event in enumerate(process):
        event["Id"] = index + 1
    account = draw(st.lists(_event(ACCOUNT_COLUMNS), max_size=max_account))
    return {"Process": process, "Account": account}


# ---------------------------------------------------------------- literals as query text


def string_literal(value: str, verbatim: bool) -> str:
    if verbatim and "\n" not in value and "\t" not in value:
        return '@"' + value.replace('"', '""') + '"'
    body = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return '"' + body + '"'


def str_lit(pool=NEEDLES):
    return st.builds(string_literal, st.sampled_from(pool), st.booleans())


# ---------------------------------------------------------------- scalar expressions

STRING_EXPRS = ("Name", "Cmd", "Json", "Key", "tostring(Data.k)", "tostring(Data[\"a.b\"])", "tolower(Name)",
                "toupper(Cmd)", "strcat(Name, \"-\", Cmd)", "tostring(todynamic(Json).k)", "tostring(Num)",
                "coalesce(Name, Cmd)", "iff(Num > 2, Name, Cmd)")
DYNAMIC_EXPRS = ("Data.a", "Data.k", "Data[\"a.b\"]", "Data[\"2\"]", "Data.arr[0]", "Data.arr[-1]", "Data.a.k",
                 "todynamic(Json).k", "todynamic(Json)[\"a.b\"]", "todynamic(Json)[0]", "parse_json(Json)", "Data")
LONG_EXPRS = ("Num", "Key2", "Num + 1", "Num * 2", "Num - Key2", "Num / 2", "Num % 3", "strlen(Name)",
              "tolong(Json)", "toint(Data.n)", "tolong(Data.a)", "-Num")
REAL_EXPRS = ("Score", "Score * 2.0", "Score + Num", "todouble(Num)", "Score / 2.0")

STRING_OPS = tuple(
    f"{neg}{op}{cs}" for op in ("contains", "startswith", "endswith", "has", "hasprefix", "hassuffix")
    for neg in ("", "!") for cs in ("", "_cs")
) + ("==", "!=", "=~", "!~")


def _list_of(elements, min_size=1, max_size=4):
    return st.lists(elements, min_size=min_size, max_size=max_size).map(", ".join)


@st.composite
def string_predicate(draw):
    lhs = draw(st.sampled_from(STRING_EXPRS + DYNAMIC_EXPRS))
    kind = draw(st.integers(0, 5))
    if kind <= 2:
        return f"{lhs} {draw(st.sampled_from(STRING_OPS))} {draw(str_lit())}"
    if kind == 3:
        op = draw(st.sampled_from(["in", "!in", "in~", "!in~"]))
        return f"{lhs} {op} ({draw(_list_of(str_lit(AWKWARD_STRINGS)))})"
    if kind == 4:
        op = draw(st.sampled_from(["has_any", "has_all"]))
        return f"{lhs} {op} ({draw(_list_of(str_lit(), max_size=3))})"
    return f"{lhs} matches regex {draw(st.builds(string_literal, st.sampled_from(REGEXES), st.booleans()))}"


@st.composite
def numeric_predicate(draw):
    kind = draw(st.integers(0, 6))
    op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
    if kind <= 1:
        return f"{draw(st.sampled_from(LONG_EXPRS))} {op} {draw(st.integers(-3, 6))}"
    if kind == 2:
        return f"{draw(st.sampled_from(REAL_EXPRS))} {op} {draw(st.sampled_from(['0.0', '1.5', '-0.5', '2']))}"
    if kind == 3:
        neg = draw(st.sampled_from(["", "!"]))
        low = draw(st.integers(-3, 4))
        return f"{draw(st.sampled_from(LONG_EXPRS))} {neg}between ({low} .. {low + draw(st.integers(0, 4))})"
    if kind == 4:
        values = draw(_list_of(st.integers(-2, 5).map(str)))
        return f"{draw(st.sampled_from(['Num', 'Key2', 'Num + 1']))} {draw(st.sampled_from(['in', '!in']))} ({values})"
    if kind == 5:
        return f"Timestamp {op} datetime({draw(st.sampled_from(DATETIME_LITERALS))})"
    return f"Data.n {op} {draw(st.integers(-1, 5))}"


@st.composite
def null_predicate(draw):
    func = draw(st.sampled_from(["isempty", "isnotempty", "isnull", "isnotnull"]))
    arg = draw(st.sampled_from(["Name", "Num", "Data.a", "Data", "todynamic(Json)", "Timestamp", "Score", "Json",
                                "Data.arr[0]", "Flag"]))
    return f"{func}({arg})"


def bool_atom():
    return st.one_of(string_predicate(), string_predicate(), numeric_predicate(), null_predicate(),
                     st.sampled_from(["Flag", "Flag == true", "Flag != false", "not(Flag)"]))


def predicates(max_leaves: int = 6):
    """Nested and/or/not over the atoms."""
    return st.recursive(
        bool_atom(),
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda p: f"not({p})"),
        ),
        max_leaves=max_leaves,
    )


# ---------------------------------------------------------------- query shapes

OUTPUT = "Id, Name, Num, Timestamp"


@st.composite
def filter_queries(draw, min_wheres: int = 1, max_wheres: int = 2):
    """`Process | where P [| where P]` with a projection that keeps `Id`."""
    wheres = draw(st.lists(predicates(), min_size=min_wheres, max_size=max_wheres))
    text = "Process" + "".join(f"\n| where {p}" for p in wheres)
    return text + f"\n| project {draw(st.sampled_from([OUTPUT, 'Id', 'Id, Data, Json, Flag, Score, Cmd, Key']))}"


EXTEND_ITEMS = (
    "Lower = tolower(Name)", "Upper = toupper(Name)", "Len = strlen(Cmd)", "Both = strcat(Name, Cmd)",
    "Parsed = todynamic(Json)", "Pk = todynamic(Json).k", "Dots = Data[\"a.b\"]", "Digit = Data[\"2\"]",
    "First = Data.arr[0]", "Last = Data.arr[-1]", "AsText = tostring(Data)", "AsLong = tolong(Json)",
    "Plus = Num + Key2", "Div = Num / 3", "Mod = Num % 4", "Twice = Score * 2.0", "Either = coalesce(Name, Cmd)",
    "Choice = iff(Flag, Name, Cmd)", "NumText = tostring(Num)", "Name = toupper(Name)", "Neg = -Num",
    "Later = Timestamp + 1h", "Empty = isempty(Json)", "Stamp = tostring(Timestamp)", "Bin = bin(Num, 3)",
    "Real = todouble(Json)", "DynNum = toint(Data.n)",
)


@st.composite
def projection_queries(draw):
    """extend, project with renames, project-rename, project-away, project-keep, in sequence."""
    items = draw(st.lists(st.sampled_from(EXTEND_ITEMS), min_size=1, max_size=4, unique_by=lambda s: s.split(" =")[0]))
    text = "Process\n| extend " + ", ".join(items)
    names = [i.split(" =")[0] for i in items]
    if draw(st.booleans()):
        text += f"\n| where {draw(predicates(max_leaves=3))}"
    step = draw(st.integers(0, 3))
    if step == 0:
        text += "\n| project-rename Renamed = Cmd, Ident = Id\n| project-away Data, Json"
        ident = "Ident"
    elif step == 1:
        text += "\n| project-keep " + ", ".join(["Id", "Name"] + [n for n in names if n != "Name"])
        ident = "Id"
    elif step == 2:
        text += "\n| project " + ", ".join(["Id", "Name"] + [n for n in names if n != "Name"])
        ident = "Id"
    else:
        text += "\n| project-away Data, Json, Cmd, Score, Flag"
        ident = "Id"
    if draw(st.booleans()):
        text += f"\n| sort by {ident} {draw(st.sampled_from(['asc', 'desc']))}"
    return text


JOIN_KINDS = ("inner", "innerunique", "leftouter", "rightouter", "fullouter", "leftsemi", "rightsemi", "leftanti",
              "rightanti", "anti")


@st.composite
def join_queries(draw):
    kind = draw(st.sampled_from(JOIN_KINDS))
    keys = draw(st.sampled_from(["Key", "Key, Key2", "$left.Key == $right.Key", "Key2",
                                 "$left.Key == $right.Key and $left.Key2 == $right.Key2", "$left.Name == $right.Val"]))
    left = "Process"
    if draw(st.booleans()):
        left += f"\n| where {draw(predicates(max_leaves=2))}"
    left += "\n| project Id, Key, Key2, Name, Timestamp"
    right = "Account"
    if draw(st.booleans()):
        right += f" | where Val {draw(st.sampled_from(['!=', 'contains', 'has', '!startswith']))} {draw(str_lit())}"
    if draw(st.booleans()):
        right += " | project Key, Key2, Val, Timestamp"
    bare = draw(st.integers(0, 5)) == 0 and kind == "innerunique"
    text = f"{left}\n| join {'' if bare else f'kind={kind} '}({right}) on {keys}"
    if draw(st.booleans()) and kind not in ("leftsemi", "leftanti", "anti", "rightsemi", "rightanti"):
        text += "\n| extend Both = strcat(Key, \"/\", Val)"
    return text


AGGREGATES = ("count()", "countif(Num > 2)", "dcount(Name)", "min(Num)", "max(Score)", "sum(Num)", "avg(Score)",
              "make_set(Name)", "make_list(Key)", "sum(Score)", "max(Name)", "min(Timestamp)", "dcount(Key2)",
              "arg_max(Num, Name)", "arg_min(Score, *)", "avg(Num)")
GROUP_KEYS = ("Key", "Name", "tolower(Name)", "Key2", "Flag", "bin(Num, 5)", "tostring(Data.k)", "Kind = strlen(Cmd)")


@st.composite
def summarize_queries(draw):
    aggs = draw(st.lists(st.sampled_from(AGGREGATES), min_size=1, max_size=3, unique=True))
    # Naming every aggregate keeps two of the same default name apart.
    text = "Process"
    if draw(st.booleans()):
        text += f"\n| where {draw(predicates(max_leaves=2))}"
    items = ", ".join(f"A{i} = {a}" if not a.startswith("arg_") else a for i, a in enumerate(aggs))
    keys = draw(st.lists(st.sampled_from(GROUP_KEYS), max_size=2, unique=True))
    text += f"\n| summarize {items}" + (" by " + ", ".join(keys) if keys else "")
    return text


@st.composite
def distinct_queries(draw):
    columns = draw(st.lists(st.sampled_from(["Name", "Key", "Key2", "Flag", "Cmd"]), min_size=1, max_size=3,
                            unique=True))
    text = "Process"
    if draw(st.booleans()):
        text += f"\n| where {draw(predicates(max_leaves=2))}"
    return text + "\n| distinct " + ", ".join(columns)


@st.composite
def timespan_queries(draw):
    """A timespan column computed from `Timestamp`, beside the columns it came from."""
    text = "Process"
    if draw(st.booleans()):
        text += f"\n| where {draw(predicates(max_leaves=2))}"
    return text + "\n| extend Age = datetime(2024-05-15) - Timestamp\n| project Id, Name, Timestamp, Age"


SORT_COLUMNS = ("Num", "Score", "Timestamp", "Name", "Key", "Key2", "Flag")


@st.composite
def sort_queries(draw):
    """sort/order by keys with both directions and null placements, then take/top, or take alone."""
    text = "Process"
    if draw(st.booleans()):
        text += f"\n| where {draw(predicates(max_leaves=2))}"
    text += "\n| project Id, Num, Score, Timestamp, Name, Key, Key2, Flag"
    columns = draw(st.lists(st.sampled_from(SORT_COLUMNS), min_size=1, max_size=3, unique=True))

    def key(column):
        direction = draw(st.sampled_from(["", " asc", " desc"]))
        nulls = draw(st.sampled_from(["", " nulls first", " nulls last"]))
        return column + direction + nulls

    keys = [key(c) for c in columns]
    if draw(st.booleans()):
        keys.append("Id" + draw(st.sampled_from([" asc", " desc", ""])))
    form = draw(st.integers(0, 3))
    verb = draw(st.sampled_from(["sort", "order"]))
    n = draw(st.integers(0, 5))
    if form == 0:
        return text + f"\n| {verb} by " + ", ".join(keys)
    if form == 1:
        return text + f"\n| {verb} by " + ", ".join(keys) + f"\n| {draw(st.sampled_from(['take', 'limit']))} {n}"
    if form == 2:
        return text + f"\n| top {n} by {keys[0]}"
    return text + f"\n| take {n}"


# ---------------------------------------------------------------- exclusions
#
# An exclusion is drawn as a term tree (the classes below) and written out as
# filter text in the syntax of docs/rule-format.md, "The filter language". The
# tree keeps what the text means, so a test can evaluate it without parsing the
# text: `Pattern.parts` are the decoded texts, wildcards and placeholders.


class _Wildcard:
    """The wildcard `*` in an unquoted value."""

    def __repr__(self) -> str:
        return "WILDCARD"


WILDCARD = _Wildcard()


@dataclass(frozen=True)
class PlaceholderRef:
    """`${name}` inside an unquoted value."""

    name: str


@dataclass(frozen=True)
class Pattern:
    """One value of a `field:value` term: texts, wildcards and placeholders, written quoted or not."""

    parts: tuple  # str, WILDCARD or PlaceholderRef
    quoted: bool = False


@dataclass(frozen=True)
class ValueLogic:
    """`and`, `or` or `not` over values inside `field:(...)`."""

    op: str
    operands: tuple
    parenthesized: bool = False


@dataclass(frozen=True)
class MatchTerm:
    """`field:value` or `field:(value expression)`; `column` is the output column `field` names."""

    field: str
    column: str
    value: Pattern | ValueLogic


@dataclass(frozen=True)
class RangeTerm:
    """`field < value` and the other range operators."""

    field: str
    column: str
    op: str
    value: str


@dataclass(frozen=True)
class LogicTerm:
    """`not X`, `X and Y`, `X or Y`."""

    op: str
    operands: tuple
    parenthesized: bool = False


@dataclass(frozen=True)
class ExclusionSpec:
    """One exclusion as the rule file writes it, with the term tree of its filter.

    `term` is None for a disabled exclusion whose filter parses but does not
    type against the output (an unknown field, a value of the wrong type).
    """

    name: str
    filter: str
    term: object
    enabled: bool
    reason: str | None
    placeholders: dict  # name -> value, or None while unset
    unset_style: str = "null"  # how an unset value is written: "null", "empty" or "missing"


@dataclass(frozen=True)
class ExclusionSet:
    """The `fields` aliases and the exclusions of one rule."""

    fields: dict
    exclusions: tuple


# Texts with the characters the filter syntax treats specially, keywords,
# case variants, non-ASCII text, control characters and texts that no event contains.
EXCLUSION_TEXTS = (
    "a", "A", "abc", "ABC", "aBc", "abc def", "say \"hi\"", "it's", "back\\slash", "C:\\Windows\\cmd.exe",
    "a*b", "*", "**", "\\*", "é", "É", "straße", "STRASSE", "😀", "x😀y", "ünï cödé", "and", "OR", "Not",
    "a and b", "x or", "not x", "android", "(x)", "a(b", "{1}", "${x}", "$", "a:b", "<a>", "a\tb", "a\nb",
    " lead", "trail ", "a\u00a0b", "no-such-value", "NO-SUCH-VALUE", "k1", "K1", "hello-world", "\\", "\"",
    "null", "true", "5", "-3", "{\"k\":\"v\"}", "[1,2,3]", "a.b", "@x", "1/2", "x\\and",
)
EXCLUSION_NAMES = (
    "service account", "Backup job", "it's the scanner", 'the "nightly" task', "ünïcode scénario", "star * name",
    "back\\slash", "tab\tname", "😀 emoji", "`backtick`", "```fence```", "semi; colon", "a | pipe",
)
_KEYWORDS = ("and", "or", "not")
_SPECIAL = '\\():<>"{}*?~'
_RANGE_OPS = ("<", "<=", ">", ">=")
_TIMESPANS = ("0s", "1s", "90s", "30m", "1h", "1.5h", "12h", "1d", "2d", "10d", "100ms", "1000d")


def _unquoted_piece(text: str, escape_non_ascii: bool) -> str:
    """Write `text` as literal text of an unquoted value (escaping what the syntax would read)."""
    out = []
    for index, char in enumerate(text):
        if char in _SPECIAL:
            out.append("\\" + char)
        elif char in "\t\r\n":
            out.append({"\t": "\\t", "\r": "\\r", "\n": "\\n"}[char])
        elif char == " " and 0 < index < len(text) - 1:
            out.append(char)
        elif ord(char) <= 0xFFFF and (char.isspace() or not char.isprintable()
                                      or (escape_non_ascii and not char.isascii())):
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    # A whole word `and`, `or` or `not` would end the value; `\and` is the word as text.
    words = "".join(out).split(" ")
    return " ".join("\\" + w if w.lower() in _KEYWORDS else w for w in words)


def quoted_value(text: str, escape_controls: bool = False) -> str:
    """Write `text` as a quoted value; `*` and `${...}` inside quotes are literal."""
    body = text.replace("\\", "\\\\").replace('"', '\\"')
    if escape_controls:
        body = body.replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")
    return '"' + body + '"'


def render_pattern(pattern: Pattern, escape: bool = False) -> str:
    """Write one value; `escape` writes non-ASCII text as `\\uXXXX` unquoted and control characters escaped in quotes."""
    if pattern.quoted:
        (text,) = pattern.parts
        return quoted_value(text, escape)
    out = []
    for part in pattern.parts:
        if part is WILDCARD:
            out.append("*")
        elif isinstance(part, PlaceholderRef):
            out.append("${" + part.name + "}")
        else:
            out.append(_unquoted_piece(part, escape))
    return "".join(out)


def _keyword(op: str, style: str) -> str:
    return {"lower": op, "upper": op.upper(), "title": op.title()}[style]


_PRECEDENCE = {"or": 1, "and": 2, "not": 3}


def render_logic(node, leaf, style: str) -> str:
    """Write a LogicTerm or ValueLogic tree, with parentheses where precedence needs them or the node sets them."""
    if not isinstance(node, (LogicTerm, ValueLogic)):
        return leaf(node)

    def operand_text(operand, parent: str) -> str:
        text = render_logic(operand, leaf, style)
        nested = isinstance(operand, (LogicTerm, ValueLogic))
        if nested and not operand.parenthesized and operand.op != "not" and (
                parent == "not" or _PRECEDENCE[operand.op] < _PRECEDENCE[parent]):
            return f"({text})"
        return text

    if node.op == "not":
        text = _keyword("not", style) + " " + operand_text(node.operands[0], "not")
    else:
        text = f" {_keyword(node.op, style)} ".join(operand_text(o, node.op) for o in node.operands)
    return f"( {text} )" if node.parenthesized else text


def render_term(term, style: str = "lower", escape: bool = False) -> str:
    """Write a filter's term tree as filter text, with keywords in `style` ("lower", "upper" or "title")."""

    def leaf(node) -> str:
        if isinstance(node, RangeTerm):
            value = node.value
            if not value or re.search(r'[\s\\()<>"{}*]', value):
                value = quoted_value(value)
            return f"{node.field} {node.op} {value}"
        value = node.value
        if isinstance(value, ValueLogic):
            inner = render_logic(value, lambda p: render_pattern(p, escape), style)
            return f"{node.field}:({inner})"
        return f"{node.field}:{render_pattern(value, escape)}"

    return render_logic(term, leaf, style)


def _normalized(parts: list) -> Pattern:
    """Drop empty texts and repeated wildcards, as the filter syntax reads them."""
    kept: list = []
    for part in parts:
        if isinstance(part, str) and part == "":
            continue
        if part is WILDCARD and kept and kept[-1] is WILDCARD:
            continue
        kept.append(part)
    if not kept:
        return Pattern(("",), quoted=True)
    return Pattern(tuple(kept))


def sample_text(value, type_: Type) -> str | None:
    """Return the text that an exclusion value matching `value` of a `type_` column is written with, or None."""
    if value is None:
        return None
    if type_ is Type.DATETIME:
        return format_datetime(value) if isinstance(value, int) else str(value)
    if type_ is Type.TIMESPAN:
        return format_timespan_literal(value) if value >= 0 else None
    if type_ is Type.DYNAMIC:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if type_ is Type.BOOL:
        return "true" if value else "false"
    if type_ is Type.REAL:
        return None if value == "NaN" else repr(float(value))
    return str(value)


def _case_variant(draw, text: str) -> str:
    return draw(st.sampled_from([text, text.upper(), text.lower(), text.swapcase()]))


@st.composite
def _text(draw, samples: list[str]):
    """A text to match against a string or dynamic column: an output value, a part of one, or an awkward text."""
    if samples and draw(st.integers(0, 2)) > 0:
        text = draw(st.sampled_from(samples))
        if text and draw(st.booleans()):
            start = draw(st.integers(0, len(text) - 1))
            text = text[start:draw(st.integers(start + 1, len(text)))]
        return _case_variant(draw, text)
    return draw(st.sampled_from(EXCLUSION_TEXTS))


@st.composite
def _text_pattern(draw, samples: list[str]):
    kind = draw(st.sampled_from(["equals", "quoted", "contains", "startswith", "endswith", "middle", "exists"]))
    if kind == "exists":
        return Pattern((WILDCARD,))
    text = draw(_text(samples))
    if kind == "quoted":
        return Pattern((text,), quoted=True)
    if kind == "equals":
        return _normalized([text])
    if kind == "contains":
        return _normalized([WILDCARD, text, WILDCARD])
    if kind == "startswith":
        return _normalized([text, WILDCARD])
    if kind == "endswith":
        return _normalized([WILDCARD, text])
    # A wildcard between texts: cut one text in two or three, or join two texts.
    if len(text) >= 2 and draw(st.booleans()):
        cuts = sorted(draw(st.lists(st.integers(1, len(text) - 1), min_size=1, max_size=2, unique=True)))
        pieces = [text[i:j] for i, j in zip([0] + cuts, cuts + [len(text)])]
    else:
        pieces = [text, draw(_text(samples))]
    parts: list = [WILDCARD] if draw(st.booleans()) else []
    for piece in pieces:
        parts += [piece, WILDCARD]
    if draw(st.booleans()):
        parts.pop()
    return _normalized(parts)


def _scalar_texts(type_: Type, samples: list[str]):
    """Value texts for a number, bool, datetime or timespan column: output values and near misses."""
    if type_ in (Type.LONG, Type.INT):
        numbers = {int(s) for s in samples}
        near = [str(n + d) for n in numbers for d in (-1, 0, 1)] + [f"+{n}" for n in numbers if n >= 0]
        texts = near + ["0", "05", "-3", "7", "2147483647", "2147483648", "-1099511627776"]
        if type_ is Type.INT:
            texts = [t for t in texts if -(2**31) <= int(t) < 2**31]
        return st.sampled_from(texts)
    if type_ in (Type.REAL, Type.DECIMAL):
        return st.sampled_from(samples + ["0", "1.5", "-0.5", "2", "1e10", ".5", "3.25", "-7.0", "100"])
    if type_ is Type.BOOL:
        return st.sampled_from(["true", "false", "TRUE", "False"])
    if type_ is Type.DATETIME:
        return st.sampled_from(samples + list(DATETIME_TEXTS) + list(DATETIME_LITERALS))
    return st.sampled_from(samples + list(_TIMESPANS))


def _range_texts(type_: Type, samples: list[str]):
    if type_ in (Type.LONG, Type.INT):
        return st.one_of(_scalar_texts(type_, samples), st.sampled_from(["2.5", "-0.5", "1e3", "0.0"]))
    return _scalar_texts(type_, samples)


@dataclass
class _Placeholders:
    """Placeholders drawn for one exclusion: name -> value (None while unset)."""

    values: dict = field(default_factory=dict)

    def add(self, value: str | None) -> PlaceholderRef:
        name = f"p{len(self.values)}"
        self.values[name] = value or None
        return PlaceholderRef(name)


@st.composite
def _with_placeholder(draw, pattern: Pattern, type_: Type, placeholders: _Placeholders) -> Pattern:
    """Put a placeholder in an unquoted value in place of one of its texts, set to that text or unset.

    In a string or dynamic value a text may sit beside the placeholder. A `*`
    there is a literal star, and so is one in the placeholder's value.
    """
    if pattern.quoted or draw(st.integers(0, 4)) > 0:
        return pattern
    parts = list(pattern.parts)
    texts = [i for i, p in enumerate(parts) if isinstance(p, str)]
    if not texts:
        return pattern
    index = draw(st.sampled_from(texts))
    text = parts[index]
    parts[index] = placeholders.add(draw(st.sampled_from([text, None])))
    if type_ in (Type.STRING, Type.DYNAMIC) and draw(st.booleans()):
        parts.insert(index + draw(st.integers(0, 1)), draw(st.sampled_from(["x", "*", "é"])))
    return Pattern(tuple(parts))


@st.composite
def _pattern(draw, type_: Type, samples: list[str], placeholders: _Placeholders):
    if type_ in (Type.STRING, Type.DYNAMIC):
        pattern = draw(_text_pattern(samples))
    elif draw(st.integers(0, 5)) == 0:
        pattern = Pattern((WILDCARD,))
    else:
        pattern = Pattern((draw(_scalar_texts(type_, samples)),), quoted=draw(st.integers(0, 3)) == 0)
    return draw(_with_placeholder(pattern, type_, placeholders))


@st.composite
def _value_logic(draw, type_: Type, samples: list[str], placeholders: _Placeholders, depth: int = 0):
    """`and`, `or` or `not` over values of one field; below the top, also a single value."""
    if depth > 0 and (depth >= 2 or draw(st.integers(0, 2)) > 0):
        return draw(_pattern(type_, samples, placeholders))
    op = draw(st.sampled_from(["and", "or", "or", "not"]))
    parenthesized = draw(st.integers(0, 3)) == 0
    if op == "not":
        return ValueLogic("not", (draw(_value_logic(type_, samples, placeholders, depth + 1)),), parenthesized)
    count = draw(st.integers(2, 3))
    operands = tuple(draw(_value_logic(type_, samples, placeholders, depth + 1)) for _ in range(count))
    return ValueLogic(op, operands, parenthesized)


_RANGE_TYPES = (Type.INT, Type.LONG, Type.REAL, Type.DECIMAL, Type.DATETIME, Type.TIMESPAN)


@st.composite
def _leaf(draw, columns: dict, samples: dict, aliases: dict, placeholders: _Placeholders):
    column = draw(st.sampled_from(sorted(columns)))
    type_ = columns[column]
    names = [column] + [alias for alias, target in aliases.items() if target == column]
    field_name = draw(st.sampled_from(names))
    values = samples.get(column, [])
    if type_ in _RANGE_TYPES and draw(st.integers(0, 2)) == 0:
        return RangeTerm(field_name, column, draw(st.sampled_from(_RANGE_OPS)), draw(_range_texts(type_, values)))
    if draw(st.integers(0, 5)) == 0:
        value = draw(_value_logic(type_, values, placeholders))
    else:
        value = draw(_pattern(type_, values, placeholders))
    return MatchTerm(field_name, column, value)


@st.composite
def filter_terms(draw, columns: dict, samples: dict, aliases: dict, placeholders: _Placeholders, depth: int = 0):
    """A filter's term tree over `columns` (name -> Type), with values drawn from `samples` (name -> texts)."""
    if depth >= 2 or draw(st.integers(0, 2)) > 0:
        return draw(_leaf(columns, samples, aliases, placeholders))
    op = draw(st.sampled_from(["and", "or", "not"]))
    parenthesized = draw(st.integers(0, 4)) == 0
    if op == "not":
        return LogicTerm("not", (draw(filter_terms(columns, samples, aliases, placeholders, depth + 1)),), parenthesized)
    count = draw(st.integers(2, 3))
    operands = tuple(draw(filter_terms(columns, samples, aliases, placeholders, depth + 1)) for _ in range(count))
    return LogicTerm(op, operands, parenthesized)


def _alias_names(column: str) -> list[str]:
    return [f"alias_{column.lower()}", f"proc.{column.lower()}", f"@{column}", f"{column.lower()}-field"]


# Filters that parse but do not type against any output of the test catalog.
UNTYPED_FILTERS = ("tool:*Clearbit*", "Num:abc", "Flag:maybe", "Name >= 5", "Data < 3", "Num:*5*",
                   "Timestamp:yesterday")


@st.composite
def exclusion_sets(draw, columns: Sequence[tuple[str, Type]], samples: Mapping[str, Sequence] | None = None):
    """`fields` aliases and 1 to 4 exclusions over the output `columns`, with values taken from `samples`.

    `samples` maps an output column to its values in the Python target's
    output without exclusions, so that the drawn values match some rows.
    The caller leaves out columns whose values are arrays in no defined order
    (`make_set`, `make_list`), since an exclusion on their text would match
    differently on each target.
    """
    types = dict(columns)
    samples = samples or {}
    texts = {name: [t for t in (sample_text(v, types[name]) for v in samples.get(name, ())) if t is not None]
             for name in types}
    texts = {name: list(dict.fromkeys(values))[:12] for name, values in texts.items()}
    aliases: dict[str, str] = {}
    for column in draw(st.lists(st.sampled_from(sorted(types)), max_size=2, unique=True)) if types else ():
        alias = draw(st.sampled_from(_alias_names(column)))
        if alias not in types:
            aliases[alias] = column
    exclusions = []
    names = draw(st.lists(st.sampled_from(EXCLUSION_NAMES), min_size=1, max_size=4, unique=True))
    for index, name in enumerate(names):
        enabled = draw(st.integers(0, 3)) > 0
        style = draw(st.sampled_from(["lower", "upper", "title"]))
        escape = draw(st.integers(0, 3)) == 0
        if not types or (not enabled and draw(st.booleans())):
            text = draw(st.sampled_from(UNTYPED_FILTERS))
            reason = "The output cannot express it."
            exclusions.append(ExclusionSpec(f"{name} {index}", text, None, False, reason, {}))
            continue
        placeholders = _Placeholders()
        term = draw(filter_terms(types, texts, aliases, placeholders))
        text = render_term(term, style, escape)
        unset_style = draw(st.sampled_from(["null", "empty", "missing"]))
        reason = None if enabled else "Disabled until the team confirms it."
        exclusions.append(ExclusionSpec(f"{name} {index}", text, term, enabled, reason, dict(placeholders.values),
                                        unset_style))
    return ExclusionSet(aliases, tuple(exclusions))
