"""KQL generation for Microsoft Sentinel and Microsoft Defender XDR.

One generator, one method per IR node kind. The two KQL targets differ in the
catalog the rule is resolved against (Sentinel's `TimeGenerated`, its column
spellings and types) and in packaging, not in how the IR is spelled, so the
same text printer serves both and also prints the IR back as rule query text.

The output is one pipe stage per line, with every join kind written out,
explicit sort directions and null placement, explicit parentheses wherever
precedence could be read two ways, and literals escaped so that they mean
exactly the rule's value.
"""

from __future__ import annotations

import json
import math
import re
from typing import Sequence

from translator import ir
from translator.types import Type
from translator.values import format_datetime_short, format_timespan_literal

INDENT = "    "

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Words that KQL reserves or that the rulecast grammar treats as keywords;
# names spelled like them are written in the bracketed form.
KEYWORDS = frozenset(
    """
    and or not in between contains has hasprefix hassuffix startswith endswith matches regex true false
    dynamic datetime timespan time date bool boolean int long real double decimal guid string let where
    project extend join on by asc desc nulls first last take limit top distinct summarize sort order kind
    null typeof print
    """.split()
)

_STRING_MATCH_SPELLING = {
    "contains": "contains",
    "startswith": "startswith",
    "endswith": "endswith",
    "has": "has",
    "hasprefix": "hasprefix",
    "hassuffix": "hassuffix",
}

# Binding strength of each scalar node, loosest first; a child that binds
# looser than its parent, or that could be read two ways, gets parentheses.
_PREC_OR, _PREC_AND, _PREC_PRED, _PREC_ADD, _PREC_MUL, _PREC_UNARY, _PREC_ATOM = range(7)


def quote_name(name: str) -> str:
    """Write a column name, bracketing it when it is not a plain identifier."""
    if _IDENTIFIER.match(name) and name.lower() not in KEYWORDS:
        return name
    return "[" + string_literal(name) + "]"


def string_literal(value: str, verbatim: bool = True) -> str:
    """Write a KQL string literal whose value is exactly `value`.

    Values with backslashes but no double quotes and nothing unprintable use
    the verbatim form `@"..."`, in which a backslash is an ordinary
    character, so `\\w3wp.exe` reads as in the rule; `verbatim=False` turns
    that off (literals inside `dynamic(...)`). Everything else is a
    double-quoted literal with backslash escapes. Characters Python does not
    consider printable (control and format characters, line and paragraph
    separators, unassigned code points) are written as `\\uXXXX`, as a
    surrogate pair above U+FFFF, so the output never holds a raw line break
    or an invisible character. Kusto.Language's `\\U` escape is never used:
    it does not decode.
    """
    printable = value.isprintable()
    if verbatim and printable and "\\" in value and '"' not in value:
        return '@"' + value + '"'
    out = ['"']
    for char in value:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif not printable and not char.isprintable():
            out.append(_unicode_escape(char))
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _unicode_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def comment_text(text: str) -> str:
    """Make `text` safe inside a `//` comment: one line, printable characters only."""
    return "".join(c if c.isprintable() else " " for c in text).strip()


def dynamic_literal(value) -> str:
    return "dynamic(" + _dynamic_json(value) + ")"


