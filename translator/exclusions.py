"""Exclusions: a rule's false-positive scenarios as typed, named filters on its output.

An exclusion's `filter` is written in the Kibana query language style
(`exclusions.lark` beside this file):

```
filter text --parse--> Term tree (fields and values, with spans)
Term tree  --type against the output columns and `fields` aliases--> IR predicate
IR         --apply_exclusions--> Filter(Not(predicate), label=name) after the query
```

Every term lowers to a predicate that is never null: a term on a column that
is null in a row is false there. So `not(...)` of an exclusion removes exactly
the rows the filter matches and keeps the rest, whatever KQL's three-valued
logic would make of a bare `not(x >= 10)` (null, which `where` drops). A
placeholder whose value is unset makes its terms unknown. The exclusion then
applies only what the filter matches for every possible value, so an unset
placeholder never removes a row.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Union

import lark
from lark import Token, Tree

from translator import ir
from translator.diagnostics import Diagnostic, QueryError, RulecastError, Span, did_you_mean
from translator.rule import Exclusion, Rule
from translator.schema import PLATFORMS, load_catalog
from translator.types import Type
from translator.values import LiteralError, parse_datetime, parse_timespan_literal

GRAMMAR_PATH = Path(__file__).with_name("exclusions.lark")

# The characters that end an unquoted value unless escaped, and `*`.
SPECIAL_CHARACTERS = '\\():<>"{}*'
# Lucene query characters that the Kibana-style syntax reads as plain text. A
# filter copied from a Lucene query would then silently match nothing, so an
# unescaped one is an error, and escaping it (\? or \~) writes the character.
LUCENE_CHARACTERS = "?~"
_LUCENE_RANGE = re.compile(r"^[\[{].*\sTO\s.*[\]}]$")
# `&&` or `||` between terms (before a field name, a parenthesis or `not`), or
# `+`/`-` before a field name: inside a value, such as `*a && b*`, they are text.
_LUCENE_OPERATOR = re.compile(
    r"(?:&&|\|\|)(?=\s+(?:[A-Za-z_@][A-Za-z0-9_.@\-]*\s*[:<>]|\(|[nN][oO][tT]\s))"
    r"|[+-](?=[A-Za-z_@][A-Za-z0-9_.@\-]*\s*:)")
_INT_RANGE = {Type.INT: (-(2**31), 2**31 - 1), Type.LONG: (-(2**63), 2**63 - 1)}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")


@functools.lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    return lark.Lark(
        GRAMMAR_PATH.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        cache=True,
    )


# ---------------------------------------------------------------- syntax


class _Star:
    """The wildcard `*` inside a value."""

    def __repr__(self) -> str:
        return "*"


STAR = _Star()


@dataclass(frozen=True)
class Placeholder:
    """`${name}` inside an unquoted value: text the rule's author sets in `placeholders`."""

    name: str
    span: Span


Segment = Union[str, _Star, Placeholder]


@dataclass(frozen=True)
class Value:
    segments: tuple[Segment, ...]
    quoted: bool
    text: str  # as written, for messages
    span: Span


@dataclass(frozen=True)
class ValueLogic:
    """`and`, `or` or `not` inside `field:(...)`."""

    op: str
    operands: tuple["ValueExpr", ...]
    span: Span


ValueExpr = Union[Value, ValueLogic]


@dataclass(frozen=True)
class FieldMatch:
    field: str
    field_span: Span
    value: ValueExpr
    span: Span


@dataclass(frozen=True)
class FieldRange:
    field: str
    field_span: Span
    op: str
    value: str
    value_span: Span
    span: Span


@dataclass(frozen=True)
class Logic:
    op: str  # "and", "or", "not"
    operands: tuple["Term", ...]
    span: Span


Term = Union[FieldMatch, FieldRange, Logic]


def _span(start: int, end: int) -> Span:
    return Span(start, end, 0, 0)


def _token_span(token: Token) -> Span:
    return _span(token.start_pos, token.end_pos)


def parse_filter(text: str) -> Term:
    """Parse filter text into a term tree; raise `QueryError` positioned in `text`."""
    if not text.strip():
        raise QueryError("the filter is empty", _span(0, max(1, len(text))),
                         "write field:value terms, e.g. Subject:*invoice*")
    _reject_lucene_operators(text)
    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    return _build(tree, text)


def _reject_lucene_operators(text: str) -> None:
    """Raise for Lucene's `&&`, `||` and `+`/`-` term prefixes outside quoted values and escapes."""
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == '"':
            end = i + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            i = end + 1
            continue
        match = _LUCENE_OPERATOR.match(text, i)
        if match is not None and (i == 0 or text[i - 1] in " \t\r\n("):
            operator = match.group(0)
            words = {"&&": "and", "||": "or", "+": "a term with no prefix", "-": "not before the term"}
            raise QueryError(f"'{operator}' is Lucene syntax, which exclusion filters do not support",
                             _span(i, i + len(operator)), f"write {words[operator]} instead")
        i += 1


