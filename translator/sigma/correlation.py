"""Sigma correlation rules compiled to summarize-based IR.

Every correlation counts within fixed time windows: events fall into the
window `bin(time, timespan)` and groups are keyed by the `group-by` fields
and the window, as pySigma's backends do too. A sliding window cannot be
written as one `summarize`, so rulecast does not promise one (see docs/sigma.md).

- `event_count`: `count()` of the events of the referenced rules, compared
  with the condition.
- `value_count`: the distinct non-empty values of the condition's `field`
  (`make_set`, which is exact, not `dcount`, which estimates), counted with
  `array_length`.
- `temporal`: every referenced rule matches at least once in the window
  (`countif` per rule).
- `temporal_ordered` with two rules: the first rule's earliest event comes
  before the second rule's latest one; more rules are refused, since no
  single `summarize` can check a chain of three or more.

All referenced rules must read the same table in the target; `aliases` and
the v2.1 types (`value_sum`, `value_avg`, `value_percentile`) are refused
with a reason.
"""

from __future__ import annotations

import re

from translator import ir
from translator.sigma.convert import Translator, logical
from translator.sigma.mapping import Refusal, load_mapping
from translator.types import Type

TICKS_PER_SECOND = 10_000_000
_OPS = {"LT": "<", "LTE": "<=", "GT": ">", "GTE": ">=", "EQ": "==", "NEQ": "!="}
_TIME_COLUMNS = ("Timestamp", "TimeGenerated")


def correlation_node(document, target: str, sigma_set, mapping_path: str | None = None) -> ir.Node:
    from translator.sigma.rules import rule_predicate

    correlation = document.sigma
    kind = str(correlation.type.name).lower()
    if kind not in ("event_count", "value_count", "temporal", "temporal_ordered"):
        raise Refusal(f"correlation type '{kind}' is not supported", "unsupported correlation")
    if correlation.aliases and correlation.aliases.aliases:
        raise Refusal("correlation field aliases are not supported", "unsupported correlation")
    if not correlation.rules:
        raise Refusal("a correlation without a rules list is not supported", "unsupported correlation")
    mapping = load_mapping(target, mapping_path)
    bases = []
    for reference in correlation.rules:
        base = sigma_set.find(reference.reference)
        if base is None:
            raise Refusal(f"correlation refers to rule '{reference.reference}', which is not among the input files",
                          "correlation without its rules")
        bases.append(base)
    entries = []
    for base in bases:
        source = base.sigma.logsource
        entries.append(mapping.logsource(source.product, source.category, source.service))
    tables = {e.table for e in entries}
    if len(tables) != 1:
        raise Refusal(f"the correlated rules read different tables ({', '.join(sorted(tables))}); "
                      "a correlation across tables needs a union, which rulecast does not have",
                      "correlation across tables")
    entry = entries[0]
    translator = Translator(mapping, entry, mapping.table(entry), sigma_set.placeholders)
    predicates = [logical("and", translator.where() + [rule_predicate(base, translator)]) for base in bases]
    time = _time(translator)
    span = ir.Literal(correlation.timespan.seconds * TICKS_PER_SECOND, Type.TIMESPAN)
    keys = [ir.ProjectItem(_name(field), translator.field(field)[0]) for field in (correlation.group_by or ())]
    keys.append(ir.ProjectItem("window_start", ir.Call("bin", (time, span), Type.DATETIME)))
    names = {k.name for k in keys}
    if len(names) != len(keys):
        raise Refusal("two group-by fields have the same name", "unsupported correlation")
    condition = correlation.condition
    op = _OPS[condition.op.name]
    source = translator.source()
    events: ir.Node = ir.Filter(source, logical("or", predicates), source.columns)

    if kind == "event_count":
        aggregations = [ir.Aggregation("count", (), ("event_count",), (Type.LONG,))]
        test = ir.Compare(op, ir.ColumnRef("event_count", Type.LONG), _number(condition.count))
    elif kind == "value_count":
        if not condition.fieldref or not isinstance(condition.fieldref, str):
            raise Refusal("value_count needs one condition field", "invalid rule")
        value = translator.field(condition.fieldref)[0]
        present = ir.Call("isnotempty" if value.type is Type.STRING else "isnotnull", (value,), Type.BOOL)
        events = ir.Filter(events, present, events.columns)
        aggregations = [ir.Aggregation("make_set", (value,), ("distinct_values",), (Type.DYNAMIC,))]
        count = ir.Call("array_length", (ir.ColumnRef("distinct_values", Type.DYNAMIC),), Type.LONG)
        test = ir.Compare(op, count, _number(condition.count))
    elif kind == "temporal":
        if not (condition.op.name == "GTE" and condition.count == len(bases)):
            raise Refusal("temporal correlations are supported with their default condition (all rules match)",
                          "unsupported correlation")
        aggregations = [ir.Aggregation("countif", (p,), (f"rule{i + 1}_events",), (Type.LONG,))
                        for i, p in enumerate(predicates)]
        test = logical("and", [ir.Compare(">", ir.ColumnRef(a.names[0], Type.LONG), ir.Literal(0, Type.LONG))
                               for a in aggregations])
    else:
        if len(bases) != 2:
            raise Refusal("temporal_ordered is supported for two rules; an order of three or more cannot be "
                          "checked by one summarize", "unsupported correlation")
        null_time = ir.Literal(None, Type.DATETIME)
        first = ir.Call("iff", (predicates[0], time, null_time), Type.DATETIME)
        last = ir.Call("iff", (predicates[1], time, null_time), Type.DATETIME)
        aggregations = [ir.Aggregation("min", (first,), ("rule1_first",), (Type.DATETIME,)),
                        ir.Aggregation("max", (last,), ("rule2_last",), (Type.DATETIME,))]
        test = ir.Compare("<", ir.ColumnRef("rule1_first", Type.DATETIME), ir.ColumnRef("rule2_last", Type.DATETIME))
    columns = tuple(ir.Column(k.name, k.expr.type) for k in keys) + tuple(
        ir.Column(a.names[0], a.types[0]) for a in aggregations)
    summary = ir.Aggregate(events, tuple(keys), tuple(aggregations), columns)
    return ir.Filter(summary, test, columns)


def _time(translator: Translator) -> ir.Expr:
    for name in _TIME_COLUMNS:
        column = translator.columns.get(name)
        if column is not None and column.type is Type.DATETIME:
            return ir.ColumnRef(name, Type.DATETIME)
    column = translator.columns.get("TimeCreated")
    if column is not None:
        return ir.Call("todatetime", (ir.ColumnRef("TimeCreated", column.type),), Type.DATETIME)
    raise Refusal(f"table {translator.table.name} has no event time column for a correlation window",
                  "correlation without a time column")


def _name(field: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", field)


def _number(value) -> ir.Literal:
    return ir.Literal(value, Type.LONG if isinstance(value, int) else Type.REAL)
