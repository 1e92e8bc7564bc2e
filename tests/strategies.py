"""Hypothesis strategies: rule queries as text over the test catalog, and events with awkward values.

The catalog is `equivalence.TABLE_COLUMNS`: `Process` (one row per event,
with a unique `Id`) and `Account` (the right side of joins, sharing `Key`
and `Key2`). Queries stay inside the rule language (translator/query.lark)
and its type rules, so every generated query resolves; what a target cannot
express is then a documented refusal, checked by the equivalence module.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

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
def events(draw, max_process: int = 8, max_account: int = 6):
    """Events for both tables; Process rows get a unique Id, Account rows share keys with them."""
    process = draw(st.lists(_event(PROCESS_COLUMNS), max_size=max_process))
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
def filter_queries(draw):
    """`Process | where P [| where P]` with a projection that keeps `Id`."""
    wheres = draw(st.lists(predicates(), min_size=1, max_size=2))
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