def _build(node: Tree | Token, text: str) -> Term:
    if isinstance(node, Token):  # pragma: no cover - the grammar wraps every token in a rule
        raise AssertionError(node)
    kind = node.data
    if kind in ("or_", "and_", "not_"):
        parts = [child for child in node.children if isinstance(child, Tree)]
        if kind != "not_" and len(parts) == 1:
            return _build(parts[0], text)  # the grammar's alias keeps one-operand and/or nodes
        span = _span(node.meta.start_pos, node.meta.end_pos)
        return Logic(kind[:-1], tuple(_build(part, text) for part in parts), span)
    if kind == "field_match":
        field_token, value_node = node.children
        span = _span(node.meta.start_pos, node.meta.end_pos)
        return FieldMatch(str(field_token), _token_span(field_token), _build_value(value_node), span)
    if kind == "field_range":
        field_token, op_token, value_token = node.children
        if value_token.type == "QUOTED":
            value = _decode_quoted(str(value_token), value_token.start_pos)
        else:
            value = _decode_plain(str(value_token), value_token.start_pos)
            if any(seg is STAR for seg in value):
                star = value_token.start_pos + str(value_token).index("*")
                raise QueryError(f"a wildcard cannot be part of a range value ('{value_token}')", _span(star, star + 1),
                                 "a range compares with one value; escape a literal '*' as \\*")
        literal = "".join(seg for seg in value if isinstance(seg, str))
        span = _span(node.meta.start_pos, node.meta.end_pos)
        return FieldRange(str(field_token), _token_span(field_token), str(op_token), literal,
                          _token_span(value_token), span)
    if kind == "bare_value":
        token = node.children[0]
        shown = str(token)
        raise QueryError(f"the term '{shown}' names no field", _token_span(token),
                         f"write field:{shown}; a term without a field would search every column")
    raise AssertionError(f"unexpected filter node {kind}")  # pragma: no cover


def _build_value(node: Tree) -> ValueExpr:
    span = _span(node.meta.start_pos, node.meta.end_pos)
    if node.data in ("or_", "and_", "not_"):
        parts = [child for child in node.children if isinstance(child, Tree)]
        if node.data != "not_" and len(parts) == 1:
            return _build_value(parts[0])
        return ValueLogic(node.data[:-1], tuple(_build_value(part) for part in parts), span)
    assert node.data == "value", node.data
    token = node.children[0]
    if token.type == "QUOTED":
        segments = tuple(_decode_quoted(str(token), token.start_pos))
        return Value(segments, True, str(token), _token_span(token))
    return Value(tuple(_decode_plain(str(token), token.start_pos)), False, str(token), _token_span(token))


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KEYWORD_ESCAPE = re.compile(r"(and|or|not)(?![A-Za-z0-9_])", re.IGNORECASE)
_CONTROL_ESCAPES = {"t": "\t", "r": "\r", "n": "\n"}


def _decode_plain(text: str, offset: int) -> list[Segment]:
    """Decode an unquoted value into literal text, wildcards and placeholders."""
    segments: list[Segment] = []
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            segments.append("".join(buffer))
            buffer.clear()

    if _LUCENE_RANGE.match(text):
        raise QueryError("a Lucene range [a TO b] is not supported", _span(offset, offset + len(text)),
                         "write the range with two comparisons: field >= a and field <= b")
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            i = _decode_escape(text, i, offset, buffer, quoted=False)
            continue
        if char in LUCENE_CHARACTERS:
            raise QueryError(f"'{char}' is Lucene syntax, which exclusion filters do not support",
                             _span(offset + i, offset + i + 1),
                             f"to match the character itself, escape it as \\{char}; the only wildcard is *")
        if char == "*":
            flush()
            if not segments or segments[-1] is not STAR:
                segments.append(STAR)
            i += 1
            continue
        placeholder = _PLACEHOLDER.match(text, i) if char == "$" else None
        if placeholder is not None:
            flush()
            segments.append(Placeholder(placeholder.group(1), _span(offset + i, offset + placeholder.end())))
            i = placeholder.end()
            continue
        buffer.append(char)
        i += 1
    flush()
    return segments


def _decode_quoted(text: str, offset: int) -> list[Segment]:
    """Decode a quoted value; `*` and `${...}` inside quotes are literal text."""
    buffer: list[str] = []
    i = 1
    while i < len(text) - 1:
        if text[i] == "\\":
            i = _decode_escape(text, i, offset, buffer, quoted=True)
            continue
        buffer.append(text[i])
        i += 1
    return ["".join(buffer)]


