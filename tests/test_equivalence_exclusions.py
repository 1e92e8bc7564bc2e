"""Every target removes the same rows for a rule's exclusions, and exactly the rows its filters match.

Each property draws a query (tests/strategies.py), events with awkward
values, and then 1 to 4 exclusions over the query's output columns, with
values taken from the rows the query returns without them. The exclusions
use every form of the filter language (docs/rule-format.md, "Exclusions").
That is each wildcard position, quoted phrases, `field:*`, value
expressions, ranges, `not`/`and`/`or` in any case, escapes, `fields`
aliases, placeholders set and unset, and disabled exclusions, some of which
do not type against the output.

The rule is compiled the way `rulecast compile` does it: loaded from YAML,
resolved against the test catalog, `apply_exclusions` with the default
selection, then each target's `compile`. Every output then runs on the same
events. The Python module runs directly, and the Defender and Sentinel KQL
run under duckdb-kql after Kusto.Language accepts them. For Splunk, the
`savedsearch` search applies the exclusions inline, and the `contentctl`
search gets its `<rule>_filter` macro expanded from `--format macros`. Both
run under the reference interpreter. All must return the Python module's rows.

The Python module's rows are in turn checked against an oracle written
here: the rows without exclusions, minus those the oracle's own reading of
each filter removes. For single-table filter queries the oracle reads the
event dicts themselves; for the other shapes it reads the output rows.

Known disagreements reuse test_equivalence.py's lists, extended below where
an exclusion meets the same cause. Each one added here has a test that shows
it still happens.

The default profile runs 50 cases per property; `--hypothesis-profile=long`
runs as many as that profile sets (10,000).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Mapping, Sequence

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).with_name("spl")))

import equivalence as eq  # noqa: E402
import kqlexec  # noqa: E402
import strategies as s  # noqa: E402
from backends import CompileSettings, get_target  # noqa: E402
from backends.splunk import snake_name  # noqa: E402
from backends.splunk_spl import SplError, SplGenerator  # noqa: E402
from harness import conf_stanzas  # noqa: E402  (tests/spl)
from interpreter import run_spl  # noqa: E402  (tests/spl)
from test_equivalence import DUCKDB_DEVIATIONS, SPLUNK_DIVERGENCES, _has_integral_real  # noqa: E402
from translator import ir  # noqa: E402
from translator.compiler import Analysis, parse  # noqa: E402
from translator.diagnostics import RulecastError  # noqa: E402
from translator.exclusions import apply_exclusions  # noqa: E402
from translator.resolver import resolve  # noqa: E402
from translator.rule import Rule, load_rule_text  # noqa: E402
from translator.types import Type  # noqa: E402
from translator.values import parse_timespan_text  # noqa: E402

T = Type
RULE_NAME = "Exclusion equivalence probe"
FILTER_MACRO = snake_name(RULE_NAME) + "_filter"
SETTINGS = CompileSettings()

# ---------------------------------------------------------------- the rule file


def rule_yaml(query: str, exclusions: s.ExclusionSet) -> str:
    """Return the rule file a user would write for `query` with `exclusions`."""
    items = []
    for spec in exclusions.exclusions:
        item: dict[str, Any] = {"name": spec.name, "description": f"The scenario {spec.name}.", "filter": spec.filter}
        if not spec.enabled:
            item["enabled"] = False
        if spec.reason:
            item["reason"] = spec.reason
        if spec.placeholders:
            placeholders = {}
            for name, value in spec.placeholders.items():
                declared: dict[str, Any] = {"description": f"The value of {name}."}
                if value is not None:
                    declared["value"] = value
                elif spec.unset_style != "missing":
                    declared["value"] = None if spec.unset_style == "null" else ""
                placeholders[name] = declared
            item["placeholders"] = placeholders
        items.append(item)
    data: dict[str, Any] = {
        "id": "00000000-0000-4000-8000-00000000e0a1",
        "name": RULE_NAME,
        "description": "A generated query with generated exclusions.",
        "query": query + "\n",
    }
    if exclusions.fields:
        data["fields"] = dict(exclusions.fields)
    data["exclusions"] = items
    data["options"] = {"splunk": {"date": "2024-05-14"}}  # a contentctl detection needs its date
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1_000_000)


# ---------------------------------------------------------------- compiling as `rulecast compile` does


@dataclasses.dataclass
class CompiledRule:
    """Every target's output for one rule with its exclusions applied."""

    compiled: eq.Compiled             # node, KQL, Python module, and the savedsearch search as `spl`
    splunk_searches: dict[str, str]   # Splunk format -> the search a user runs
    splunk_error: RulecastError | None


def analysis_for(rule: Rule, platform: str) -> Analysis:
    """Analyze the rule as `translator.compiler.analyze` does, against the test catalog."""
    query = parse(rule)
    resolved = resolve(query, eq.CATALOGS[platform])
    return Analysis(rule, query, resolved.node, platform)