def _dynamic_json(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError("dynamic literals cannot hold NaN or infinity")
        return json.dumps(value)
    if isinstance(value, str):
        return string_literal(value, verbatim=False)
    if isinstance(value, list):
        return "[" + ", ".join(_dynamic_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{string_literal(str(k), verbatim=False)}: {_dynamic_json(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"not a JSON value: {value!r}")


def literal(node: ir.Literal) -> str:
    value, type_ = node.value, node.type
    if type_ is Type.STRING:
        return string_literal(value)
    if type_ is Type.DYNAMIC:
        return dynamic_literal(value)
    if value is None:
        return f"{type_.value}(null)"
    if type_ is Type.BOOL:
        return "true" if value else "false"
    if type_ is Type.LONG:
        return str(value)
    if type_ is Type.INT:
        return f"int({value})"
    if type_ in (Type.REAL, Type.DECIMAL):
        if math.isnan(value) or math.isinf(value):
            text = "nan" if math.isnan(value) else ("+inf" if value > 0 else "-inf")
            return f"real({text})"
        text = repr(float(value))
        if "e" in text or "E" in text:
            mantissa, exponent = text.lower().split("e")
            text = f"{mantissa}e{int(exponent)}"
        return text if type_ is Type.REAL else f"decimal({text})"
    if type_ is Type.DATETIME:
        return f"datetime({format_datetime_short(value)})"
    if type_ is Type.TIMESPAN:
        return format_timespan_literal(value)
    if type_ is Type.GUID:
        return f"guid({value})"
    raise TypeError(f"no KQL spelling for {type_} literal")


class KqlGenerator:
    """Prints IR as KQL text, one pipe stage per line.

    `comments=False` leaves out the `// exclusion: name` lines, for packaging
    that does not allow comments (Defender XDR continuous detections).
    """

    def __init__(self, comments: bool = True):
        self.comments = comments

    def generate(self, node: ir.Node) -> str:
        return "\n".join(self.stages(node)) + "\n"

    # ------------------------------------------------------------ tabular

    def stages(self, node: ir.Node) -> list[str]:
        return getattr(self, "tabular_" + type(node).__name__)(node)

    def tabular_Source(self, node: ir.Source) -> list[str]:
        return [quote_name(node.table)]

    def tabular_Filter(self, node: ir.Filter) -> list[str]:
        lines = self.stages(node.input)
        if node.label and self.comments:
            lines.append("// exclusion: " + comment_text(node.label))
        lines.append("| where " + self.expr(node.predicate))
        return lines

    def tabular_Project(self, node: ir.Project) -> list[str]:
        return self.stages(node.input) + [project_stage(node)]

    def tabular_Join(self, node: ir.Join) -> list[str]:
        lines = self.stages(node.left)
        right = self.stages(node.right)
        keys = ", ".join(
            quote_name(left) if left == right_name else f"$left.{quote_name(left)} == $right.{quote_name(right_name)}"
            for left, right_name in node.keys
        )
        lines.append(f"| join kind={node.kind} (")
        lines.extend(INDENT + line for line in right)
        lines.append(f"    ) on {keys}")
        return lines

    def tabular_Sort(self, node: ir.Sort) -> list[str]:
        return self.stages(node.input) + ["| sort by " + ", ".join(self.sort_key(k) for k in node.keys)]

    def sort_key(self, key: ir.SortKey) -> str:
        direction = "desc" if key.descending else "asc"
        nulls = "first" if key.nulls_first else "last"
        return f"{self.expr(key.expr, _PREC_ADD)} {direction} nulls {nulls}"

    def tabular_Limit(self, node: ir.Limit) -> list[str]:
        return self.stages(node.input) + [f"| take {node.count}"]

    def tabular_Distinct(self, node: ir.Distinct) -> list[str]:
        return self.stages(node.input) + ["| distinct " + ", ".join(quote_name(n) for n in node.names)]

    def tabular_Aggregate(self, node: ir.Aggregate) -> list[str]:
        parts = [self.aggregation(node, a) for a in node.aggregations]
        text = "| summarize " + ", ".join(parts)
        if node.keys:
            keys = ", ".join(self.assignment(k.name, k.expr) for k in node.keys)
            text += (" by " if parts else "by ") + keys
        return self.stages(node.input) + [text]

    def aggregation(self, node: ir.Aggregate, aggregation: ir.Aggregation) -> str:
        args = [self.expr(a) for a in aggregation.args]
        if aggregation.func in ("arg_max", "arg_min"):
            return self.arg_extreme(node, aggregation, args[0])
        call = f"{aggregation.func}({', '.join(args)})"
        return f"{quote_name(aggregation.names[0])} = {call}"

    def arg_extreme(self, node: ir.Aggregate, aggregation: ir.Aggregation, target: str) -> str:
        input_names = [c.name for c in node.input.columns]
        key_names = {k.name for k in node.keys}
        target_expr = aggregation.args[0]
        everything = [
            n for n in input_names
            if n not in key_names and not (isinstance(target_expr, ir.ColumnRef) and n == target_expr.name)
        ]
        carried = "*" if list(aggregation.carried) == everything and everything else ", ".join(
            quote_name(c) for c in aggregation.carried
        )
        call = f"{aggregation.func}({target}{', ' + carried if carried else ''})"
        natural = target_expr.name if isinstance(target_expr, ir.ColumnRef) else None
        if aggregation.names[0] != natural:
            return f"{quote_name(aggregation.names[0])} = {call}"
        return call

    def assignment(self, name: str, expr: ir.Expr) -> str:
        if isinstance(expr, ir.ColumnRef) and expr.name == name:
            return quote_name(name)
        return f"{quote_name(name)} = {self.expr(expr)}"

    # ------------------------------------------------------------ scalar

    def expr(self, node: ir.Expr, context: int = _PREC_OR) -> str:
        text, precedence = getattr(self, "scalar_" + type(node).__name__)(node)
        if precedence < context:
            return f"({text})"
        return text

    def scalar_Literal(self, node: ir.Literal) -> tuple[str, int]:
        text = literal(node)
        return text, (_PREC_UNARY if text.startswith("-") else _PREC_ATOM)

    def scalar_ColumnRef(self, node: ir.ColumnRef) -> tuple[str, int]:
        return quote_name(node.name), _PREC_ATOM

    def scalar_Path(self, node: ir.Path) -> tuple[str, int]:
        text = self.expr(node.base, _PREC_ATOM)
        for step in node.steps:
            text += path_step(step)
        return text, _PREC_ATOM

    def scalar_Compare(self, node: ir.Compare) -> tuple[str, int]:
        return self.binary(node.left, node.op, node.right), _PREC_PRED

    def binary(self, left: ir.Expr, op: str, right: ir.Expr) -> str:
        return f"{self.expr(left, _PREC_UNARY)} {op} {self.expr(right, _PREC_UNARY)}"

    def scalar_StringMatch(self, node: ir.StringMatch) -> tuple[str, int]:
        if node.kind == "regex":
            text = self.binary(node.left, "matches regex", node.right)
            return (f"not({text})" if node.negated else text), _PREC_PRED
        if node.kind == "equals":
            if node.case_sensitive:
                op = "!=" if node.negated else "=="
            else:
                op = "!~" if node.negated else "=~"
        else:
            op = ("!" if node.negated else "") + _STRING_MATCH_SPELLING[node.kind] + ("_cs" if node.case_sensitive else "")
        return self.binary(node.left, op, node.right), _PREC_PRED

    def scalar_InList(self, node: ir.InList) -> tuple[str, int]:
        op = ("!" if node.negated else "") + "in" + ("" if node.case_sensitive else "~")
        values = ", ".join(self.expr(v) for v in node.values)
        return f"{self.expr(node.expr, _PREC_UNARY)} {op} ({values})", _PREC_PRED

    def scalar_HasAny(self, node: ir.HasAny) -> tuple[str, int]:
        op = "has_all" if node.all else "has_any"
        values = ", ".join(self.expr(v) for v in node.values)
        return f"{self.expr(node.expr, _PREC_UNARY)} {op} ({values})", _PREC_PRED

    def scalar_Between(self, node: ir.Between) -> tuple[str, int]:
        op = "!between" if node.negated else "between"
        low, high = self.expr(node.low, _PREC_UNARY), self.expr(node.high, _PREC_UNARY)
        return f"{self.expr(node.expr, _PREC_UNARY)} {op} ({low} .. {high})", _PREC_PRED

    def scalar_Logical(self, node: ir.Logical) -> tuple[str, int]:
        precedence = _PREC_OR if node.op == "or" else _PREC_AND
        # Any nested and/or is parenthesised, so a reader never relies on precedence.
        parts = [self.expr(operand, _PREC_PRED) for operand in node.operands]
        return f" {node.op} ".join(parts), precedence

    def scalar_Not(self, node: ir.Not) -> tuple[str, int]:
        return f"not({self.expr(node.operand)})", _PREC_ATOM

    def scalar_Arith(self, node: ir.Arith) -> tuple[str, int]:
        precedence = _PREC_ADD if node.op in "+-" else _PREC_MUL
        left = self.expr(node.left, _PREC_UNARY if isinstance(node.left, ir.Arith) else precedence)
        right = self.expr(node.right, _PREC_UNARY)
        return f"{left} {node.op} {right}", precedence

    def scalar_Negate(self, node: ir.Negate) -> tuple[str, int]:
        return f"-{self.expr(node.operand, _PREC_ATOM)}", _PREC_UNARY

    def scalar_Call(self, node: ir.Call) -> tuple[str, int]:
        return f"{node.name}({', '.join(self.expr(a) for a in node.args)})", _PREC_ATOM


def path_step(step: str | int) -> str:
    """Write one dynamic access step: `.Key`, `["k8s.container.name"]` or `[0]`."""
    if isinstance(step, int):
        return f"[{step}]"
    if _IDENTIFIER.match(step) and step.lower() not in KEYWORDS:
        return "." + step
    return "[" + string_literal(step) + "]"


def project_stage(node: ir.Project) -> str:
    """Choose the shortest exact spelling of a `Project`: rename, away, extend or project."""
    inputs = [c.name for c in node.input.columns]
    items = list(node.items)
    generator = KqlGenerator()

    def is_ref(item: ir.ProjectItem, name: str | None = None) -> bool:
        return isinstance(item.expr, ir.ColumnRef) and (name is None or item.expr.name == name)

    if len(items) == len(inputs) and all(is_ref(item, name) for item, name in zip(items, inputs)):
        renamed = [(item.name, name) for item, name in zip(items, inputs) if item.name != name]
        if renamed:
            return "| project-rename " + ", ".join(f"{quote_name(new)} = {quote_name(old)}" for new, old in renamed)
    if all(is_ref(item, item.name) for item in items):
        kept = [item.name for item in items]
        # project-away only when it lists fewer columns than project would: a
        # long away-list reads badly and hides which columns the rule keeps.
        if (len(kept) < len(inputs) and [n for n in inputs if n in kept] == kept and len(set(kept)) == len(kept)
                and len(inputs) - len(kept) < len(kept)):
            removed = [n for n in inputs if n not in kept]
            return "| project-away " + ", ".join(quote_name(n) for n in removed)
    if len(items) >= len(inputs) and [item.name for item in items[: len(inputs)]] == inputs:
        changed = [item for item, name in zip(items, inputs) if not is_ref(item, name)] + items[len(inputs):]
        if changed:
            return "| extend " + ", ".join(generator.assignment(item.name, item.expr) for item in changed)
    return "| project " + ", ".join(generator.assignment(item.name, item.expr) for item in items)


def generate(node: ir.Node, comments: bool = True) -> str:
    """Print `node` as KQL text."""
    return KqlGenerator(comments).generate(node)


def format_columns(columns: Sequence[ir.Column]) -> str:
    return ", ".join(f"{c.name}:{c.type}" for c in columns)