def _decode_escape(text: str, i: int, offset: int, out: list[str], quoted: bool) -> int:
    """Decode the escape at `text[i]` (a backslash) into `out`; return the index after it."""
    following = text[i + 1] if i + 1 < len(text) else ""
    if quoted and following in ('"', "\\"):
        out.append(following)
        return i + 2
    if not quoted and following and following in SPECIAL_CHARACTERS + LUCENE_CHARACTERS:
        out.append(following)
        return i + 2
    if not quoted:
        keyword = _KEYWORD_ESCAPE.match(text, i + 1)
        if keyword is not None:
            out.append(keyword.group(1))
            return keyword.end()
    if following in _CONTROL_ESCAPES:
        out.append(_CONTROL_ESCAPES[following])
        return i + 2
    if following == "u":
        digits = text[i + 2 : i + 6]
        if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
            out.append(chr(int(digits, 16)))
            return i + 6
        raise QueryError("\\u must be followed by four hexadecimal digits", _span(offset + i, offset + i + 2),
                         "write a character as \\u00e9, for example")
    shown = "\\" + following if following.strip() else "\\ followed by whitespace"
    if quoted:
        allowed = 'inside quotes, escape only \\" and \\\\ (and write \\t, \\r, \\n, \\uXXXX)'
    else:
        allowed = ("escape only the special characters \\ ( ) : < > \" { } * ? ~ and the words and, or, not; "
                   "or quote the value")
    raise QueryError(f"unknown escape '{shown}'", _span(offset + i, offset + i + 2), allowed)


_TOKEN_WORDS = {
    "FIELD": "a field name",
    "UNQUOTED": "a value",
    "QUOTED": "a value",
    "RANGE_WORD": "a value",
    "OR": "'or'",
    "AND": "'and'",
    "NOT": "'not'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COLON": "':'",
    "RANGE_OP": "a range operator",
}


def _expected(expected: Iterable[str]) -> str:
    words = sorted({_TOKEN_WORDS[name] for name in expected if name in _TOKEN_WORDS})
    if not words:
        return ""
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _syntax_error(text: str, exc: lark.exceptions.UnexpectedInput) -> QueryError:
    if isinstance(exc, lark.exceptions.UnexpectedEOF) or (
        isinstance(exc, lark.exceptions.UnexpectedToken) and exc.token.type == "$END"
    ):
        end = len(text.rstrip())
        wanted = _expected(exc.expected)
        return QueryError(f"the filter ends early; expected {wanted or 'more'}", _span(max(0, end - 1), end),
                          "check for an unclosed '(' or an operator without an operand")
    pos = exc.pos_in_stream if exc.pos_in_stream is not None else len(text)
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        char = text[pos] if pos < len(text) else ""
        span = _span(pos, pos + 1)
        if char == '"':
            return QueryError("unterminated quoted value", span, 'close the value with "')
        if text.startswith("${", pos - 1):
            return QueryError("a placeholder can stand only for text in a field:value term", _span(pos - 1, pos + 1),
                              "ranges compare with a literal value")
        if char in "{}":
            return QueryError(f"unexpected '{char}'; nested field queries are not supported", span,
                              f"escape a literal brace as \\{char}; a placeholder is written ${{name}}")
        if char == "\\":
            return QueryError("a backslash at the end of a value escapes nothing", span, "write a literal backslash as \\\\")
        if char == ":":
            return QueryError("unexpected ':' where a field name should be", span,
                              "a field name is letters, digits, _ . @ and -; quote a value that contains ':'")
        if char in "<>":
            return QueryError(f"unexpected '{char}'", span, "write a range as field >= value, with a field name before it")
        shown = char if char.strip() else repr(char)
        return QueryError(f"unexpected character '{shown}'", span)
    assert isinstance(exc, lark.exceptions.UnexpectedToken)
    token = exc.token
    shown = str(token)
    span = _token_span(token) if token.start_pos is not None else _span(pos, pos + 1)
    expected = set(exc.expected)
    wanted = _expected(expected)
    if token.type == "COLON" or (token.type == "RANGE_WORD" and shown.startswith(":")):
        # Outside the states that accept it, the lexer reads ':...' as a range value.
        span = _span(pos, pos + 1)
        if "FIELD" in expected or "OR" in expected:
            # A field name with a space, or a value run straight into another term.
            return QueryError("unexpected ':'; a value that contains ':' must be quoted or escaped", span,
                              'quote the value (T:"10:00"); field names contain no spaces; join terms with and, or')
        return QueryError("unexpected ':' after a value", span, 'quote a value that contains \':\', e.g. Time:"10:00"')
    if token.type in ("UNQUOTED", "QUOTED", "FIELD") and ("OR" in expected or "AND" in expected):
        return QueryError(f"unexpected '{shown}'; join terms with 'and' or 'or'", span)
    if token.type == "RPAR":
        return QueryError("unexpected ')'", span, f"expected {wanted}" if wanted else "check the parentheses")
    if token.type in ("OR", "AND"):
        return QueryError(f"'{shown}' needs a term on each side", span,
                          f"to use the word as a value, escape it (\\{shown.lower()}) or quote it")
    if token.type == "RANGE_OP":
        return QueryError(f"unexpected '{shown}'; a range needs a field name before it", span)
    return QueryError(f"unexpected '{shown}'", span, f"expected {wanted}" if wanted else None)


