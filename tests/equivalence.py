"""Run one query on every target and compare the rows.

A case is query text plus events per table. The text is resolved twice: once
against the Defender XDR shaped catalog (the Python module, the Defender KQL
and the SPL come from that IR) and once against the Sentinel shaped catalog,
where `Timestamp` is spelled `TimeGenerated`. Then:

- the Python module (`run_rows`) is the oracle: it is the executable meaning
  of the rule language (docs/targets.md, "Python");
- each KQL text passes Microsoft's Kusto.Language with no error diagnostics
  and is run by duckdb-kql on the same events loaded as Kusto ingests them;
  a query duckdb-kql rejects is counted as unsupported, and a disagreement
  listed in `DUCKDB_DEVIATIONS` (the test module's list) is counted there;
- the SPL is run by the reference interpreter on the same events in the data
  mapping's shape; a rule the Splunk target refuses must fail with one of the
  documented refusals in `SPLUNK_REFUSALS`, and only when the rule contains
  that construct.

Rows compare as lists when the rule fully orders its output, as multisets
otherwise; a `take` over an order that is not total compares as "a sub-multiset
of the rows before the take, of the right size".
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

sys.path.insert(0, str(Path(__file__).with_name("spl")))

import kqlexec  # noqa: E402
from backends.kql import generate as generate_kql  # noqa: E402
from backends.python import generate_for_node, is_ordered, load_module  # noqa: E402
from backends.splunk_mapping import load_mapping  # noqa: E402
from backends.splunk_spl import SplError, SplGenerator  # noqa: E402
from interpreter import run_spl  # noqa: E402  (tests/spl)
from translator import ir  # noqa: E402
from translator.parser import parse_query  # noqa: E402
from translator.resolver import resolve  # noqa: E402
from translator.schema import Catalog  # noqa: E402
from translator.types import Type  # noqa: E402
from translator.values import format_datetime, parse_datetime  # noqa: E402

T = Type

# ---------------------------------------------------------------- the test catalog

# Two small tables that exercise every column type the strategies use. Process
# is the main table; Account is the right side of joins (it shares Key and
# Key2 with Process, and has its own Timestamp so that joins produce suffixes).
PROCESS = (
    ("Id", T.LONG),
    ("Timestamp", T.DATETIME),
    ("Name", T.STRING),
    ("Cmd", T.STRING),
    ("Num", T.LONG),
    ("Score", T.REAL),
    ("Flag", T.BOOL),
    ("Data", T.DYNAMIC),
    ("Json", T.STRING),
    ("Key", T.STRING),
    ("Key2", T.LONG),
)
ACCOUNT = (
    ("Key", T.STRING),
    ("Key2", T.LONG),
    ("Val", T.STRING),
    ("N", T.LONG),
    ("Timestamp", T.DATETIME),
)
TABLE_COLUMNS = {"Process": PROCESS, "Account": ACCOUNT}
SENTINEL_NAMES = {"Timestamp": "TimeGenerated"}


def _columns(spec, platform: str) -> tuple[ir.Column, ...]:
    rename = SENTINEL_NAMES if platform == "sentinel" else {}
    return tuple(ir.Column(rename.get(name, name), type_) for name, type_ in spec)


CATALOGS = {
    "defender": Catalog("defender", {t: _columns(s, "defender") for t, s in TABLE_COLUMNS.items()}),
    "sentinel": Catalog("sentinel", {t: _columns(s, "sentinel") for t, s in TABLE_COLUMNS.items()},
                        dict(SENTINEL_NAMES)),
}


def kusto_tables(platform: str) -> dict[str, list[list[str]]]:
    """The catalog in the shape `KustoChecker.analyze` takes."""
    return {t: [[c.name, c.type.value] for c in cols] for t, cols in CATALOGS[platform].tables.items()}


# ---------------------------------------------------------------- Splunk refusals


def _has_node(node: ir.Node, test: Callable[[Any], bool]) -> bool:
    """Whether any tabular node, aggregation, sort key or scalar under `node` passes `test`."""
    stack = [node]
    while stack:
        current = stack.pop()
        if test(current):
            return True
        stack.extend(ir.children(current))
        exprs: list = []
        if isinstance(current, ir.Filter):
            exprs.append(current.predicate)
        elif isinstance(current, ir.Project):
            exprs.extend(i.expr for i in current.items)
        elif isinstance(current, ir.Sort):
            exprs.extend(k.expr for k in current.keys)
        elif isinstance(current, ir.Aggregate):
            exprs.extend(k.expr for k in current.keys)
            for aggregation in current.aggregations:
                if test(aggregation):
                    return True
                exprs.extend(aggregation.args)
        for expr in exprs:
            if any(test(e) for e in ir.walk_exprs(expr)):
                return True
    return False


def _is(cls, **attrs) -> Callable[[Any], bool]:
    return lambda n: isinstance(n, cls) and all(
        (v(getattr(n, k)) if callable(v) else getattr(n, k) == v) for k, v in attrs.items())


_TIME = (T.DATETIME, T.TIMESPAN)


@dataclass(frozen=True)
class Refusal:
    """One documented Splunk refusal: the error text and the construct that must be present."""

    pattern: str
    construct: str
    why: str
    present: Callable[[ir.Node], bool]


SPLUNK_REFUSALS = (
    Refusal(r"the splunk target does not translate join kind=fullouter yet", "`join kind=fullouter`",
            "not written yet", lambda n: _has_node(n, _is(ir.Join, kind="fullouter"))),
    Refusal(r"the splunk target does not translate distinct over the \w+ column '[^']+' \(it may be null\) yet",
            "`distinct` over a non-string column", "`dedup` drops events missing a field; KQL keeps one null row",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Distinct)
                                and any(c.type is not T.STRING for c in x.columns))),
    Refusal(r"the splunk target does not translate summarize by the \w+ key '[^']+' \(it may be null\) yet",
            "`summarize ... by` a non-string key", "`stats` drops events missing a group field; KQL groups nulls",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Aggregate)
                                and any(k.expr.type is not T.STRING for k in x.keys))),
    Refusal(r"the splunk target does not translate the aggregate (make_set|make_list|arg_max|arg_min)\(\) yet",
            "`make_set`, `make_list`, `arg_max`, `arg_min`", "not written yet (earlier versions)",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Aggregation)
                                and x.func in ("make_set", "make_list", "arg_max", "arg_min"))),
    Refusal(r"the splunk target does not translate (dcount|min|max|sum|avg)\(\) of a (datetime|timespan|dynamic) value yet",
            "aggregates of datetime, timespan or dynamic values", "not written yet",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Aggregation) and x.args
                                and x.args[0].type in (T.DATETIME, T.TIMESPAN, T.DYNAMIC))),
    Refusal(r"the splunk target does not translate comparisons of (datetime|timespan) values yet",
            "comparisons of datetimes and timespans", "not written yet",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Compare)
                                and (x.left.type in _TIME or x.right.type in _TIME))),
    Refusal(r"the splunk target does not translate between on (datetime|timespan) values yet",
            "`between` on datetimes and timespans", "not written yet",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Between) and x.expr.type in _TIME)),
    Refusal(r"the splunk target does not translate (datetime|timespan) literals yet",
            "datetime and timespan literals", "not written yet",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Literal) and x.type in _TIME)),
    Refusal(r"the splunk target does not translate tostring\(\) of a \w+ value yet",
            "`tostring()` of bool, real, datetime, timespan", "not written yet",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Call) and x.name == "tostring"
                                and x.args[0].type not in (T.STRING, T.DYNAMIC, T.INT, T.LONG))),
    Refusal(r"the splunk target does not translate a \w+ value as text yet",
            "bool, real, datetime or timespan values used as text", "not written yet",
            lambda n: _has_node(n, lambda x: isinstance(x, (ir.ColumnRef, ir.Call, ir.Literal, ir.Path, ir.Arith))
                                and x.type not in (T.STRING, T.DYNAMIC, T.INT, T.LONG))),
    Refusal(r"the splunk target does not translate arithmetic on \w+ and \w+ yet",
            "arithmetic on datetimes and timespans", "not written yet",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Arith)
                                and not (x.left.type.is_numeric and x.right.type.is_numeric))),
    Refusal(r"the splunk target does not translate integer '[/%]' \(KQL truncates toward zero\) yet",
            "integer `/` and `%`", "eval divides as reals",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Arith) and x.op in ("/", "%"))),
    Refusal(r"the splunk target does not translate '%' yet", "`%` on reals", "not written yet",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Arith) and x.op == "%")),
    Refusal(r"the splunk target does not translate '\w+' against a computed value \(only literals\) yet",
            "string operators against a computed needle", "not written yet",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.StringMatch) and not isinstance(x.right, ir.Literal))),
    Refusal(r"the splunk target does not translate the function (ago|now|bin|todatetime|todouble|toreal|tobool|"
            r"totimespan|isnull|isnotnull|isempty|isnotempty|array_length)\(\) yet",
            "`ago()`, `now()`, `bin()` and a few conversions", "not written yet",
            lambda n: _has_node(n, _is(ir.Call))),
    Refusal(r"the splunk target does not translate (toint|tolong)\(\) of a \w+ value yet",
            "`toint()`/`tolong()` of reals, datetimes or bools", "not written yet",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Call) and x.name in ("toint", "tolong"))),
    Refusal(r"the splunk target does not translate .+ the column '[^']+', which avg\(\) may leave NaN, yet",
            "other uses of a column that `avg()` may leave NaN", "eval has no NaN value, so the SPL writes the text NaN",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Aggregation) and x.func == "avg")),
    Refusal(r"the splunk target cannot express the key '.*' in a dynamic path: spath paths separate keys with '\.' "
            r"and index with '\{\}', with no way to escape them",
            "dynamic keys containing `.`, `{`, `}`, `[`, `]`, quotes or spaces", "`spath` paths cannot escape them",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Path) and any(
                isinstance(s, str) and re.search(r"[.{}\[\]\"\s]", s) for s in x.steps))),
    Refusal(r"the splunk target cannot express the array index \[-\d+\]: spath counts array elements from the "
            r"start only", "negative array indexes", "`spath` counts from the start only",
            lambda n: _has_node(n, lambda x: isinstance(x, ir.Path) and any(
                isinstance(s, int) and s < 0 for s in x.steps))),
)


def check_splunk_refusal(node: ir.Node, error: SplError) -> Refusal:
    """Return the documented refusal `error` is; fail if it is undocumented or the rule lacks the construct."""
    message = str(error.message if hasattr(error, "message") else error)
    for refusal in SPLUNK_REFUSALS:
        if re.fullmatch(refusal.pattern, message):
            assert refusal.present(node), f"Splunk refused with {message!r}, but the rule has no {refusal.construct}"
            assert error.span.start >= 0, f"refusal without a position: {message}"
            assert error.span.end > error.span.start, f"refusal without a position: {message}"
            return refusal
    raise AssertionError(f"undocumented Splunk refusal: {message!r} ({error.kind})")


# ---------------------------------------------------------------- compiling


@dataclass
class Compiled:
    query: str
    node: ir.Node                     # resolved against the Defender shaped catalog
    sentinel_node: ir.Node
    python_source: str
    module: Any
    kql: dict[str, str]               # platform -> KQL text
    spl: str | None
    spl_refusal: SplError | None


_MAPPING = None


def splunk_mapping():
    global _MAPPING
    if _MAPPING is None:
        _MAPPING = load_mapping()
    return _MAPPING


def compile_query(query: str) -> Compiled:
    """Compile `query` for every target; resolver errors propagate (the strategies write valid rules)."""
    syntax = parse_query(query)
    node = resolve(syntax, CATALOGS["defender"]).node
    sentinel_node = resolve(syntax, CATALOGS["sentinel"]).node
    source = generate_for_node(node, name="equivalence case")
    module = load_module(source)
    kql = {"defender": generate_kql(node), "sentinel": generate_kql(sentinel_node)}
    try:
        spl, refusal = SplGenerator(splunk_mapping()).generate(node), None
    except SplError as exc:
        spl, refusal = None, exc
    return Compiled(query, node, sentinel_node, source, module, kql, spl, refusal)


# ---------------------------------------------------------------- running


def _python_rows(module, node: ir.Node, events: Mapping[str, Sequence[dict]]) -> list[dict]:
    tables = {name: [module.COERCE[name](e) for e in events.get(name, ())] for name in module.TABLES}
    return list(module.run_rows(tables))


def run_python(compiled: Compiled, events) -> list[tuple]:
    rows = _python_rows(compiled.module, compiled.node, events)
    return [tuple(kqlexec.canonical(r[c.name], c.type) for c in compiled.node.columns) for r in rows]


def sentinel_events(events) -> dict[str, list[dict]]:
    return {t: [{SENTINEL_NAMES.get(k, k): v for k, v in e.items()} for e in rows] for t, rows in events.items()}


def run_kql(compiled: Compiled, platform: str, events) -> list[tuple]:
    """Rows of the platform's KQL under duckdb-kql, in the Defender column order; `kqlexec.Unsupported` if rejected."""
    node = compiled.node if platform == "defender" else compiled.sentinel_node
    shaped = events if platform == "defender" else sentinel_events(events)
    con = kqlexec.connect(CATALOGS[platform].tables, shaped)
    try:
        rows = kqlexec.run(con, compiled.kql[platform], node.columns)
    finally:
        con.close()
    names = [c.name for c in node.columns]
    return [tuple(row[n] for n in names) for row in rows]


