"""The `python` target: a standalone Python module that evaluates a rule.

The module needs only the standard library. Its code follows the IR: each
chain of streaming operators (where, project, take, distinct) becomes one
generator function with a comment giving the KQL of each step, and each
blocking operator (join, sort, summarize) one function. Expressions compile to
plain Python where KQL and Python agree (string equality, `in` on a set) and
to small runtime helpers where they do not (nulls, `has`, integer division).
The runtime (`backends/python_runtime.py`) is copied into the module.

A generated module exposes:

- `run(tables, now=None)`: rows of the result as dicts, datetimes and
  timespans in KQL's printed form;
- `run_rows(tables, now=None)`: the result rows as a generator, in the typed
  representation described in the runtime, from already converted rows;
- `COERCE`: table name -> function converting one JSON event into a row,
  raising `MalformedEvent` for a value of the wrong type;
- `match(event)`, for rules over one table made only of where and project;
- `RULE_ID`, `RULE_NAME`, `RULE_VERSION`, `TABLES`, `COLUMNS`, `ORDERED`,
  `PREFILTER` (literals that every matching JSON line contains).
"""

from __future__ import annotations

import math
import re
import types
from dataclasses import dataclass
from pathlib import Path

from backends import Artifact, CompileSettings
from backends.kql import KqlGenerator, project_stage
from backends.python_prefilter import table_prefilters
from translator import ir
from translator.diagnostics import Diagnostic, RulecastError
from translator.regex import to_python as regex_to_python
from translator.types import Type

RUNTIME_PATH = Path(__file__).with_name("python_runtime.py")
_RUNTIME_MARKER = "# ---- RUNTIME"

_INPUT_CONVERTERS = {
    Type.STRING: "_in_string",
    Type.BOOL: "_in_bool",
    Type.INT: "_in_int",
    Type.LONG: "_in_long",
    Type.REAL: "_in_real",
    Type.DECIMAL: "_in_real",
    Type.DATETIME: "_in_datetime",
    Type.TIMESPAN: "_in_timespan",
    Type.GUID: "_in_guid",
    Type.DYNAMIC: "_in_dynamic",
}

_TOSTRING = {
    Type.BOOL: "_tostring_bool",
    Type.INT: "_tostring_long",
    Type.LONG: "_tostring_long",
    Type.REAL: "_tostring_real",
    Type.DECIMAL: "_tostring_real",
    Type.DATETIME: "_tostring_datetime",
    Type.TIMESPAN: "_tostring_timespan",
    Type.GUID: "_tostring_long",
    Type.DYNAMIC: "_tostring_dynamic",
}

_DYN_AS = {
    Type.STRING: "_dyn_as_str",
    Type.GUID: "_dyn_as_str",
    Type.INT: "_dyn_as_number",
    Type.LONG: "_dyn_as_number",
    Type.REAL: "_dyn_as_number",
    Type.DECIMAL: "_dyn_as_number",
    Type.BOOL: "_dyn_as_bool",
    Type.DATETIME: "_dyn_as_datetime",
    Type.TIMESPAN: "_dyn_as_timespan",
}