# ---------------------------------------------------------------- placeholders


def placeholders_used(term: Term) -> list[Placeholder]:
    found: list[Placeholder] = []

    def visit_value(value: ValueExpr) -> None:
        if isinstance(value, ValueLogic):
            for operand in value.operands:
                visit_value(operand)
        else:
            found.extend(seg for seg in value.segments if isinstance(seg, Placeholder))

    def visit(node: Term) -> None:
        if isinstance(node, Logic):
            for operand in node.operands:
                visit(operand)
        elif isinstance(node, FieldMatch):
            visit_value(node.value)

    visit(term)
    return found


def placeholder_value(exclusion: Exclusion, name: str) -> str | None:
    """Return the value set for a placeholder, or None while it is unset (missing, null or empty)."""
    value = exclusion.placeholders.get(name)
    return value if value else None


# ---------------------------------------------------------------- typing


@dataclass(frozen=True)
class Unset:
    """A term that reads an unset placeholder; `shown` is the term with `${name}` in place of the value."""

    names: tuple[str, ...]
    shown: ir.Expr
    type: Type = Type.BOOL


@dataclass(frozen=True)
class Resolved:
    """A field of a filter term resolved to an output column."""

    field: str
    column: str
    type: Type


@dataclass
class TypedExclusion:
    """An exclusion whose filter parsed and typed against the rule's output.

    `predicate` matches the rows to exclude, with unset placeholder terms
    still in place (as `Unset`). `applied` is the predicate that compiles, or
    None when no part of the filter applies while placeholders are unset.
    """

    exclusion: Exclusion
    predicate: object  # an ir.Expr that may contain Unset terms
    applied: ir.Expr | None
    fields: list[Resolved]
    unset: list[str]