def _contentctl_search(splunk, analysis: Analysis) -> str | None:
    """Return the contentctl search with its filter macro expanded from `--format macros`.

    None when an exclusion reads a timespan column: the macro runs after the
    search's final `table`, where a timespan is text, so the contentctl and
    macros formats reject such a rule (the savedsearch format applies it inline).
    """
    try:
        search = yaml.safe_load(splunk.compile(analysis, "contentctl", SETTINGS)[0].text)["search"]
        macros = splunk.compile(analysis, "macros", SETTINGS)[0].text
    except RulecastError as exc:
        message = exc.diagnostics[0].message
        match = re.search(r"reads the timespan column '([^']+)', which is text in the", message)
        assert match, f"the contentctl format failed where the savedsearch format did not: {message}"
        assert match.group(1) in _applied_reads(analysis.node, T.TIMESPAN), message
        STATS.splunk_refusals["contentctl: an exclusion on a timespan column"] += 1
        return None
    definition = conf_stanzas(macros)[FILTER_MACRO]["definition"]
    call = f"\n| `{FILTER_MACRO}`"
    assert search.endswith(call)
    if definition == "search *":
        # NOTE: the reference interpreter's grammar has no `search` command after a pipe, so the
        # macro that applies no exclusion, `search *` (every row matches `*`), is expanded to nothing.
        return search[: -len(call)]
    return search[: -len(call)] + "\n| " + definition


def compile_rule(query: str, rule: Rule) -> CompiledRule:
    analyses = {}
    for platform in ("defender", "sentinel"):
        analysis = analysis_for(rule, platform)
        analysis.node = apply_exclusions(analysis, SETTINGS.exclusions)
        analyses[platform] = analysis
    kql = {p: get_target(p).compile(analyses[p], "query", SETTINGS)[0].text for p in ("defender", "sentinel")}
    defender = analyses["defender"]
    source = get_target("python").compile(defender, "module", SETTINGS)[0].text
    module = eq.load_module(source)
    splunk = get_target("splunk")
    searches: dict[str, str] = {}
    error = refusal = None
    try:
        stanzas = conf_stanzas(splunk.compile(defender, "savedsearch", SETTINGS)[0].text)
    except RulecastError as exc:
        error = exc
        try:
            SplGenerator(eq.splunk_mapping()).generate(defender.node)
        except SplError as spl_error:
            refusal = spl_error
    else:
        searches["savedsearch"] = stanzas[RULE_NAME]["search"]
        contentctl = _contentctl_search(splunk, defender)
        if contentctl is not None:
            searches["contentctl"] = contentctl
    compiled = eq.Compiled(query, defender.node, analyses["sentinel"].node, source, module, kql,
                           searches.get("savedsearch"), refusal)
    return CompiledRule(compiled, searches, error)


# ---------------------------------------------------------------- the oracle
#
# Plain Python over values, written from docs/rule-format.md. Strings match
# ignoring case (str.lower() of both sides), and a missing string is "".
# Dynamic values match by their text. A term on a null value is false. An
# unset placeholder's term is false, or true under an odd number of `not`s.

_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,7}))?)?)?(Z|[+-]\d\d:?\d\d)?")
_TICKS_PER_SECOND = 10_000_000
_TIMESPAN_UNITS = {"d": 86_400 * _TICKS_PER_SECOND, "h": 3_600 * _TICKS_PER_SECOND, "m": 60 * _TICKS_PER_SECOND,
                   "s": _TICKS_PER_SECOND, "ms": 10_000, "microsecond": 10, "tick": 1}


def datetime_ticks(text: str) -> int:
    """Return the 100-ns ticks since 0001-01-01 UTC of an ISO 8601 text, read as UTC when it has no zone."""
    match = _ISO.fullmatch(text)
    assert match, f"the oracle cannot read the datetime {text!r}"
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    ticks = (moment - datetime(1, 1, 1)) // timedelta(microseconds=1) * 10 + int((fraction or "").ljust(7, "0"))
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = (int(digits[:2]) * 60 + int(digits[2:])) * 60 * _TICKS_PER_SECOND
        ticks -= offset if zone[0] == "+" else -offset
    return ticks


def timespan_ticks(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]+)", text)
    assert match and match.group(2) in _TIMESPAN_UNITS, f"the oracle cannot read the timespan {text!r}"
    return round(float(match.group(1)) * _TIMESPAN_UNITS[match.group(2)])