_COMPARE_HELPERS = {"==": "_eq", "!=": "_ne", "<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}
_MAX_SET_SIZE = 1_048_576


@dataclass(frozen=True)
class PythonTarget:
    name: str = "python"
    platform: str = "defender"
    formats: tuple[str, ...] = ("module",)
    option_keys: tuple[str, ...] = ()

    def compile(self, analysis, fmt: str, settings: CompileSettings) -> list[Artifact]:
        if fmt != "module":
            raise NotImplementedError(fmt)
        return [Artifact(generate_module(analysis), "py", fmt)]


TARGETS = {"python": PythonTarget()}


def generate_module(analysis) -> str:
    """Return the source of the Python module for an analysed rule."""
    rule = analysis.rule
    return ModuleGenerator(analysis.node, rule.id, rule.name, rule.version, rule.path).generate()


def generate_for_node(node: ir.Node, rule_id: str = "", name: str = "query", version: str | None = None) -> str:
    """Return module source for a bare IR tree (used for queries outside rule files)."""
    return ModuleGenerator(node, rule_id, name, version, None).generate()


def load_module(source: str, name: str = "rulecast_rule") -> types.ModuleType:
    """Execute generated module source and return the module object."""
    module = types.ModuleType(name)
    module.__file__ = f"<{name}>"
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own generated code
    return module


def is_ordered(node: ir.Node) -> bool:
    """Return whether the rule defines its output order: a sort with only streaming operators after it."""
    while isinstance(node, (ir.Filter, ir.Project, ir.Limit)):
        node = node.input
    return isinstance(node, ir.Sort)


def streams_single_table(node: ir.Node) -> bool:
    """Return whether each event can be decided alone: one table, only where and project."""
    while isinstance(node, (ir.Filter, ir.Project)):
        node = node.input
    return isinstance(node, ir.Source)


def runtime_source() -> str:
    text = RUNTIME_PATH.read_text(encoding="utf-8")
    return text[text.index(_RUNTIME_MARKER):]


def _py(value) -> str:
    """Write a Python literal for a plain value (str, int, float, bool, None, JSON)."""
    if isinstance(value, float):
        if math.isnan(value):
            return "math.nan"
        if math.isinf(value):
            return "math.inf" if value > 0 else "-math.inf"
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(k)}: {_py(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_py(v) for v in value) + "]"
    return repr(value)


def _parenthesized(text: str) -> str:
    """Wrap the Python expression `text` in parentheses unless one pair already encloses all of it.

    Parentheses inside string literals do not count: in `(x == '(') and (y)`
    the first pair closes before the end.
    """
    if text.startswith("(") and text.endswith(")"):
        depth = 0
        index = 0
        while index < len(text):
            char = text[index]
            if char in "'\"":
                index = _string_end(text, index)
                continue
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and index < len(text) - 1:
                break
            index += 1
        else:
            return text
    return f"({text})"


def _string_end(text: str, start: int) -> int:
    """Return the index after the string literal that opens at `text[start]`, as `repr()` writes it."""
    quote = text[start]
    index = start + 1
    while index < len(text) and text[index] != quote:
        index += 2 if text[index] == "\\" else 1
    return index + 1


def _escape_docstring(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _docstring(text: str) -> str:
    """Write `text` (KQL, which may contain backslashes and quotes) as a one-line docstring."""
    return '"""' + _escape_docstring(" ".join(text.split())) + '"""'


def _comment(text: str) -> str:
    return "# " + " ".join(text.split())


class ModuleGenerator:
    """Writes one module: header, public functions, pipeline functions, runtime."""

    def __init__(self, node: ir.Node, rule_id: str, name: str, version: str | None, path: str | None):
        self.root = node
        self.rule_id = rule_id
        self.name = name
        self.version = version
        self.path = path
        self.functions: list[str] = []
        self.constants: list[str] = []
        self.counter = 0
        self.kql = KqlGenerator()

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"_{stem}_{self.counter}"

    def constant(self, stem: str, text: str) -> str:
        name = self.fresh(stem).upper()
        self.constants.append(f"{name} = {text}")
        return name

    # ------------------------------------------------------------ module

    def generate(self) -> str:
        final = self.stream(self.root)
        sources = ir.sources(self.root)
        tables = sorted({s.table for s in sources})
        reused = sorted({s.table for s in sources if sum(1 for t in sources if t.table == s.table) > 1})
        out: list[str] = []
        out.append('"""' + _escape_docstring(f"{self.name} (compiled by rulecast for the python target).") + "\n")
        out.append(_escape_docstring(f"Rule id {self.rule_id or '-'}, version {self.version or '-'}"
                                     + (f", from {self.path}" if self.path else "") + "."))
        out.append("Generated code: edit the rule and compile again instead of editing this file.")
        out.append("It needs only the Python standard library; run(tables) evaluates the rule.")
        out.append('"""')
        out.append("")
        out.append("import datetime as _dt")
        out.append("import ipaddress")
        out.append("import json")
        out.append("import math")
        out.append("import re")
        out.append("import time")
        out.append("")
        out.append(f"RULE_ID = {self.rule_id!r}")
        out.append(f"RULE_NAME = {self.name!r}")
        out.append(f"RULE_VERSION = {self.version!r}")
        out.append(f"TABLES = {tuple(tables)!r}")
        out.append("# Output columns, in order, with their KQL types.")
        out.append("COLUMNS = (")
        for column in self.root.columns:
            out.append(f"    ({column.name!r}, {str(column.type)!r}),")
        out.append(")")
        out.append(f"ORDERED = {is_ordered(self.root)!r}  # whether the rule defines the output order")
        out.append("# Per table, strings of which every matching JSON line contains one (see")
        out.append("# the Python section of docs/targets.md for when a line is read anyway).")
        out.append(f"PREFILTER = {table_prefilters(self.root)!r}")
        out.append("")
        out.extend(self.public_functions(final, tables, reused))
        out.append("")
        out.extend(self.coercion(sources))
        out.append("")
        out.append("# ---- constants")
        out.extend(self.constants or ["# (none)"])
        out.append("")
        out.append("")
        out.append("# ---- pipeline")
        for function in self.functions:
            out.append("")
            out.append("")
            out.append(function)
        out.append("")
        out.append("")
        out.append(runtime_source().rstrip("\n"))
        out.append("")
        out.append("")
        out.extend(self.registry(sources))
        return "\n".join(out) + "\n"

    def public_functions(self, final: str, tables: list[str], reused: list[str]) -> list[str]:
        lines = [
            "",
            "def run(tables, now=None):",
            '    """Evaluate the rule on `tables` (table name -> iterable of event dicts).',
            "",
            "    Returns the result rows as dicts, columns in output order; datetimes and",
            "    timespans are in KQL's printed form. Raises MalformedEvent for a value of",
            "    the wrong type. `now` (ticks, or an ISO datetime) fixes now() and ago().",
            '    """',
            "    rows = {}",
            "    for name, convert in COERCE.items():",
            "        rows[name] = [_coerce(convert, event) for event in tables.get(name, ())]",
            "    return [format_row(row) for row in run_rows(rows, now)]",
            "",
            "",
            "def _coerce(convert, event):",
            "    try:",
            "        return convert(event)",
            "    except (TypeError, AttributeError):",
            "        _coerce_failure(event, CONVERTERS[convert])",
            "",
            "",
            "def coerce(table, event):",
            '    """Convert one event of `table` into a typed row; raises MalformedEvent."""',
            "    return _coerce(COERCE[table], event)",
            "",
            "",
            "def run_rows(tables, now=None):",
            '    """Yield the result rows from converted rows (table name -> iterable or',
            "    a callable returning a fresh iterable), in the typed representation.",
            '    """',
            "    _NOW[0] = _parse_datetime(now) if isinstance(now, str) else now",
        ]
        for table in reused:
            lines.append(f"    # {table} is read more than once.")
            lines.append(f"    source = tables.get({table!r}, ())")
            lines.append(f"    if not callable(source) and iter(source) is source:")
            lines.append(f"        tables = dict(tables, **{{{table!r}: list(source)}})")
        lines.append(f"    yield from {final}")
        lines.append("")
        lines.append("")
        lines.append("def format_row(row):")
        lines.append('    """Return a result row with datetimes and timespans as KQL prints them."""')
        formatted = []
        for column in self.root.columns:
            value = f"row[{column.name!r}]"
            if column.type is Type.DATETIME:
                value = f"_format_datetime({value})"
            elif column.type is Type.TIMESPAN:
                value = f"_format_timespan({value})"
            formatted.append(f"        {column.name!r}: {value},")
        lines.append("    return {")
        lines.extend(formatted)
        lines.append("    }")
        if streams_single_table(self.root):
            table = ir.sources(self.root)[0].table
            lines.extend([
                "",
                "",
                "def match(event):",
                '    """Return whether one event (a dict) produces a result row."""',
                f"    for _ in {final.replace(f'_source(tables, {table!r})', f'(_coerce(COERCE[{table!r}], event),)')}:",
                "        return True",
                "    return False",
            ])
        return lines

    def coercion(self, sources: list[ir.Source]) -> list[str]:
        lines = ["# ---- input: one JSON event to one typed row per table"]
        done: dict[str, str] = {}
        for source in sources:
            if source.table in done:
                continue
            name = "coerce_" + re.sub(r"\W", "_", source.table)
            done[source.table] = name
            lines.append("")
            lines.append("")
            lines.append(f"def {name}(event):")
            lines.append(f'    """Convert one {source.table} event; missing strings read as "", other columns as null."""')
            lines.append("    get = event.get")
            lines.append("    return {")
            for column in source.columns:
                lines.append(f"        {column.name!r}: {_INPUT_CONVERTERS[column.type]}(get({column.name!r})),")
            lines.append("    }")
        return lines

    def registry(self, sources: list[ir.Source]) -> list[str]:
        """Write the table registry, which follows the runtime because it names the converters."""
        done: dict[str, str] = {}
        for source in sources:
            done.setdefault(source.table, "coerce_" + re.sub(r"\W", "_", source.table))
        lines = ["# ---- tables: name -> converter, converter -> (column, value converter) pairs"]
        lines.append("COERCE = {" + ", ".join(f"{t!r}: {f}" for t, f in done.items()) + "}")
        lines.append("CONVERTERS = {")
        for source in sources:
            if done.get(source.table) is None:
                continue
            function = done.pop(source.table)
            lines.append(f"    {function}: (")
            lines.extend(f"        ({c.name!r}, {_INPUT_CONVERTERS[c.type]})," for c in source.columns)
            lines.append("    ),")
        lines.append("}")
        return lines

    # ------------------------------------------------------------ tabular

    def stream(self, node: ir.Node) -> str:
        """Return a Python expression producing the rows of `node`."""
        chain: list[ir.Node] = []
        base = node
        while isinstance(base, (ir.Filter, ir.Project, ir.Limit, ir.Distinct)):
            chain.append(base)
            base = base.input
        if isinstance(base, ir.Source):
            source = f"_source(tables, {base.table!r})"
        else:
            source = getattr(self, "blocking_" + type(base).__name__)(base)
        if not chain:
            return source
        return f"{self.streaming(base, list(reversed(chain)))}({source})"

    def streaming(self, base: ir.Node, chain: list[ir.Node]) -> str:
        name = self.fresh("steps")
        origin = f"{base.table}" if isinstance(base, ir.Source) else f"the {type(base).__name__.lower()} above"
        body: list[str] = []
        setup: list[str] = []
        for node in chain:
            body.extend(getattr(self, "step_" + type(node).__name__)(node, setup))
        lines = [f"def {name}(rows):", f'    """Rows of {origin}, through {len(chain)} streaming step(s)."""']
        lines.extend("    " + line for line in setup)
        lines.append("    for row in rows:")
        lines.extend("        " + line for line in body)
        lines.append("        yield row")
        self.functions.append("\n".join(lines))
        return name

    def step_Filter(self, node: ir.Filter, setup: list[str]) -> list[str]:
        lines = []
        if node.label:
            lines.append(_comment(f"exclusion: {node.label}"))
        lines.append(_comment("where " + self.kql.expr(node.predicate)))
        lines.append(f"if not {_parenthesized(self.truth(node.predicate))}:")
        lines.append("    continue")
        return lines

    def step_Project(self, node: ir.Project, setup: list[str]) -> list[str]:
        lines = [_comment(project_stage(node)[2:])]
        inputs = [c.name for c in node.input.columns]
        if all(isinstance(i.expr, ir.ColumnRef) and i.expr.name == i.name for i in node.items) and \
                [i.name for i in node.items] == inputs:
            return lines
        lines.append("row = {")
        for item in node.items:
            lines.append(f"    {item.name!r}: {self.value(item.expr)},")
        lines.append("}")
        return lines

    def step_Limit(self, node: ir.Limit, setup: list[str]) -> list[str]:
        counter = self.fresh("taken")[1:]
        setup.append(f"{counter} = 0")
        return [
            f"# take {node.count}",
            f"if {counter} == {node.count}:",
            "    return",
            f"{counter} += 1",
        ]

    def step_Distinct(self, node: ir.Distinct, setup: list[str]) -> list[str]:
        seen = self.fresh("seen")[1:]
        setup.append(f"{seen} = set()")
        key = "(" + "".join(f"row[{n!r}], " for n in node.names) + ")"
        lines = [
            _comment("distinct " + ", ".join(node.names)),
            f"key = {key}",
            f"if key in {seen}:",
            "    continue",
            f"{seen}.add(key)",
        ]
        if list(node.names) != [c.name for c in node.input.columns]:
            lines.append("row = {" + ", ".join(f"{n!r}: row[{n!r}]" for n in node.names) + "}")
        return lines

    def blocking_Sort(self, node: ir.Sort) -> str:
        inner = self.stream(node.input)
        name = self.fresh("sort")
        keys = ", ".join(self.kql.sort_key(k) for k in node.keys)
        lines = [f"def {name}(rows):", "    " + _docstring(f"sort by {keys}"), "    rows = list(rows)"]
        if len(node.keys) > 1:
            lines.append("    # Stable sorts from the last key to the first give the multi-key order.")
        for key in reversed(node.keys):
            natural = key.nulls_first != key.descending
            rank = "_rank_nulls_low" if natural else "_rank_nulls_high"
            reverse = ", reverse=True" if key.descending else ""
            lines.append(f"    rows.sort(key=lambda row: {rank}({self.value(key.expr)}){reverse})")
        lines.append("    return rows")
        self.functions.append("\n".join(lines))
        return f"{name}({inner})"

    def blocking_Join(self, node: ir.Join) -> str:
        left_stream, right_stream = self.stream(node.left), self.stream(node.right)
        name = self.fresh("join")
        left_names = [c.name for c in node.left.columns]
        right_names = [c.name for c in node.right.columns]

        def key_function(side: str, names: list[str]) -> str:
            if len(names) == 1:
                return f"lambda row: row[{names[0]!r}]"
            return "lambda row: (" + "".join(f"row[{n!r}], " for n in names) + ")"

        left_key = key_function("left", [k[0] for k in node.keys])
        right_key = key_function("right", [k[1] for k in node.keys])
        on = ", ".join(left if left == right else f"$left.{left} == $right.{right}" for left, right in node.keys)
        lines = [f"def {name}(left, right):", "    " + _docstring(f"join kind={node.kind} on {on}")]
        if node.kind in ("leftsemi", "leftanti", "rightsemi", "rightanti"):
            lines.append("    combine = None")
        else:
            lines.append("    def combine(l, r):")
            lines.append("        return {")
            sources = [("l", n) for n in left_names] + [("r", n) for n in right_names]
            for column, (side, original) in zip(node.columns, sources):
                lines.append(f"            {column.name!r}: {side}[{original!r}],")
            lines.append("        }")
        null_left = self.null_row(node.left.columns)
        null_right = self.null_row(node.right.columns)
        lines.append(f"    return _hash_join({node.kind!r}, left, right, {left_key}, {right_key}, combine,")
        lines.append(f"                      {null_left}, {null_right})")
        self.functions.append("\n".join(lines))
        return f"{name}({left_stream}, {right_stream})"

    def null_row(self, columns) -> str:
        """Define the padding row of an outer join: "" for strings, null for the rest."""
        cells = [f"{c.name!r}: " + ('""' if c.type is Type.STRING else "None") for c in columns]
        text = "{" + ", ".join(cells) + "}"
        return self.constant("null_row", text)

    def blocking_Aggregate(self, node: ir.Aggregate) -> str:
        inner = self.stream(node.input)
        name = self.fresh("summarize")
        text = self.kql.tabular_Aggregate(node)[-1]
        lines = [f"def {name}(rows):", "    " + _docstring(text[2:]), "    groups = {}"]
        factories = ", ".join(self.accumulator(node, a) for a in node.aggregations)
        key = "(" + "".join(f"{self.value(k.expr)}, " for k in node.keys) + ")"
        lines.append("    for row in rows:")
        lines.append(f"        key = {key}")
        lines.append("        state = groups.get(key)")
        lines.append("        if state is None:")
        lines.append(f"            state = groups[key] = ({factories}{',' if len(node.aggregations) == 1 else ''})")
        for index, aggregation in enumerate(node.aggregations):
            lines.append(f"        state[{index}].add({self.accumulate_args(node, aggregation)})")
        if not node.keys:
            lines.append("    if not groups:")
            lines.append("        # Without by-keys, empty input still gives one row of defaults.")
            lines.append(f"        groups[()] = ({factories}{',' if len(node.aggregations) == 1 else ''})")
        lines.append("    for key, state in groups.items():")
        outputs: list[str] = []
        for index, key_item in enumerate(node.keys):
            outputs.append(f"{key_item.name!r}: key[{index}]")
        for index, aggregation in enumerate(node.aggregations):
            if len(aggregation.names) == 1:
                outputs.append(f"{aggregation.names[0]!r}: state[{index}].result()")
            else:
                lines.append(f"        extreme_{index} = state[{index}].result()")
                for position, column in enumerate(aggregation.names):
                    outputs.append(f"{column!r}: extreme_{index}[{position}]")
        lines.append("        yield {")
        lines.extend(f"            {item}," for item in outputs)
        lines.append("        }")
        self.functions.append("\n".join(lines))
        return f"{name}({inner})"

    def accumulator(self, node: ir.Aggregate, aggregation: ir.Aggregation) -> str:
        func = aggregation.func
        result_type = aggregation.types[0]
        empty = '""' if result_type is Type.STRING else "None"
        if func == "count":
            return "_Count()"
        if func == "countif":
            return "_CountIf()"
        if func == "dcount":
            return "_DCount()"
        if func == "sum":
            return "_Sum(0.0)" if result_type in (Type.REAL, Type.DECIMAL) else "_Sum(0)"
        if func == "avg":
            kind = "ticks" if result_type in (Type.DATETIME, Type.TIMESPAN) else "real"
            return f"_Avg({kind!r})"
        if func == "min":
            return f"_Min({empty})"
        if func == "max":
            return f"_Max({empty})"
        if func in ("make_set", "make_list"):
            limit = _MAX_SET_SIZE
            if len(aggregation.args) > 1 and isinstance(aggregation.args[1], ir.Literal):
                limit = min(int(aggregation.args[1].value), _MAX_SET_SIZE)
            return f"{'_MakeSet' if func == 'make_set' else '_MakeList'}({limit})"
        if func in ("arg_max", "arg_min"):
            nulls = "(" + "".join(('"", ' if t is Type.STRING else "None, ") for t in aggregation.types) + ")"
            return f"_ArgExtreme({func == 'arg_max'}, {nulls})"
        raise RulecastError(Diagnostic("error", f"python: aggregate '{func}' is not supported by the python target"))

    def accumulate_args(self, node: ir.Aggregate, aggregation: ir.Aggregation) -> str:
        func = aggregation.func
        if func == "count":
            return ""
        if func == "countif":
            return self.value(aggregation.args[0])
        if func in ("arg_max", "arg_min"):
            carried = "(" + "".join(f"row[{c!r}], " for c in aggregation.carried) + ")"
            return f"{self.value(aggregation.args[0])}, {carried}"
        return self.value(aggregation.args[0])

    # ------------------------------------------------------------ scalar: truth context

    def truth(self, expr: ir.Expr) -> str:
        """Return a Python expression that is truthy exactly when `expr` is KQL `true`."""
        if isinstance(expr, ir.Logical):
            joiner = " and " if expr.op == "and" else " or "
            return joiner.join(f"({self.truth(o)})" for o in expr.operands)
        if isinstance(expr, ir.Not):
            return self.falsity(expr.operand)
        if self.two_valued(expr):
            return self.value(expr)
        return f"{self.value(expr)} is True"

    def falsity(self, expr: ir.Expr) -> str:
        """Return a Python expression that is truthy exactly when `expr` is KQL `false` (not null)."""
        if isinstance(expr, ir.Logical):
            joiner = " or " if expr.op == "and" else " and "
            return joiner.join(f"({self.falsity(o)})" for o in expr.operands)
        if isinstance(expr, ir.Not):
            return self.truth(expr.operand)
        if self.two_valued(expr):
            return f"not ({self.value(expr)})"
        return f"{self.value(expr)} is False"

    def two_valued(self, expr: ir.Expr) -> bool:
        """Return whether the compiled value of `expr` is never null (so plain truthiness is exact)."""
        if isinstance(expr, (ir.StringMatch, ir.HasAny)):
            return True
        if isinstance(expr, ir.Literal):
            return expr.value is not None
        if isinstance(expr, ir.InList):
            return self.constant_values(expr.values) is not None
        if isinstance(expr, ir.Compare) and expr.op in ("==", "!="):
            return self.plain_equality(expr)
        if isinstance(expr, ir.Call) and expr.name in ("isnull", "isnotnull", "isempty", "isnotempty"):
            return True
        return False

    # ------------------------------------------------------------ scalar: values

    def value(self, expr: ir.Expr) -> str:
        """Return a Python expression computing the KQL value of `expr` for `row`."""
        return getattr(self, "scalar_" + type(expr).__name__)(expr)

    def scalar_Literal(self, expr: ir.Literal) -> str:
        if expr.type is Type.DYNAMIC and isinstance(expr.value, (dict, list)):
            return self.constant("dynamic", _py(expr.value))
        return _py(expr.value)

    def scalar_ColumnRef(self, expr: ir.ColumnRef) -> str:
        return f"row[{expr.name!r}]"

    def scalar_Path(self, expr: ir.Path) -> str:
        text = self.value(expr.base)
        for step in expr.steps:
            text = f"_index({text}, {step})" if isinstance(step, int) else f"_key({text}, {step!r})"
        return text

    def plain_equality(self, expr: ir.Compare) -> bool:
        """Return whether Python's `==`/`!=` gives KQL's result: both strings, or a non-null literal side."""
        left, right = expr.left, expr.right
        if left.type is Type.STRING and right.type is Type.STRING:
            return True
        return any(isinstance(side, ir.Literal) and side.value is not None for side in (left, right))

    def typed_operands(self, left: ir.Expr, right: ir.Expr) -> tuple[str, str]:
        """Compile both operands, converting a dynamic side to the other side's type."""
        left_text, right_text = self.value(left), self.value(right)
        if left.type is Type.DYNAMIC and right.type is not Type.DYNAMIC:
            left_text = f"{_DYN_AS[right.type]}({left_text})"
        elif right.type is Type.DYNAMIC and left.type is not Type.DYNAMIC:
            right_text = f"{_DYN_AS[left.type]}({right_text})"
        return left_text, right_text

    def scalar_Compare(self, expr: ir.Compare) -> str:
        left, right = self.typed_operands(expr.left, expr.right)
        if expr.op in ("==", "!=") and self.plain_equality(expr):
            return f"({left} {expr.op} {right})"
        return f"{_COMPARE_HELPERS[expr.op]}({left}, {right})"

    def text_of(self, expr: ir.Expr) -> tuple[str, bool]:
        """Compile the left side of a string operator and return it with whether it can be null."""
        if expr.type is Type.STRING:
            return self.value(expr), False
        return f"_dyn_text({self.value(expr)})", True

    def scalar_StringMatch(self, expr: ir.StringMatch) -> str:
        text, nullable = self.text_of(expr.left)
        if not isinstance(expr.right, ir.Literal):
            result = f"_string_match({expr.kind!r}, {expr.case_sensitive}, {text}, {self.value(expr.right)})"
            return f"not {result}" if expr.negated else result
        needle = expr.right.value
        if expr.kind == "regex":
            pattern = self.constant("regex", f"re.compile({regex_to_python(needle)!r})")
            result = f"_search({pattern}, {text})" if nullable else f"({pattern}.search({text}) is not None)"
        elif expr.kind in ("has", "hasprefix", "hassuffix"):
            result = self.term_match(expr.kind, needle, expr.case_sensitive, text, nullable)
        else:
            ci = not expr.case_sensitive
            target = needle.lower() if ci else needle
            if nullable:
                helper = {"equals": "_equals", "contains": "_contains", "startswith": "_startswith",
                          "endswith": "_endswith"}[expr.kind] + ("_ci" if ci else "")
                result = f"{helper}({text}, {target!r})"
            else:
                subject = f"{text}.lower()" if ci else text
                result = {
                    "equals": f"({subject} == {target!r})",
                    "contains": f"({target!r} in {subject})",
                    "startswith": f"{subject}.startswith({target!r})",
                    "endswith": f"{subject}.endswith({target!r})",
                }[expr.kind]
        return f"(not {result})" if expr.negated else result

    def term_pattern(self, needle: str, leading: bool, trailing: bool) -> str:
        text = re.escape(needle)
        if leading and needle[:1].isalnum():
            text = r"(?<![^\W_])" + text
        if trailing and needle[-1:].isalnum():
            text += r"(?![^\W_])"
        return text

    def term_match(self, kind: str, needle: str, case_sensitive: bool, text: str, nullable: bool) -> str:
        target = needle if case_sensitive else needle.lower()
        pattern = self.term_pattern(target, kind in ("has", "hasprefix"), kind in ("has", "hassuffix"))
        name = self.constant(kind, f"re.compile({pattern!r})  # {kind}{'_cs' if case_sensitive else ''} {needle!r}")
        if nullable:
            return f"{'_search' if case_sensitive else '_search_ci'}({name}, {text})"
        subject = text if case_sensitive else f"{text}.lower()"
        return f"({name}.search({subject}) is not None)"

    def constant_values(self, values) -> list | None:
        """Return the list's values when all are non-null literals, else None."""
        if all(isinstance(v, ir.Literal) and v.value is not None for v in values):
            return [v.value for v in values]
        return None

    def scalar_InList(self, expr: ir.InList) -> str:
        constants = self.constant_values(expr.values)
        kinds = {v.type for v in expr.values}
        if constants is not None and expr.expr.type is Type.DYNAMIC:
            families = set()
            for kind in kinds:
                families.add(Type.REAL if kind.is_numeric else kind)
            if len(families) == 1:
                family = next(iter(families))
                subject = f"{_DYN_AS[family]}({self.value(expr.expr)})"
            else:
                constants = None
        elif constants is not None:
            subject = self.value(expr.expr)
        if constants is not None:
            if not expr.case_sensitive:
                constants = [c.lower() for c in constants]
                subject = f"{subject}.lower()" if expr.expr.type is Type.STRING else f"_lower_or_null({subject})"
            members = self.constant("values", "frozenset({" + ", ".join(_py(c) for c in constants) + "})")
            return f"({subject} {'not in' if expr.negated else 'in'} {members})"
        subject = self.value(expr.expr)
        if not expr.case_sensitive:
            subject = f"_lower_or_null({subject})" if expr.expr.type is Type.DYNAMIC else f"{subject}.lower()"
        values = []
        for value in expr.values:
            text = self.value(value)
            if expr.expr.type is Type.DYNAMIC:
                subject_for = f"{_DYN_AS[value.type]}({self.value(expr.expr)})"
                if not expr.case_sensitive:
                    subject_for = f"_lower_or_null({subject_for})"
            else:
                subject_for = subject
            values.append((subject_for, f"{text}.lower()" if not expr.case_sensitive else text))
        if expr.expr.type is not Type.DYNAMIC:
            result = f"_in_list({subject}, ({''.join(v + ', ' for _, v in values)}))"
        else:
            result = "_or3(" + ", ".join(f"_eq({s}, {v})" for s, v in values) + ")" if values else "False"
        return f"_not3({result})" if expr.negated else result

    def scalar_HasAny(self, expr: ir.HasAny) -> str:
        text, nullable = self.text_of(expr.expr)
        constants = self.constant_values(expr.values)
        if constants is None:
            values = "(" + "".join(f"{self.value(v)}, " for v in expr.values) + ")"
            return f"{'_has_all' if expr.all else '_has_any'}({text}, {values})"
        if not constants:
            return "True" if expr.all else "False"
        lowered = [c.lower() for c in constants]
        subject = f"{text}.lower()" if not nullable else f"_lower({text})"
        if expr.all:
            names = [self.constant("has", f"re.compile({self.term_pattern(c, True, True)!r})") for c in lowered]
            result = " and ".join(f"{n}.search(subject) is not None" for n in names)
            check = f"(lambda subject: {result})({subject})"
        else:
            pattern = "|".join(f"(?:{self.term_pattern(c, True, True)})" for c in lowered)
            name = self.constant("has_any", f"re.compile({pattern!r})")
            check = f"({name}.search({subject}) is not None)"
        if nullable:
            return f"({text} is not None and {check})"
        return check

    def scalar_Between(self, expr: ir.Between) -> str:
        value = self.value(expr.expr)
        if expr.expr.type is Type.DYNAMIC:
            value = f"{_DYN_AS[expr.low.type]}({value})"
        result = f"_between({value}, {self.value(expr.low)}, {self.value(expr.high)})"
        return f"_not3({result})" if expr.negated else result

    def scalar_Logical(self, expr: ir.Logical) -> str:
        helper = "_and3" if expr.op == "and" else "_or3"
        return f"{helper}(" + ", ".join(self.value(o) for o in expr.operands) + ")"

    def scalar_Not(self, expr: ir.Not) -> str:
        if self.two_valued(expr.operand):
            return f"(not {self.value(expr.operand)})"
        return f"_not3({self.value(expr.operand)})"

    def scalar_Arith(self, expr: ir.Arith) -> str:
        left, right = self.value(expr.left), self.value(expr.right)
        a, b, result = expr.left.type, expr.right.type, expr.type
        op = expr.op
        names = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod"}
        if result is Type.TIMESPAN and op == "*":
            if a is Type.TIMESPAN:
                return f"_scale_timespan({left}, {right})"
            return f"_scale_timespan({right}, {left})"
        if result is Type.TIMESPAN and op == "/":
            return f"_shrink_timespan({left}, {right})"
        if result in (Type.REAL, Type.DECIMAL):
            return f"_{names[op]}_real({left}, {right})"
        return f"_{names[op]}({left}, {right})"

    def scalar_Negate(self, expr: ir.Negate) -> str:
        return f"_neg({self.value(expr.operand)})"

    def scalar_Call(self, expr: ir.Call) -> str:
        name = expr.name
        args = [self.value(a) for a in expr.args]
        arg_types = [a.type for a in expr.args]
        if name == "tostring":
            if arg_types[0] is Type.STRING:
                return args[0]
            return f"{_TOSTRING[arg_types[0]]}({args[0]})"
        if name in ("toint", "tolong", "todouble", "tobool", "todatetime", "totimespan"):
            if arg_types[0] is expr.type or (name == "tolong" and arg_types[0] is Type.INT):
                return args[0]
            return f"_{name}({args[0]})"
        if name == "todynamic":
            return f"_todynamic({args[0]})"
        if name in ("tolower", "toupper", "strlen"):
            text = args[0] if arg_types[0] is Type.STRING else f"_dyn_text({args[0]})"
            if name == "strlen":
                return f"len({text})" if arg_types[0] is Type.STRING else f"_strlen({text})"
            method = "lower" if name == "tolower" else "upper"
            return f"{text}.{method}()" if arg_types[0] is Type.STRING else f"_{method}({text})"
        if name in ("isempty", "isnotempty"):
            check = f"({args[0]} == '')" if arg_types[0] is Type.STRING else f"_isempty({args[0]})"
            return check if name == "isempty" else f"(not {check})"
        if name in ("isnull", "isnotnull"):
            if arg_types[0] is Type.STRING:
                return "False" if name == "isnull" else "True"
            return f"({args[0]} is {'not ' if name == 'isnotnull' else ''}None)"
        if name == "coalesce":
            helper = "_coalesce_string" if expr.type is Type.STRING else "_coalesce"
            return f"{helper}({', '.join(args)})"
        if name == "iff":
            return f"_iff({args[0]}, {args[1]}, {args[2]})"
        if name == "strcat":
            parts = [a if t is Type.STRING else f"{_TOSTRING[t]}({a})" for a, t in zip(args, arg_types)]
            return f"_strcat({', '.join(parts)})"
        if name == "now":
            return f"_add(_now(), {args[0]})" if args else "_now()"
        if name == "ago":
            return f"_sub(_now(), {args[0]})"
        if name == "bin":
            if expr.type in (Type.REAL, Type.DECIMAL):
                return f"_bin_real({args[0]}, {args[1]})"
            return f"_bin_long({args[0]}, {args[1]})"
        if name == "array_length":
            return f"_array_length({args[0]})"
        if name == "ipv6_is_in_range":
            return f"_ipv6_is_in_range({args[0]}, {args[1]})"
        raise RulecastError(
            Diagnostic("error", f"python: function '{name}' is not written for the python target yet"))