class _Typer:
    def __init__(self, exclusion: Exclusion, columns: tuple[ir.Column, ...], aliases: dict[str, str],
                 spellings: dict[str, str] | None = None):
        self.exclusion = exclusion
        self.columns = {c.name: c for c in columns}
        self.column_order = [c.name for c in columns]
        self.aliases = aliases
        # The platform's column spellings (`Timestamp` is `TimeGenerated` in Sentinel), as the query resolves them.
        self.spellings = spellings or {}
        self.fields: list[Resolved] = []

    def column(self, name: str) -> ir.Column | None:
        """Return the output column `name` names: itself, or else the platform's spelling of it."""
        column = self.columns.get(name)
        if column is None and name in self.spellings:
            column = self.columns.get(self.spellings[name])
        return column

    def error(self, message: str, span: Span, hint: str | None = None) -> QueryError:
        return QueryError(message, span, hint)

    # -- fields

    def resolve(self, name: str, span: Span) -> ir.ColumnRef:
        alias = self.aliases.get(name)
        columns_list = ", ".join(self.column_order)
        if alias is not None and name in self.columns and alias != name:
            raise self.error(f"field '{name}' is both an output column and an alias of '{alias}' in 'fields'", span,
                             f"rename the alias in 'fields' so that '{name}' means one column")
        if alias is not None:
            column = self.column(alias)
            if column is None:
                raise self.error(
                    f"field '{name}' is an alias of '{alias}', which is not an output column; "
                    f"output columns: {columns_list}", span,
                    did_you_mean(alias, self.column_order) or "fix the alias under 'fields'")
        else:
            column = self.column(name)
            if column is None:
                aliases = ", ".join(sorted(self.aliases)) or "none"
                raise self.error(
                    f"field '{name}' is neither an output column nor an alias in 'fields'; "
                    f"output columns: {columns_list}; aliases: {aliases}", span,
                    did_you_mean(name, self.column_order + sorted(self.aliases))
                    or "add an alias under 'fields', or project the column in the query")
        resolved = Resolved(name, column.name, column.type)
        if resolved not in self.fields:
            self.fields.append(resolved)
        return ir.ColumnRef(column.name, column.type)

    # -- terms

    def term(self, node: Term):
        if isinstance(node, Logic):
            operands = tuple(self.term(o) for o in node.operands)
            return _logic(node.op, operands)
        if isinstance(node, FieldMatch):
            column = self.resolve(node.field, node.field_span)
            return self.value_expr(column, node.field, node.value)
        return self.range(node)

    def value_expr(self, column: ir.ColumnRef, field: str, node: ValueExpr):
        if isinstance(node, ValueLogic):
            operands = tuple(self.value_expr(column, field, o) for o in node.operands)
            return _logic(node.op, operands)
        names = tuple(seg.name for seg in node.segments if isinstance(seg, Placeholder))
        if names:
            for seg in node.segments:
                if isinstance(seg, Placeholder) and seg.name not in self.exclusion.placeholders:
                    declared = ", ".join(sorted(self.exclusion.placeholders)) or "none"
                    raise self.error(f"placeholder '{seg.name}' is not declared under 'placeholders' "
                                     f"(declared: {declared})", seg.span,
                                     f"declare it: placeholders: {{{seg.name}: {{description: ..., value: ...}}}}")
            unset = tuple(n for n in names if placeholder_value(self.exclusion, n) is None)
            shown_segments = tuple(f"${{{seg.name}}}" if isinstance(seg, Placeholder) else seg for seg in node.segments)
            if unset:
                shown = self.shown_match(column, field, dataclasses.replace(node, segments=_merge(shown_segments)))
                return Unset(unset, shown)
            filled = tuple(placeholder_value(self.exclusion, seg.name) if isinstance(seg, Placeholder) else seg
                           for seg in node.segments)
            return self.match(column, field, dataclasses.replace(node, segments=_merge(filled)))
        return self.match(column, field, node)

    def match(self, column: ir.ColumnRef, field: str, value: Value) -> ir.Expr:
        type_ = column.type
        segments = value.segments
        text = "".join(seg for seg in segments if isinstance(seg, str))
        only_stars = bool(segments) and all(seg is STAR for seg in segments)
        if only_stars:
            # `field:*`: the field has a value. An absent string reads as "", so "" counts as no value.
            return ir.Call("isnotempty" if type_ in (Type.STRING, Type.DYNAMIC) else "isnotnull", (column,), Type.BOOL)
        if type_ in (Type.STRING, Type.DYNAMIC):
            subject = column if type_ is Type.STRING else ir.Call("tostring", (column,), Type.STRING)
            return _string_match(subject, segments)
        if STAR in segments:
            raise self.error(f"a wildcard cannot match {type_} column '{column.name}' (field '{field}')", value.span,
                             f"wildcards apply to string columns; {field}:* tests that the field has a value")
        literal = self.literal(type_, column.name, field, text, value.span)
        return _guarded(column, ir.Compare("==", column, literal))

    def shown_match(self, column: ir.ColumnRef, field: str, value: Value) -> ir.Expr:
        """Build the term for messages of a value with `${name}` text in place of unset placeholders.

        A string or dynamic column matches that text as it is. On other columns
        `${name}` is no number, datetime or bool, so the text is shown as a
        string literal. A wildcard there is still an error, as it is once set.
        """
        if column.type in (Type.STRING, Type.DYNAMIC) or STAR in value.segments:
            return self.match(column, field, value)
        text = "".join(seg for seg in value.segments if isinstance(seg, str))
        return _guarded(column, ir.Compare("==", column, ir.Literal(text, Type.STRING)))

    def literal(self, type_: Type, column: str, field: str, text: str, span: Span) -> ir.Literal:
        where = f"column '{column}' (field '{field}') is {type_}"
        if type_ in (Type.INT, Type.LONG):
            if not _INTEGER.match(text):
                hint = "a whole number, e.g. 5" if not _NUMBER.match(text) else "an integer column never equals a fraction"
                raise self.error(f"'{text}' is not a whole number, and {where}", span, hint)
            number = int(text)
            low, high = _INT_RANGE[type_]
            if not low <= number <= high:
                raise self.error(f"{number} is out of range: {where}", span, f"{type_} holds {low} to {high}")
            return ir.Literal(number, Type.LONG)
        if type_ in (Type.REAL, Type.DECIMAL):
            if not _NUMBER.match(text):
                raise self.error(f"'{text}' is not a number, and {where}", span, "write a number, e.g. 2.5")
            number = float(text)
            if math.isinf(number):
                raise self.error(f"'{text}' is out of range: {where}", span)
            return ir.Literal(number, Type.REAL)
        if type_ is Type.BOOL:
            if text.lower() not in ("true", "false"):
                raise self.error(f"'{text}' is not true or false, and {where}", span)
            return ir.Literal(text.lower() == "true", Type.BOOL)
        if type_ is Type.DATETIME:
            try:
                return ir.Literal(parse_datetime(text), Type.DATETIME)
            except LiteralError as exc:
                raise self.error(f"{str(exc).split(';')[0]}, and {where}", span,
                                 "write it as ISO 8601, e.g. 2024-01-31T13:45:00Z") from None
        if type_ is Type.TIMESPAN:
            try:
                return ir.Literal(parse_timespan_literal(text), Type.TIMESPAN)
            except LiteralError as exc:
                raise self.error(f"{exc}, and {where}", span, "write it as a KQL timespan, e.g. 30m, 1.5h, 2d") from None
        # NOTE: guid columns are not in any shipped rule's output; matching them needs a guid literal in every target.
        raise self.error(f"exclusions cannot match {type_} columns yet ({where})", span,
                         "project the column through tostring() in the query")

    def range(self, node: FieldRange) -> ir.Expr:
        column = self.resolve(node.field, node.field_span)
        type_ = column.type
        if type_ is Type.STRING:
            raise self.error(f"range '{node.op}' on string column '{column.name}' (field '{node.field}'); "
                             "strings have no order in KQL", node.span,
                             f"match text with wildcards instead, e.g. {node.field}:abc*")
        if type_ in (Type.DYNAMIC, Type.BOOL, Type.GUID):
            raise self.error(f"range '{node.op}' on {type_} column '{column.name}' (field '{node.field}'); "
                             "ranges need a number, datetime or timespan column", node.span,
                             "project a typed column in the query, e.g. toint(...)" if type_ is Type.DYNAMIC else None)
        if type_ in (Type.INT, Type.LONG) and not _INTEGER.match(node.value) and _NUMBER.match(node.value):
            # A fraction bounds an integer column meaningfully (x < 2.5), so compare as real.
            literal = ir.Literal(float(node.value), Type.REAL)
        else:
            literal = self.literal(type_, column.name, node.field, node.value, node.value_span)
        return _guarded(column, ir.Compare(node.op, column, literal))