def _json_number(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, list):
        return [_json_number(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_number(v) for k, v in value.items()}
    return value


def dynamic_text(value) -> str:
    """Return tostring() of a dynamic value (docs/targets.md, Python semantics)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(_json_number(value), ensure_ascii=False, separators=(",", ":"))


def event_value(event: Mapping, column: str, type_: Type):
    """Return a column's value in a raw event as the oracle reads it: "" for a missing string, else None for null."""
    value = event.get(column)
    if type_ is T.STRING:
        return value if isinstance(value, str) else ""
    if value is None:
        return None
    if type_ is T.DATETIME:
        return datetime_ticks(value)
    if type_ is T.REAL:
        return float(value)
    return value


def output_value(value, type_: Type):
    """Return a column's value in a canonical output row (`kqlexec.canonical`) as the oracle reads it."""
    if type_ is T.REAL and value == "NaN":
        return math.nan
    return value


def glob_matches(text: str, parts: Sequence) -> bool:
    """Return whether `text` matches the texts and wildcards `parts`, ignoring case (`*` spans line breaks too)."""
    text = text.lower()
    parts = [p if p is s.WILDCARD else p.lower() for p in parts]
    pieces = [p for p in parts if p is not s.WILDCARD]
    if len(pieces) == len(parts):
        return text == "".join(pieces)
    start, end = 0, len(text)
    if parts[0] is not s.WILDCARD:
        first = pieces.pop(0)
        if not text.startswith(first):
            return False
        start = len(first)
    if parts[-1] is not s.WILDCARD and pieces:
        last = pieces.pop()
        if not text.endswith(last) or len(text) - len(last) < start:
            return False
        end = len(text) - len(last)
    for piece in pieces:
        found = text.find(piece, start, end)
        if found < 0:
            return False
        start = found + len(piece)
    return True


def _typed(text: str, type_: Type):
    if type_ in (T.LONG, T.INT):
        return int(text)
    if type_ in (T.REAL, T.DECIMAL):
        return float(text)
    if type_ is T.BOOL:
        return text.lower() == "true"
    if type_ is T.DATETIME:
        return datetime_ticks(text)
    if type_ is T.TIMESPAN:
        return timespan_ticks(text)
    raise AssertionError(type_)


def pattern_holds(pattern: s.Pattern, value, type_: Type, placeholders: Mapping, positive: bool) -> bool:
    parts: list = []
    for part in pattern.parts:
        if isinstance(part, s.PlaceholderRef):
            if placeholders[part.name] is None:
                return not positive  # an unset placeholder's term makes the filter least true
            part = placeholders[part.name]
        if isinstance(part, str) and parts and isinstance(parts[-1], str):
            parts[-1] += part
        else:
            parts.append(part)
    if parts == [s.WILDCARD]:
        if type_ is T.STRING:
            return value != ""
        if type_ is T.DYNAMIC:
            return value is not None and value != ""
        return value is not None
    if type_ is T.STRING:
        return glob_matches(value, parts)
    if type_ is T.DYNAMIC:
        return glob_matches(dynamic_text(value), parts)
    return value is not None and value == _typed("".join(parts), type_)


def _logic(node, operand_holds, positive: bool) -> bool:
    if node.op == "not":
        return not operand_holds(node.operands[0], not positive)
    results = [operand_holds(o, positive) for o in node.operands]
    return all(results) if node.op == "and" else any(results)


def term_holds(term, row: Mapping, types: Mapping[str, Type], placeholders: Mapping, positive: bool = True) -> bool:
    """Return whether the filter `term` matches `row` (column -> value as the oracle reads it)."""
    if isinstance(term, s.LogicTerm):
        return _logic(term, lambda t, p: term_holds(t, row, types, placeholders, p), positive)
    type_ = types[term.column]
    value = row[term.column]
    if isinstance(term, s.RangeTerm):
        if value is None:
            return False
        if type_ in (T.LONG, T.INT) and not re.fullmatch(r"[+-]?\d+", term.value):
            bound = float(term.value)  # a fraction bounds an integer column as a real
        else:
            bound = _typed(term.value, type_)
        return {"<": value < bound, "<=": value <= bound, ">": value > bound, ">=": value >= bound}[term.op]

    def value_holds(node, positive: bool) -> bool:
        if isinstance(node, s.ValueLogic):
            return _logic(node, value_holds, positive)
        return pattern_holds(node, value, type_, placeholders, positive)

    return value_holds(term.value, positive)


def excluded(exclusions: s.ExclusionSet, row: Mapping, types: Mapping[str, Type]) -> list[str]:
    """Return the names of the enabled exclusions whose filters match `row`."""
    return [spec.name for spec in exclusions.exclusions
            if spec.enabled and term_holds(spec.term, row, types, spec.placeholders)]


# ---------------------------------------------------------------- known deviations


def _exclusion_reads(compiled: eq.Compiled, type_: Type) -> list[str]:
    """Return the output columns of `type_` that the rule's exclusion filters read."""
    return _applied_reads(compiled.node, type_)


def _applied_reads(node: ir.Node, type_: Type) -> list[str]:
    """Return the output columns of `type_` that the exclusion filters ending `node` read."""
    names = set()
    while isinstance(node, ir.Filter) and node.label is not None:
        names |= {e.name for e in ir.walk_exprs(node.predicate) if isinstance(e, ir.ColumnRef) and e.type is type_}
        node = node.input
    return sorted(names)


def _parsed_json(event):
    try:
        return json.loads(event.get("Json") or "")
    except (TypeError, ValueError):
        return None


def _dynamic_text_of_integral_real(compiled: eq.Compiled, events) -> bool:
    """An exclusion reads a dynamic output column, and an event's Data or Json contains an integral real (1000.0)."""
    if not _exclusion_reads(compiled, T.DYNAMIC):
        return False
    return any(_has_integral_real(e.get("Data")) or _has_integral_real(_parsed_json(e))
               for e in events.get("Process", ()))


def _dynamic_text_rewritten(compiled: eq.Compiled, events) -> bool:
    """An exclusion reads a dynamic output column, and an event's JSON text is not as KQL writes it.

    That is an integral real (1000.0) in Data or Json, or Json text of an
    object or array that is not compact JSON.
    """
    if _dynamic_text_of_integral_real(compiled, events):
        return True
    if not _exclusion_reads(compiled, T.DYNAMIC):
        return False
    for event in events.get("Process", ()):
        parsed = _parsed_json(event)
        if isinstance(parsed, (dict, list)) and event["Json"] != json.dumps(parsed, ensure_ascii=False,
                                                                             separators=(",", ":")):
            return True
    return False


def _named(deviations: Sequence[eq.Deviation], name: str) -> eq.Deviation:
    return next(d for d in deviations if d.name == name)


def _also_when(deviation: eq.Deviation, applies) -> eq.Deviation:
    """Return the named deviation, extended to the cases where `applies` returns true."""
    return eq.Deviation(deviation.name, deviation.reason,
                        lambda compiled, events: deviation.applies(compiled, events) or applies(compiled, events))


def _join(node: ir.Node) -> ir.Join | None:
    while not isinstance(node, (ir.Join, ir.Source)):
        node = ir.children(node)[0]
    return node if isinstance(node, ir.Join) else None


def _aggregate(node: ir.Node) -> ir.Aggregate | None:
    while isinstance(node, ir.Filter) and node.label is not None:
        node = node.input
    return node if isinstance(node, ir.Aggregate) else None


def _empty_string_cells(compiled: eq.Compiled) -> set[str]:
    """Return the output string columns that KQL may fill with "" for want of a value.

    Those are the columns of the side an outer join leaves unmatched, and the
    results of min, max, arg_max and arg_min, which are "" over no values.
    """
    names: set[str] = set()
    join = _join(compiled.node)
    if join is not None and join.kind in ("leftouter", "rightouter", "fullouter"):
        left = [c.name for c in join.columns[:len(join.left.columns)]]
        right = [c.name for c in join.columns[len(join.left.columns):]]
        names |= set({"leftouter": right, "rightouter": left, "fullouter": left + right}[join.kind])
    aggregate = _aggregate(compiled.node)
    if aggregate is not None:
        for aggregation in aggregate.aggregations:
            if aggregation.func in ("min", "max", "arg_max", "arg_min"):
                names |= {n for n, t in zip(aggregation.names, aggregation.types) if t is T.STRING}
    return names


def _empty_string_cell_read(compiled: eq.Compiled, events) -> bool:
    """An exclusion reads a string column that KQL may fill with "" for want of a value."""
    return bool(_empty_string_cells(compiled) & set(_exclusion_reads(compiled, T.STRING)))


_DATETIME_LITERAL = re.compile(r"datetime\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[1-9])Z\)")


def _sub_microsecond_literal(compiled: eq.Compiled, events) -> bool:
    """The KQL has a datetime literal with a seventh fractional digit, and an event's time is in its microsecond."""
    literals = {datetime_ticks(m) // 10 for m in _DATETIME_LITERAL.findall(compiled.kql["defender"])}
    times = (e.get("Timestamp") for rows in events.values() for e in rows)
    return any(isinstance(t, str) and datetime_ticks(t) // 10 in literals for t in times)


def _sub_microsecond_timespan(compiled: eq.Compiled, events) -> bool:
    """The output has a timespan column, and an event's time has a seventh fractional digit."""
    if not any(c.type is T.TIMESPAN for c in compiled.node.columns):
        return False
    times = (e.get("Timestamp") for rows in events.values() for e in rows)
    return any(isinstance(t, str) and datetime_ticks(t) % 10 for t in times)


_UNICODE_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u[0-9a-fA-F]{4}")


def _unicode_escape(compiled: eq.Compiled, events) -> bool:
    """The KQL writes a character as a `\\uXXXX` escape in a string literal."""
    return bool(_UNICODE_ESCAPE.search(compiled.kql["defender"]))


# An exclusion on a dynamic column matches the column's text, tostring(). So duckdb-kql's
# `.0` after integral reals inside dynamic values changes what an exclusion matches.
_INTEGRAL_REAL = _named(DUCKDB_DEVIATIONS, "tostring of a dynamic integral real keeps .0")
EXCLUSION_DUCKDB_DEVIATIONS = tuple(
    _also_when(d, _dynamic_text_of_integral_real) if d is _INTEGRAL_REAL else d for d in DUCKDB_DEVIATIONS) + (
    eq.Deviation(
        "a string cell without a value is null",
        "a KQL string is never null, so an outer join fills the unmatched side's string columns with \"\", "
        "and min, max, arg_max and arg_min of no values give \"\" (docs/targets.md, Python semantics); an "
        "exclusion such as Name:\"\" matches them. duckdb-kql leaves those cells null, and its =~ \"\" "
        "is not true for null",
        _empty_string_cell_read,
    ),
    eq.Deviation(
        "a \\uXXXX escape in a string literal is not decoded",
        "the KQL target writes control, format and separator characters in string literals as \\uXXXX "
        "(docs/targets.md), which Kusto.Language reads as the character; duckdb-kql compares with other text, "
        "so \"a\\u001bb\" does not equal a value holding ESC",
        _unicode_escape,
    ),
    eq.Deviation(
        "a timespan keeps microseconds only",
        "a timespan computed from datetimes counts 100-ns ticks in KQL; duckdb-kql holds it as a DuckDB "
        "INTERVAL, which counts microseconds, so datetime(2024-05-15) - datetime(2024-05-14T09:31:27.4412093Z) "
        "loses its last digit",
        _sub_microsecond_timespan,
    ),
    eq.Deviation(
        "a datetime literal keeps microseconds only",
        "KQL datetimes count 100-ns ticks, so datetime(2023-12-31T23:59:59.9999999Z) equals an event at that "
        "time; duckdb-kql reads the literal to the microsecond (23:59:59.999999), although it keeps all seven "
        "digits of the events' times",
        _sub_microsecond_literal,
    ),
)


# The SPL matches an exclusion on a dynamic column against the event's JSON text, as it does for tostring().
_EVENT_JSON_TEXT = _named(SPLUNK_DIVERGENCES, "tostring of a dynamic keeps the event's JSON text")
EXCLUSION_SPLUNK_DIVERGENCES = tuple(
    _also_when(d, _dynamic_text_rewritten) if d is _EVENT_JSON_TEXT else d for d in SPLUNK_DIVERGENCES)

# ---------------------------------------------------------------- running and comparing


STATS = eq.Stats()
REMOVAL = Counter()  # cases where the exclusions removed no row, some rows, or every row


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    print(f"\nequivalence with exclusions: {STATS.line()}; rows removed per case {dict(REMOVAL)}")


def _sorted_arrays(rows, node):
    return eq._sort_arrays(rows, eq._unordered_array_columns(node))


def _disagrees(label: str, expected, actual, how: eq.Shape, pool) -> None:
    """Raise `eq.Disagreement` unless `actual` agrees with `expected` (or, after a take, lies within `pool`)."""
    if pool is None:
        eq.compare(label, expected, actual, how, None, None)
        return
    # A take over an order that is not total keeps arbitrary rows, and the exclusions remove some of them
    # afterwards. So each target's rows are some of the rows before the take that the exclusions keep.
    limit = min(how.limited_count, len(pool))
    available, got = eq.multiset(pool), eq.multiset(actual)
    if len(actual) > limit or any(got[k] > available[k] for k in got):
        raise eq.Disagreement(f"{label}: not at most {limit} of the rows before the take that the exclusions keep\n"
                              f"  rows: {pool}\n  {label}: {actual}")


def _timespan_ticks(row: tuple, positions: Sequence[int]) -> tuple:
    """Convert a Splunk row's timespans, which the SPL prints as KQL does (`1.02:03:04.5`), to ticks."""
    if not positions:
        return row
    values = list(row)
    for i in positions:
        if isinstance(values[i], str):
            values[i] = parse_timespan_text(values[i])
    return tuple(values)


@dataclasses.dataclass(frozen=True)
class _Limited:
    """`eq.Shape` plus the take's row count."""

    ordered: bool
    order_columns: tuple
    limited: ir.Node | None
    limited_count: int


def _oracle_rows(unfiltered: list[tuple], node: ir.Node, events, exclusions: s.ExclusionSet,
                 events_oracle: bool) -> list[tuple]:
    """Return the rows without exclusions that the oracle keeps, reading each row's event or the row itself."""
    types = {c.name: c.type for c in node.columns}
    names = [c.name for c in node.columns]
    if events_oracle:
        by_id = {e["Id"]: e for e in events["Process"]}
        position = names.index("Id")
        readings = [{n: event_value(by_id[row[position]], n, types[n]) for n in names} for row in unfiltered]
    else:
        readings = [{n: output_value(v, types[n]) for n, v in zip(names, row)} for row in unfiltered]
    kept = [row for row, reading in zip(unfiltered, readings) if not excluded(exclusions, reading, types)]
    if len(kept) == len(unfiltered):
        REMOVAL["none"] += 1
    elif kept:
        REMOVAL["some"] += 1
    else:
        REMOVAL["all"] += 1
    return _sorted_arrays(kept, node)


def _take_pool(shape: eq.Shape, node: ir.Node, events, exclusions: s.ExclusionSet) -> list[tuple] | None:
    """Return, after a take over an order that is not total, the rows before the take that the oracle keeps."""
    if shape.limited is None:
        return None
    types = {c.name: c.type for c in node.columns}
    before = eq.load_module(eq.generate_for_node(shape.limited, name="before take"))
    names = [c.name for c in shape.limited.columns]
    rows = [tuple(kqlexec.canonical(r[c.name], c.type) for c in shape.limited.columns)
            for r in eq._python_rows(before, shape.limited, events)]
    pool = [row for row in rows
            if not excluded(exclusions, {n: output_value(v, types[n]) for n, v in zip(names, row)}, types)]
    return _sorted_arrays(pool, node)


def _check_kql(compiled: eq.Compiled, events, rows: list[tuple], how: _Limited, pool, kusto) -> None:
    for platform in ("defender", "sentinel"):
        text = compiled.kql[platform]
        analysis = kusto.analyze(text, eq.kusto_tables(platform))
        assert not analysis.errors, f"Kusto.Language rejects the {platform} KQL:\n{text}\n{analysis.report()}"
        STATS.kql_runs += 1
        try:
            actual = _sorted_arrays(eq.run_kql(compiled, platform, events), compiled.node)
        except kqlexec.Unsupported as exc:
            STATS.kql_unsupported[f"{type(exc).__name__}: {str(exc)[:60]}"] += 1
            continue
        try:
            _disagrees(f"duckdb-kql ({platform})", rows, actual, how, pool)
        except eq.Disagreement:
            known = [d for d in EXCLUSION_DUCKDB_DEVIATIONS if d.applies(compiled, events)]
            if not known:
                raise
            STATS.duckdb_deviations[known[0].name] += 1


def _check_splunk(built: CompiledRule, events, rows: list[tuple], how: _Limited, pool) -> None:
    compiled = built.compiled
    columns = compiled.node.columns
    if built.splunk_error is not None:
        assert compiled.spl_refusal is not None, f"Splunk packaging failed: {built.splunk_error.render()}"
        refusal = eq.check_splunk_refusal(compiled.node, compiled.spl_refusal)
        STATS.splunk_refusals[refusal.construct] += 1
        return
    view = [tuple(eq.splunk_view(v, c.type) for v, c in zip(r, columns)) for r in rows]
    view_pool = None if pool is None else [tuple(eq.splunk_view(v, c.type) for v, c in zip(r, columns)) for r in pool]
    timespans = [i for i, c in enumerate(columns) if c.type is T.TIMESPAN]
    for fmt, search in built.splunk_searches.items():
        STATS.splunk_runs += 1
        spl_rows = run_spl(search, eq.splunk_events(events))
        actual = [_timespan_ticks(tuple(eq.splunk_view(row.get(c.name), c.type, from_splunk=True) for c in columns),
                                  timespans) for row in spl_rows]
        try:
            _disagrees(f"splunk {fmt}", view, _sorted_arrays(actual, compiled.node), how, view_pool)
        except eq.Disagreement:
            known = [d for d in EXCLUSION_SPLUNK_DIVERGENCES if d.applies(compiled, events)]
            if not known:
                raise
            STATS.splunk_divergences[known[0].name] += 1


def check(query: str, events: Mapping[str, Sequence[dict]], draw_exclusions, kusto, events_oracle: bool) -> list:
    """Compile `query` with drawn exclusions for every target, run each on `events` and compare the rows.

    Return the Python module's rows, which every other target matched.

    `draw_exclusions(columns, samples)` draws the `ExclusionSet`. With
    `events_oracle` the query is `Process | where ... | project Id, ...` and
    the oracle reads each row's event (found by `Id`); otherwise it reads the
    output rows.
    """
    base = eq.compile_query(query)
    node = base.node
    unfiltered = eq.run_python(base, events)
    # Exclusions name columns as the rule writes them. Sentinel spells `Timestamp` as `TimeGenerated`,
    # but a join's `Timestamp1` as `TimeGenerated1`, which no rule can name for both platforms (the
    # query cannot either). Arrays from make_set and make_list have no defined order to match.
    unordered = set(eq._unordered_array_columns(node))
    sentinel_names = {c.name for c in base.sentinel_node.columns}
    columns = [(c.name, c.type) for i, c in enumerate(node.columns)
               if i not in unordered and eq.SENTINEL_NAMES.get(c.name, c.name) in sentinel_names]
    samples = {c.name: [row[i] for row in unfiltered] for i, c in enumerate(node.columns)}
    exclusions = draw_exclusions(columns, samples)

    built = compile_rule(query, load_rule_text(rule_yaml(query, exclusions), "<equivalence>"))
    STATS.cases += 1
    rows = _sorted_arrays(eq.run_python(built.compiled, events), node)
    kept = _oracle_rows(unfiltered, node, events, exclusions, events_oracle)
    shape = eq.shape(node)
    if shape.limited is None:
        eq.compare("python with exclusions against the oracle", kept, rows, shape, None, None)
    else:
        assert eq.multiset(kept) == eq.multiset(rows), (
            f"python with exclusions against the oracle\n  oracle: {kept}\n  python: {rows}")

    how = _Limited(shape.ordered, shape.order_columns, shape.limited, getattr(node, "count", 0))
    pool = _take_pool(shape, node, events, exclusions)
    _check_kql(built.compiled, events, rows, how, pool, kusto)
    _check_splunk(built, events, rows, how, pool)
    return rows


# ---------------------------------------------------------------- properties

_CASES = settings.default.max_examples
PROPERTY = settings(max_examples=50 if _CASES <= 100 else _CASES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _drawer(data):
    return lambda columns, samples: data.draw(s.exclusion_sets(columns, samples), label="exclusions")


@PROPERTY
@given(query=s.filter_queries(min_wheres=0, max_wheres=1), events=s.events(min_process=2), data=st.data())
def test_filter_exclusions_agree(kusto, query, events, data):
    check(query, events, _drawer(data), kusto, events_oracle=True)


OTHER_SHAPES = st.one_of(s.projection_queries(), s.join_queries(), s.summarize_queries(), s.distinct_queries(),
                         s.sort_queries(), s.timespan_queries())


@PROPERTY
@given(query=OTHER_SHAPES, events=s.events(min_process=2), data=st.data())
def test_exclusions_after_every_shape_agree(kusto, query, events, data):
    check(query, events, _drawer(data), kusto, events_oracle=False)


# ---------------------------------------------------------------- fixed cases on every target


def _spec(name: str, term, placeholders: dict | None = None, enabled: bool = True) -> s.ExclusionSpec:
    return s.ExclusionSpec(name, s.render_term(term), term, enabled, None if enabled else "Off.", placeholders or {})


def _fixed(*specs: s.ExclusionSpec, fields: dict | None = None):
    return lambda columns, samples: s.ExclusionSet(fields or {}, specs)


W = s.WILDCARD
FIXED_EVENTS = {
    "Process": [
        {"Id": 1, "Name": "a*b", "Num": 5, "Timestamp": "2023-12-31T23:59:59Z"},
        {"Id": 2, "Name": "A*B and more", "Num": None, "Timestamp": "2024-05-14T09:31:27Z"},
        {"Id": 3, "Name": 'say "hi"', "Num": 7},
        {"Id": 4, "Name": "C:\\Windows\\cmd.exe", "Timestamp": "2024-05-14T11:31:27+02:00"},
        {"Id": 5, "Num": 2147483648, "Timestamp": "2024-05-15"},
        {"Id": 6, "Name": "ünï and cödé", "Num": -3},
    ],
    "Account": [],
}
FIXED_QUERY = "Process\n| project Id, Name, Num, Timestamp"


def test_time_column_exclusions_agree(kusto):
    # `Timestamp` and an alias of it name Sentinel's `TimeGenerated`, as the query's own names do.
    old = s.RangeTerm("Timestamp", "Timestamp", "<", "2024-01-01T00:00:00Z")
    instant = s.MatchTerm("sent", "Timestamp", s.Pattern(("2024-05-14T09:31:27Z",), quoted=True))
    rows = check(FIXED_QUERY, FIXED_EVENTS, _fixed(_spec("old", s.LogicTerm("or", (old, instant))),
                                                   fields={"sent": "Timestamp"}), kusto, events_oracle=True)
    assert sorted(row[0] for row in rows) == [3, 5, 6]


def test_placeholders_in_every_term_agree(kusto):
    exists_and_unset = s.LogicTerm("and", (s.MatchTerm("Num", "Num", s.Pattern((W,))),
                                           s.MatchTerm("Name", "Name", s.Pattern((s.PlaceholderRef("p0"),)))))
    number_unset = s.LogicTerm("or", (s.MatchTerm("Num", "Num", s.Pattern((s.PlaceholderRef("p0"),))),
                                      s.MatchTerm("Id", "Id", s.Pattern(("3",)))))
    number_set = s.MatchTerm("Num", "Num", s.Pattern((s.PlaceholderRef("p0"),)))
    starred = s.MatchTerm("Name", "Name", s.Pattern((W, s.PlaceholderRef("p0"), W)))
    rows = check(FIXED_QUERY, FIXED_EVENTS, _fixed(
        _spec("exists and unset", exists_and_unset, {"p0": None}),
        _spec("number unset", number_unset, {"p0": None}),
        _spec("number set", number_set, {"p0": "-3"}),
        _spec("star in the value", starred, {"p0": "A*B"}),
    ), kusto, events_oracle=True)
    assert sorted(row[0] for row in rows) == [4, 5]


def test_escaped_and_quoted_values_agree(kusto):
    literal_star = s.MatchTerm("Name", "Name", s.Pattern(("a*b",)))
    quoted = s.MatchTerm("Name", "Name", s.Pattern(('say "hi"',), quoted=True))
    keyword = s.MatchTerm("Name", "Name", s.Pattern((W, "ünï and", W)))
    path = s.MatchTerm("Name", "Name", s.Pattern(("c:\\windows\\", W)))
    rows = check(FIXED_QUERY, FIXED_EVENTS, _fixed(*(_spec(f"value {i}", term) for i, term in
                                                     enumerate((literal_star, quoted, keyword, path)))),
                 kusto, events_oracle=True)
    assert sorted(row[0] for row in rows) == [2, 5]


# ---------------------------------------------------------------- known deviations still happen


def _empty_name_rule(query: str) -> Rule:
    empty = _spec("empty name", s.MatchTerm("Name", "Name", s.Pattern(("",), quoted=True)))
    return load_rule_text(rule_yaml(query, s.ExclusionSet({}, (empty,))), "<deviation>")


def test_duckdb_empty_string_cells_still_differ():
    deviation = _named(EXCLUSION_DUCKDB_DEVIATIONS, "a string cell without a value is null")
    query = "Process\n| project Id, Name\n| join kind=rightouter (Account) on $left.Name == $right.Val"
    compiled = compile_rule(query, _empty_name_rule(query)).compiled
    events = {"Process": [{"Id": 1, "Name": "x"}], "Account": [{"Val": "abc"}, {"Val": "x"}]}
    matched = (1, "x", "", None, "x", None, None)
    assert eq.run_python(compiled, events) == [matched]
    assert eq.multiset(eq.run_kql(compiled, "defender", events)) == eq.multiset(
        [matched, (None, "", "", None, "abc", None, None)])
    assert deviation.applies(compiled, events)

    query = "Process\n| summarize arg_max(Num, Name)"
    compiled = compile_rule(query, _empty_name_rule(query)).compiled
    assert eq.run_python(compiled, {"Process": [], "Account": []}) == []
    assert eq.run_kql(compiled, "defender", {"Process": [], "Account": []}) == [(None, "")]
    assert deviation.applies(compiled, events)


def test_duckdb_datetime_literal_ticks_still_differ():
    compiled = eq.compile_query("Process | where Timestamp == datetime(2023-12-31T23:59:59.9999999Z) | project Id")
    events = {"Process": [{"Id": 1, "Timestamp": "2023-12-31T23:59:59.9999999Z"}], "Account": []}
    assert eq.run_python(compiled, events) == [(1,)]
    assert eq.run_kql(compiled, "defender", events) == []
    assert _named(EXCLUSION_DUCKDB_DEVIATIONS, "a datetime literal keeps microseconds only").applies(compiled, events)


def test_duckdb_timespan_ticks_still_differ():
    compiled = eq.compile_query("Process | project Age = datetime(2024-05-15) - Timestamp")
    events = {"Process": [{"Id": 1, "Timestamp": "2024-05-14T09:31:27.4412093Z"}], "Account": []}
    assert eq.run_python(compiled, events) == [(521125587907,)]
    assert eq.run_kql(compiled, "defender", events) == [(521125587910,)]
    assert _named(EXCLUSION_DUCKDB_DEVIATIONS, "a timespan keeps microseconds only").applies(compiled, events)


def test_duckdb_unicode_escape_still_differs():
    compiled = eq.compile_query('Process | where Name =~ "a\\u001bb" | project Id')
    assert "\\u001b" in compiled.kql["defender"]
    events = {"Process": [{"Id": 1, "Name": "a\x1bb"}], "Account": []}
    assert eq.run_python(compiled, events) == [(1,)]
    assert eq.run_kql(compiled, "defender", events) == []
    deviation = _named(EXCLUSION_DUCKDB_DEVIATIONS, "a \\uXXXX escape in a string literal is not decoded")
    assert deviation.applies(compiled, events)


def test_dynamic_exclusion_integral_real_still_differs():
    query = "Process\n| project Id, Data"
    term = s.MatchTerm("Data", "Data", s.Pattern((W, ":2.0", W)))
    rule = load_rule_text(rule_yaml(query, s.ExclusionSet({}, (_spec("two point oh", term),))), "<deviation>")
    built = compile_rule(query, rule)
    events = {"Process": [{"Id": 1, "Data": {"k": 2.0}}], "Account": []}
    assert eq.run_python(built.compiled, events) == [(1, {"k": 2.0})]  # its text is {"k":2}
    assert eq.run_kql(built.compiled, "defender", events) == []
    assert run_spl(built.splunk_searches["savedsearch"], eq.splunk_events(events)) == []
    assert _named(EXCLUSION_DUCKDB_DEVIATIONS, _INTEGRAL_REAL.name).applies(built.compiled, events)
    assert _named(EXCLUSION_SPLUNK_DIVERGENCES, _EVENT_JSON_TEXT.name).applies(built.compiled, events)


# ---------------------------------------------------------------- the oracle on the documented examples


def _holds(term, row: dict, types: dict, placeholders: dict | None = None) -> bool:
    return term_holds(term, row, types, placeholders or {})


def test_oracle_wildcards_and_phrases():
    types = {"Subject": T.STRING}
    contains = s.MatchTerm("Subject", "Subject", s.Pattern((W, "invoice", W)))
    assert _holds(contains, {"Subject": "Your INVOICE is due"}, types)
    assert not _holds(contains, {"Subject": ""}, types)
    middle = s.MatchTerm("Subject", "Subject", s.Pattern(("a", W, "b")))
    assert _holds(middle, {"Subject": "A\nB"}, types)  # `*` spans line breaks
    assert not _holds(middle, {"Subject": "axxbc"}, types)
    assert not _holds(s.MatchTerm("Subject", "Subject", s.Pattern(("ab", W, "b"))), {"Subject": "ab"}, types)
    phrase = s.MatchTerm("Subject", "Subject", s.Pattern(("a*b",), quoted=True))
    assert _holds(phrase, {"Subject": "A*B"}, types)
    assert not _holds(phrase, {"Subject": "axb"}, types)
    exists = s.MatchTerm("Subject", "Subject", s.Pattern((W,)))
    assert not _holds(exists, {"Subject": event_value({}, "Subject", T.STRING)}, types)
    assert _holds(s.MatchTerm("Subject", "Subject", s.Pattern(("",), quoted=True)), {"Subject": ""}, types)


def test_oracle_nulls_and_placeholders():
    types = {"Level": T.LONG, "Subject": T.STRING, "Conf": T.DYNAMIC}
    five = s.MatchTerm("Level", "Level", s.Pattern(("5",)))
    assert _holds(s.LogicTerm("not", (five,)), {"Level": None}, types)  # `not Level:5` matches a null level
    assert not _holds(s.RangeTerm("Level", "Level", ">=", "10"), {"Level": None}, types)
    assert _holds(s.RangeTerm("Level", "Level", "<", "2.5"), {"Level": 2}, types)
    assert _holds(s.MatchTerm("Conf", "Conf", s.Pattern(("{\"a\":1000}",))), {"Conf": {"a": 1000.0}}, types)
    unset = s.MatchTerm("Subject", "Subject", s.Pattern((s.PlaceholderRef("p"),)))
    either = s.LogicTerm("or", (five, unset))
    assert _holds(either, {"Level": 5, "Subject": "x"}, types, {"p": None})
    assert not _holds(either, {"Level": 4, "Subject": "x"}, types, {"p": None})
    assert not _holds(s.LogicTerm("not", (unset,)), {"Level": 4, "Subject": "x"}, types, {"p": None})
    assert _holds(either, {"Level": 4, "Subject": "X"}, types, {"p": "x"})