def splunk_events(events) -> dict[str, list[dict]]:
    """Events as Defender's streaming API writes them: datetimes as ISO 8601 UTC with seven digits."""
    out: dict[str, list[dict]] = {}
    for table, rows in events.items():
        types = dict(TABLE_COLUMNS[table])
        shaped = []
        for event in rows:
            shaped.append({k: (format_datetime(parse_datetime(v)) if types.get(k) is T.DATETIME and isinstance(v, str)
                               else v) for k, v in event.items()})
        out[table] = shaped
    return out


def run_splunk(compiled: Compiled, events) -> list[tuple]:
    rows = run_spl(compiled.spl, splunk_events(events))
    return [tuple(splunk_view(row.get(c.name), c.type, from_splunk=True) for c in compiled.node.columns) for row in rows]


# ---------------------------------------------------------------- value views


def _number_text(value: str):
    try:
        number = float(value)
    except ValueError:
        return value
    return number if math.isfinite(number) else value


def splunk_view(value: Any, type_: Type, from_splunk: bool = False) -> Any:
    """The comparable form of a value as Splunk can hold it: text fields, numbers from eval.

    Splunk fields are text, so a dynamic string "5" and a dynamic number 5 look
    the same there. This view maps both targets' values to that common form,
    and an object or array stays parsed JSON.
    """
    if type_ is T.STRING:
        return "" if value is None else str(value)
    if value is None or (from_splunk and value == "" and type_ is not T.DYNAMIC):
        return None
    if type_ is T.DATETIME:
        return parse_datetime(value) if isinstance(value, str) else int(value)
    if type_.is_numeric:
        number = float(value)
        return "NaN" if math.isnan(number) else number
    if type_ is T.BOOL:
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if type_ is T.DYNAMIC:
        if isinstance(value, list) and from_splunk:
            return [splunk_view(v, T.DYNAMIC, True) for v in value]
        if isinstance(value, str):
            if from_splunk and value[:1] in "[{":
                try:
                    return json.loads(value, strict=False)
                except ValueError:
                    return value
            return _number_text(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return float(value)
        return value
    return value


def _key(row: tuple) -> str:
    return json.dumps(row, sort_keys=True, default=str, ensure_ascii=False)


def multiset(rows: Iterable[tuple]) -> Counter:
    return Counter(_key(r) for r in rows)


# ---------------------------------------------------------------- ordering


@dataclass(frozen=True)
class Shape:
    """How a result may be compared: fully ordered, ordered by some columns, or a limited subset."""

    ordered: bool                     # the row order is defined
    order_columns: tuple[int, ...]    # positions whose values define the order (when not fully ordered)
    limited: ir.Node | None           # a take over an order that is not total: compare against this input


def _sort_positions(sort: ir.Sort, columns: Sequence[ir.Column]) -> tuple[int, ...] | None:
    names = [c.name for c in columns]
    positions = []
    for key in sort.keys:
        if not isinstance(key.expr, ir.ColumnRef) or key.expr.name not in names:
            return None
        positions.append(names.index(key.expr.name))
    return tuple(positions)


def _total(sort: ir.Sort) -> bool:
    """A sort is total when one of its keys is the unique `Id` of a one-table Process pipeline."""
    sources = ir.sources(sort)
    return (len(sources) == 1 and sources[0].table == "Process"
            and any(isinstance(k.expr, ir.ColumnRef) and k.expr.name == "Id" for k in sort.keys)
            and not _has_node(sort.input, lambda x: isinstance(x, (ir.Aggregate, ir.Project, ir.Join))))


def shape(node: ir.Node) -> Shape:
    """Decide how the result of `node` compares (the strategies put sorts and takes at the end)."""
    if isinstance(node, ir.Limit):
        inner = node.input
        if isinstance(inner, ir.Sort) and _total(inner):
            return Shape(True, (), None)
        if isinstance(inner, ir.Sort):
            positions = _sort_positions(inner, node.columns)
            return Shape(False, positions or (), inner)
        return Shape(False, (), inner)
    if isinstance(node, ir.Sort):
        if _total(node):
            return Shape(True, (), None)
        positions = _sort_positions(node, node.columns)
        return Shape(False, positions or (), None)
    return Shape(False, (), None)


# ---------------------------------------------------------------- comparing


class Disagreement(AssertionError):
    pass


def compare(label: str, expected: list[tuple], actual: list[tuple], how: Shape, superset: list[tuple] | None,
            count: int | None) -> None:
    """Assert that `actual` rows agree with the oracle's `expected` rows under `how`."""
    if how.ordered:
        if [_key(r) for r in expected] != [_key(r) for r in actual]:
            raise Disagreement(f"{label}: ordered rows differ\n  oracle: {expected}\n  {label}: {actual}")
        return
    if how.order_columns:
        exp_keys = [_key(tuple(r[i] for i in how.order_columns)) for r in expected]
        act_keys = [_key(tuple(r[i] for i in how.order_columns)) for r in actual]
        if exp_keys != act_keys:
            raise Disagreement(f"{label}: sort-key sequence differs\n  oracle: {exp_keys}\n  {label}: {act_keys}")
    if superset is not None:
        pool, got = multiset(superset), multiset(actual)
        if len(actual) != count or any(got[k] > pool[k] for k in got):
            raise Disagreement(f"{label}: not a sub-multiset of size {count} of the rows before take\n"
                               f"  before take: {superset}\n  {label}: {actual}")
        return
    if multiset(expected) != multiset(actual):
        missing = multiset(expected) - multiset(actual)
        extra = multiset(actual) - multiset(expected)
        raise Disagreement(f"{label}: rows differ\n  only in oracle: {list(missing.elements())}\n"
                           f"  only in {label}: {list(extra.elements())}")


def _unordered_array_columns(node: ir.Node) -> tuple[int, ...]:
    """Positions of make_set/make_list results: their element order is undefined (kql-semantics.md section 7)."""
    if not isinstance(node, ir.Aggregate):
        return ()
    names = [a.names[0] for a in node.aggregations if a.func in ("make_set", "make_list")]
    return tuple(i for i, c in enumerate(node.columns) if c.name in names)


def _sort_arrays(rows: list[tuple], positions: tuple[int, ...]) -> list[tuple]:
    if not positions:
        return rows
    out = []
    for row in rows:
        row = list(row)
        for i in positions:
            if isinstance(row[i], list):
                row[i] = sorted(row[i], key=lambda v: json.dumps(v, sort_keys=True, default=str))
        out.append(tuple(row))
    return out


@dataclass
class Stats:
    """Counts over the cases one session ran."""

    cases: int = 0
    kql_runs: int = 0
    kql_unsupported: Counter = field(default_factory=Counter)
    duckdb_deviations: Counter = field(default_factory=Counter)
    splunk_runs: int = 0
    splunk_refusals: Counter = field(default_factory=Counter)
    splunk_divergences: Counter = field(default_factory=Counter)

    def save(self) -> None:
        Path(STATS_FILE).write_text(self.line() + "\n", encoding="utf-8")

    def line(self) -> str:
        ran = self.kql_runs - sum(self.kql_unsupported.values())
        share = ran / self.kql_runs if self.kql_runs else 0.0
        return (f"{self.cases} cases; duckdb-kql ran {ran}/{self.kql_runs} KQL texts ({share:.1%}), unsupported "
                f"{dict(self.kql_unsupported)}; known duckdb-kql deviations {dict(self.duckdb_deviations)}; "
                f"SPL ran {self.splunk_runs}, refused {dict(self.splunk_refusals)}; known Splunk divergences "
                f"{dict(self.splunk_divergences)}")


STATS = Stats()
# Where to write the running counts (the long profile is read from it even if stopped by a time limit).
STATS_FILE = os.environ.get("RULECAST_EQUIVALENCE_STATS")

_UNSUPPORTED_REASON = re.compile(r"^[^:\n]{0,80}")


@dataclass(frozen=True)
class Deviation:
    """A known disagreement with the oracle whose cause is recorded: a duckdb-kql deviation from
    kql-semantics.md (the Python target is right), or an open Splunk target finding."""

    name: str
    reason: str
    applies: Callable[["Compiled", Mapping[str, Sequence[dict]]], bool]


def check(query: str, events: Mapping[str, Sequence[dict]], kusto=None,
          deviations: Sequence[Deviation] = (), splunk_divergences: Sequence[Deviation] = ()) -> Compiled:
    """Compile `query` for every target, run each on `events` and assert that all agree with the oracle."""
    compiled = compile_query(query)
    STATS.cases += 1
    if STATS_FILE and STATS.cases % 50 == 0:
        STATS.save()
    node = compiled.node
    how = shape(node)
    oracle = run_python(compiled, events)
    unordered = _unordered_array_columns(node)
    oracle = _sort_arrays(oracle, unordered)
    superset = count = None
    if how.limited is not None:
        before = load_module(generate_for_node(how.limited, name="before take"))
        rows = _python_rows(before, how.limited, events)
        superset = [tuple(kqlexec.canonical(r[c.name], c.type) for c in how.limited.columns) for r in rows]
        count = min(node.count, len(superset))
        compare("python", oracle, oracle, how, superset, count)

    for platform in ("defender", "sentinel"):
        text = compiled.kql[platform]
        if kusto is not None:
            analysis = kusto.analyze(text, kusto_tables(platform))
            assert not analysis.errors, f"Kusto.Language rejects the {platform} KQL:\n{text}\n{analysis.report()}"
        STATS.kql_runs += 1
        try:
            rows = _sort_arrays(run_kql(compiled, platform, events), unordered)
        except kqlexec.Unsupported as exc:
            STATS.kql_unsupported[f"{type(exc).__name__}: {_UNSUPPORTED_REASON.match(str(exc)).group(0)}"] += 1
            continue
        try:
            compare(f"duckdb-kql ({platform})", oracle, rows, how, superset, count)
        except Disagreement:
            known = [d for d in deviations if d.applies(compiled, events)]
            if not known:
                raise
            STATS.duckdb_deviations[known[0].name] += 1

    if compiled.spl_refusal is not None:
        refusal = check_splunk_refusal(node, compiled.spl_refusal)
        STATS.splunk_refusals[refusal.construct] += 1
        return compiled
    STATS.splunk_runs += 1
    spl_rows = _sort_arrays(run_splunk(compiled, events), unordered)
    view = [tuple(splunk_view(v, c.type) for v, c in zip(r, node.columns)) for r in oracle]
    spl_superset = None
    if superset is not None:
        spl_superset = [tuple(splunk_view(v, c.type) for v, c in zip(r, node.columns)) for r in superset]
    try:
        compare("splunk", view, spl_rows, how, spl_superset, count)
    except Disagreement:
        known = [d for d in splunk_divergences if d.applies(compiled, events)]
        if not known:
            raise
        STATS.splunk_divergences[known[0].name] += 1
    return compiled