def _merge(segments: tuple) -> tuple[Segment, ...]:
    """Join adjacent text segments (after placeholders are filled in)."""
    merged: list[Segment] = []
    for seg in segments:
        if isinstance(seg, str) and merged and isinstance(merged[-1], str):
            merged[-1] += seg
        elif not (isinstance(seg, str) and not seg and merged):
            merged.append(seg)
    return tuple(merged)


def _guarded(column: ir.ColumnRef, test: ir.Expr) -> ir.Expr:
    """`isnotnull(c) and test`: false, not null, when the column is null."""
    return ir.Logical("and", (ir.Call("isnotnull", (column,), Type.BOOL), test))


def _logic(op: str, operands: tuple) -> object:
    if op == "not":
        return ir.Not(operands[0])
    flat: list = []
    for operand in operands:
        if isinstance(operand, ir.Logical) and operand.op == op and not _is_guard(operand):
            flat.extend(operand.operands)
        else:
            flat.append(operand)
    return ir.Logical(op, tuple(flat))


def _is_guard(expr: ir.Logical) -> bool:
    """Whether `expr` is the `isnotnull(c) and c <op> value` of one term (`_guarded`), not a filter's own `and`.

    A filter's `and` may also start with `isnotnull(c)` (from `field:*`), but
    its other operands are terms, never a bare comparison.
    """
    if expr.op != "and" or len(expr.operands) != 2:
        return False
    first, second = expr.operands
    return isinstance(first, ir.Call) and first.name == "isnotnull" and isinstance(second, ir.Compare)


# Characters with a meaning in KQL, Python and PCRE regular expressions outside a class.
_REGEX_META = set("\\.+*?()|[]{}^$")


def regex_escape(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_META else c for c in text)


def _string_match(subject: ir.Expr, segments: tuple[Segment, ...]) -> ir.Expr:
    """Lower a case-insensitive wildcard value to the narrowest exact string predicate."""
    texts = [seg for seg in segments if isinstance(seg, str)]
    starts = bool(segments) and segments[0] is STAR
    ends = bool(segments) and segments[-1] is STAR
    if not segments:
        texts = [""]
    if len(texts) == 1:
        needle = ir.Literal(texts[0], Type.STRING)
        kind = {(False, False): "equals", (True, True): "contains",
                (False, True): "startswith", (True, False): "endswith"}[(starts, ends)]
        return ir.StringMatch(kind, subject, needle, case_sensitive=False)
    # A wildcard between two texts: an anchored regex, since no composition of
    # startswith/contains/endswith keeps the texts in order without overlap.
    body = ".*".join(regex_escape(t) for t in texts)
    pattern = "(?is)" + ("" if starts else "^") + body + ("" if ends else "$")
    return ir.StringMatch("regex", subject, ir.Literal(pattern, Type.STRING), case_sensitive=True)


# ---------------------------------------------------------------- unset placeholders


def _lower_bound(expr, positive: bool = True):
    """Replace `Unset` terms by the constant that makes the predicate least true.

    Under an even number of `not`s that is false, under an odd number true; the
    result is true only where the filter matches whatever the placeholders hold.
    Returns an IR expression, or a Python bool when the whole predicate folds.
    """
    if isinstance(expr, Unset):
        return not positive
    if isinstance(expr, ir.Not):
        inner = _lower_bound(expr.operand, not positive)
        return (not inner) if isinstance(inner, bool) else ir.Not(inner)
    if isinstance(expr, ir.Logical):
        kept = []
        for operand in expr.operands:
            folded = _lower_bound(operand, positive)
            if isinstance(folded, bool):
                if folded == (expr.op == "or"):
                    return folded  # true in an or, false in an and, decides it
                continue
            kept.append(folded)
        if not kept:
            return expr.op == "and"
        return kept[0] if len(kept) == 1 else ir.Logical(expr.op, tuple(kept))
    return expr


def _shown(expr):
    """The predicate with each `Unset` term shown with its `${name}`."""
    if isinstance(expr, Unset):
        return expr.shown
    if isinstance(expr, ir.Not):
        return ir.Not(_shown(expr.operand))
    if isinstance(expr, ir.Logical):
        return ir.Logical(expr.op, tuple(_shown(o) for o in expr.operands))
    return expr


# ---------------------------------------------------------------- public API


def filter_path(exclusion: Exclusion) -> tuple:
    return ("exclusions", exclusion.index, "filter")


def _diagnostic(rule: Rule, exclusion: Exclusion, error: QueryError, severity: str = "error") -> Diagnostic:
    prefixed = QueryError(f"exclusion '{exclusion.name}': {error.message}", error.span, error.hint, error.length)
    return rule.diagnostic(prefixed, severity, text_path=filter_path(exclusion), text=exclusion.filter)


def parse_exclusion(rule: Rule, exclusion: Exclusion) -> Term:
    """Parse one exclusion's filter and check its placeholders; raise `RulecastError` positioned in the file."""
    try:
        term = parse_filter(exclusion.filter)
    except QueryError as exc:
        raise RulecastError(_diagnostic(rule, exclusion, exc)) from None
    used = {p.name for p in placeholders_used(term)}
    for name in exclusion.placeholders:
        if name not in used:
            message = f"exclusion '{exclusion.name}': placeholder '{name}' is declared but the filter does not use it"
            raise RulecastError(Diagnostic("error", message, rule.location(("exclusions", exclusion.index, "placeholders", name), key=True),
                                           f"write ${{{name}}} in the filter where its value goes, or remove it"))
    return term


def type_exclusion(rule: Rule, exclusion: Exclusion, columns: tuple[ir.Column, ...],
                   spellings: dict[str, str] | None = None) -> TypedExclusion:
    """Parse and type one exclusion against the output `columns`; raise `RulecastError` on any problem.

    `spellings` maps a column name the rule writes to the platform's name for
    it (a catalog's `aliases`), so that `Timestamp` names `TimeGenerated` in Sentinel.
    """
    term = parse_exclusion(rule, exclusion)
    typer = _Typer(exclusion, columns, rule.fields, spellings)
    try:
        predicate = typer.term(term)
    except QueryError as exc:
        raise RulecastError(_diagnostic(rule, exclusion, exc)) from None
    unset = sorted({p.name for p in placeholders_used(term) if placeholder_value(exclusion, p.name) is None})
    bound = _lower_bound(predicate)
    applied = None if bound is False else bound
    if bound is True:  # pragma: no cover - a filter without terms cannot parse
        raise AssertionError("an exclusion filter folded to true")
    return TypedExclusion(exclusion, predicate, applied, typer.fields, unset)


@dataclass(frozen=True)
class Selection:
    """Which exclusions apply: every enabled one, none, or the named ones."""

    mode: str  # "all", "none" or "names"
    names: tuple[str, ...] = ()

    @staticmethod
    def parse(text: "str | Selection") -> "Selection":
        if isinstance(text, Selection):
            return text
        if text.strip() in ("all", "none"):
            return Selection(text.strip())
        names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
        if not names:
            raise SelectionError("--exclusions needs all, none, or a comma-separated list of exclusion names")
        return Selection("names", names)


class SelectionError(ValueError):
    """An `--exclusions` value that names no exclusion, or a disabled one: a usage error."""


def check_selection(rules: Iterable[Rule], selection: "str | Selection") -> None:
    """Raise `SelectionError` when a selected name is no exclusion of any of `rules`, or only a disabled one."""
    selection = Selection.parse(selection)
    if selection.mode != "names":
        return
    rules = list(rules)
    known = {e.name: (rule, e) for rule in rules for e in rule.exclusions}
    for name in selection.names:
        if name not in known:
            listed = "; ".join(f"'{n}'" for n in sorted(known)) or "the rules have no exclusions"
            hint = did_you_mean(name, known)
            raise SelectionError(f"--exclusions: no exclusion named '{name}'"
                                 + (f" ({hint})" if hint else "") + f"; exclusions: {listed}")
        enabled = [e for rule in rules for e in rule.exclusions if e.name == name and e.enabled]
        if not enabled:
            rule, exclusion = known[name]
            reason = f": {exclusion.reason}" if exclusion.reason else ""
            raise SelectionError(f"--exclusions: exclusion '{name}' in {rule.path} is disabled{reason}")


def selected(rule: Rule, selection: "str | Selection") -> list[Exclusion]:
    """The enabled exclusions of `rule` that `selection` picks, in file order."""
    selection = Selection.parse(selection)
    if selection.mode == "none":
        return []
    enabled = [e for e in rule.exclusions if e.enabled]
    if selection.mode == "all":
        return enabled
    return [e for e in enabled if e.name in selection.names]


def _spellings(analysis) -> dict[str, str]:
    """Return the column spellings of the analysis's platform: each name a rule writes, to the platform's name."""
    return load_catalog(analysis.platform).aliases if analysis.platform in PLATFORMS else {}


def apply_exclusions(analysis, selection: "str | Selection" = "all") -> ir.Node:
    """Return the analysis's IR with one labelled `Filter(Not(...))` per selected, enabled exclusion.

    Every exclusion's filter is parsed, so a syntax error anywhere fails; the
    applied ones are also typed against the output columns. A selected name
    that is not an enabled exclusion of this rule is skipped here: callers
    that take names from a user check them first with `check_selection`.
    Warnings for unset placeholders are appended to `analysis.warnings`.
    """
    rule = analysis.rule
    for exclusion in rule.exclusions:
        parse_exclusion(rule, exclusion)
    node = analysis.node
    columns = node.columns
    for exclusion in selected(rule, selection):
        typed = type_exclusion(rule, exclusion, columns, _spellings(analysis))
        if typed.unset:
            analysis.warnings.append(_unset_warning(rule, typed))
        if typed.applied is None:
            continue
        node = ir.Filter(node, ir.Not(typed.applied), columns, label=exclusion.name)
    return node


def _unset_warning(rule: Rule, typed: TypedExclusion) -> Diagnostic:
    exclusion = typed.exclusion
    names = ", ".join(typed.unset)
    plural = "s" if len(typed.unset) > 1 else ""
    if typed.applied is None:
        effect = "it excludes nothing until it is set"
    else:
        effect = "only the terms that do not use it apply"
    message = f"exclusion '{exclusion.name}': placeholder{plural} {names} unset; {effect}"
    first = typed.unset[0]
    offset = exclusion.filter.find("${" + first + "}")
    error = QueryError(message, _span(max(0, offset), max(0, offset) + len(first) + 3))
    hint = f"set exclusions[{exclusion.index}].placeholders.{first}.value in the rule file"
    error.hint = hint
    return rule.diagnostic(error, "warning", text_path=filter_path(exclusion), text=exclusion.filter)


def exclusion_warnings(analysis) -> list[Diagnostic]:
    """Warnings `rulecast check` prints: unset placeholders of enabled exclusions, and stray reasons."""
    rule = analysis.rule
    warnings = []
    for exclusion in rule.exclusions:
        if exclusion.enabled and exclusion.reason:
            warnings.append(Diagnostic("warning", f"exclusion '{exclusion.name}' is enabled but has a 'reason'",
                                       rule.location(("exclusions", exclusion.index, "reason")),
                                       "'reason' says why an exclusion is disabled; remove it or set enabled: false"))
        if not exclusion.enabled:
            continue
        typed = type_exclusion(rule, exclusion, analysis.columns, _spellings(analysis))
        if typed.unset:
            warnings.append(_unset_warning(rule, typed))
    return warnings


def describe_exclusions(analysis) -> list[str]:
    """Lines that list each exclusion with its resolved, typed form; raise `RulecastError` when one is invalid.

    An enabled exclusion must type against the output; a disabled one must
    parse, and its typing problem, if any, is shown as information.
    """
    from backends.kql import KqlGenerator

    printer = KqlGenerator()
    rule = analysis.rule
    lines: list[str] = []
    errors: list[Diagnostic] = []
    for exclusion in rule.exclusions:
        try:
            parse_exclusion(rule, exclusion)
        except RulecastError as exc:
            errors.extend(exc.diagnostics)
            continue
        state = "enabled" if exclusion.enabled else "disabled"
        lines.append(f"  exclusion '{exclusion.name}' ({state})")
        try:
            typed = type_exclusion(rule, exclusion, analysis.columns, _spellings(analysis))
        except RulecastError as exc:
            if exclusion.enabled:
                errors.extend(exc.diagnostics)
                continue
            # The full message lists every output column; the listing keeps the first clause.
            problem = exc.diagnostics[0].message.split(": ", 1)[-1].split("; output columns:")[0]
            lines.append(f"    cannot apply: {problem}")
            if exclusion.reason:
                lines.append(f"    reason: {exclusion.reason.strip()}")
            continue
        if typed.fields:
            lines.append("    fields: " + ", ".join(
                f"{f.field} = {f.column}:{f.type}" if f.field != f.column else f"{f.column}:{f.type}"
                for f in typed.fields))
        lines.append("    removes rows where: " + printer.expr(_shown(typed.predicate)))
        if typed.unset:
            applied = printer.expr(typed.applied) if typed.applied is not None else "nothing"
            lines.append(f"    while {', '.join(typed.unset)} is unset, removes rows where: {applied}")
        if not exclusion.enabled and exclusion.reason:
            lines.append(f"    reason: {exclusion.reason.strip()}")
    if errors:
        raise RulecastError(errors)
    return lines
