"""Parse query text into the syntax tree (`translator.syntax`), keeping source spans.

The grammar is `query.lark` beside this file (LALR). Text outside the
supported subset is a `QueryError` that names the construct and its position.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import lark
from lark import Token, Transformer, v_args

from translator import syntax as s
from translator.diagnostics import QueryError, Span
from translator.types import Type, type_from_name
from translator.values import LiteralError, parse_datetime, parse_timespan_literal, parse_timespan_text

GRAMMAR_PATH = Path(__file__).with_name("query.lark")

# The deepest nesting of the parse tree a query may have. Each `not(` adds two
# levels (the call and its arguments), each parenthesis in `a or (b and (...))`
# one, and parentheses around a single operand none.
MAX_DEPTH = 1000

SUPPORTED_OPERATORS = (
    "where",
    "project",
    "extend",
    "project-rename",
    "project-away",
    "project-keep",
    "join",
    "order by",
    "sort by",
    "take",
    "limit",
    "top",
    "distinct",
    "summarize",
)

# KQL tabular operators outside the supported subset, so that the error can
# say "not supported" instead of "unknown".
KQL_OPERATORS = {
    "as", "consume", "count", "evaluate", "extend", "externaldata", "facet", "find", "fork", "getschema",
    "invoke", "lookup", "make-series", "mv-apply", "mv-expand", "parse", "parse-where", "parse-kv",
    "partition", "print", "project-reorder", "range", "reduce", "render", "sample", "sample-distinct",
    "scan", "search", "serialize", "sort", "summarize", "take", "top-hitters", "top-nested", "union",
    "where", "filter", "datatable", "materialize", "macro-expand", "graph-match", "make-graph",
}


@functools.lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    return lark.Lark(
        GRAMMAR_PATH.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        cache=True,
    )


def parse_query(text: str) -> s.Query:
    """Parse `text` into a `syntax.Query`; raise `QueryError` on text outside the subset."""
    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise _describe_parse_error(text, exc) from None
    _check_depth(tree)
    try:
        return _Builder(text).transform(tree)
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, QueryError):
            raise exc.orig_exc from None
        raise


def _check_depth(tree: lark.Tree) -> None:
    """Raise `QueryError` at the first sub-expression nested more than `MAX_DEPTH` levels deep.

    The tree builder, the resolver and the backends all recurse once or more
    per level, so the limit keeps them within the stack that `translator.cli`
    gives them. Parentheses around a single operand add no level, and a chain
    of `and` or of `or` is one level whatever its length.
    """
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise too_deep_error(_meta_span(node.meta))
        stack.extend((child, depth + 1) for child in reversed(node.children) if isinstance(child, lark.Tree))


def too_deep_error(span: Span, limit: int = MAX_DEPTH) -> QueryError:
    """Return the error for a query nested more than `limit` levels deep, pointing at `span`."""
    return QueryError(
        f"the query nests too deeply (more than {limit} levels)",
        span,
        "flatten the expression. A list of values needs no nesting: write Column in (\"a\", \"b\") or one chain of 'or'",
        length=1,
    )


# ------------------------------------------------------------------ errors


def _span_at(text: str, pos: int, length: int = 1) -> Span:
    pos = max(0, min(pos, len(text)))
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return Span(pos, pos + length, line, column)


_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_\-]*")


def _describe_parse_error(text: str, exc: lark.exceptions.UnexpectedInput) -> QueryError:
    pos = exc.pos_in_stream if exc.pos_in_stream is not None else len(text)
    if isinstance(exc, lark.exceptions.UnexpectedEOF) or (
        isinstance(exc, lark.exceptions.UnexpectedToken) and exc.token.type == "$END"
    ):
        return _eof_error(text)
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        char = text[pos] if pos < len(text) else ""
        if char in "\"'`" or text.startswith(("@\"", "@'", "h\"", "h'", "H\"", "H'"), pos):
            return QueryError("unterminated string literal", _span_at(text, pos), "close the string with the same quote it opens with")
        if char == "\\":
            return QueryError("unexpected '\\' outside a string literal", _span_at(text, pos))
        return QueryError(f"unexpected character '{char}'", _span_at(text, pos))
    assert isinstance(exc, lark.exceptions.UnexpectedToken)
    token = exc.token
    word_match = _WORD.match(text, pos)
    word = word_match.group(0) if word_match else str(token)
    expected = set(exc.expected)
    if "WHERE" in expected or "PROJECT" in expected:
        # The parser wanted a tabular operator after `|`.
        span = _span_at(text, pos, len(word))
        supported = ", ".join(SUPPORTED_OPERATORS)
        if word in KQL_OPERATORS or word.lower() in KQL_OPERATORS:
            return QueryError(f"operator '{word}' is not supported", span, f"supported operators: {supported}")
        return QueryError(f"unknown tabular operator '{word}'", span, f"supported operators: {supported}")
    if "LET" in expected and token.type != "NAME":
        return QueryError(f"expected a table name or 'let' but found '{token}'", _span_at(text, pos, len(str(token))))
    if token.type == "VBAR" and "SEMICOLON" in expected:
        return QueryError(
            "a let statement may bind only a scalar or a dynamic list, not a tabular expression",
            _span_at(text, pos),
        )
    # Outside its own states the contextual lexer may read a name as a COLUMN_PATTERN.
    is_name = token.type in ("NAME", "COLUMN_PATTERN") and _WORD.fullmatch(str(token)) is not None
    if is_name and pos > 0 and text[pos - 1].isdigit():
        number = re.search(r"[0-9.]+$", text[:pos]).group(0)
        return QueryError(
            f"invalid number or timespan '{number}{word}'",
            _span_at(text, pos - len(number), len(number) + len(word)),
            "timespan units: d, h, m, s, ms, microsecond, tick (e.g. 30m, 1.5h)",
        )
    if is_name and _looks_like_operator_position(expected):
        return QueryError(
            f"unexpected name '{word}'; expected an operator such as '==', 'and' or '|'", _span_at(text, pos, len(word))
        )
    if token.type == "JOIN_PARAM_NAME" or "JOIN_PARAM_NAME" in expected and token.type == "NAME":
        return QueryError(f"unexpected '{word}' in join", _span_at(text, pos, len(word)), "write: join kind=inner (Table | ...) on Key")
    shown = str(token).replace("\n", "\\n")
    return QueryError(f"unexpected '{shown}'", _span_at(text, pos, max(1, len(shown))), _expected_hint(expected))


def _looks_like_operator_position(expected: set[str]) -> bool:
    return "AND" in expected or "OR" in expected or "VBAR" in expected


def _expected_hint(expected: set[str]) -> str | None:
    names = {
        "NAME": "a name",
        "STRING": "a string",
        "INT": "a number",
        "RPAR": "')'",
        "LPAR": "'('",
        "COMMA": "','",
        "EQUAL": "'='",
        "ON": "'on'",
        "BY": "'by'",
        "RSQB": "']'",
        "VBAR": "'|'",
    }
    wanted = sorted(names[e] for e in expected if e in names)
    if not wanted:
        return None
    return "expected " + ", ".join(wanted[:5])


def _eof_error(text: str) -> QueryError:
    stripped = text.rstrip()
    if stripped.endswith("|"):
        pos = len(stripped) - 1
        return QueryError("dangling '|' at the end of the query", _span_at(text, pos), "remove the '|' or add an operator after it")
    if not re.sub(r"//[^\n]*", "", stripped).strip():
        return QueryError("the query is empty", _span_at(text, 0), "write a table name, e.g. EmailEvents")
    return QueryError("the query ends unexpectedly", _span_at(text, max(0, len(stripped) - 1)), "check for an unclosed '(' or a missing operand")


# ------------------------------------------------------------------ literals


def _tok_span(token: Token) -> Span:
    return Span(token.start_pos, token.end_pos, token.line, token.column)


_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


def decode_string(token_text: str, span: Span) -> str:
    """Return the value of one KQL string literal token."""
    text = token_text
    if text[:1] in "hH" and len(text) > 1 and text[1] in "\"'@`":
        text = text[1:]  # obfuscated strings mean the same value
    if text.startswith("```"):
        return text[3:-3]
    if text.startswith("@"):
        quote = text[1]
        return text[2:-1].replace(quote * 2, quote)
    body = text[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[nxt])
            i += 2
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6] or ""):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", body[i + 2 : i + 4] or ""):
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        else:
            pos = span.start + (1 if token_text[0] not in "hH" else 2) + i
            bad = Span(pos, pos + 2, span.line, span.column + (pos - span.start))
            raise QueryError(
                f"invalid escape sequence '\\{nxt}' in string literal",
                bad,
                "write '\\\\' for a backslash, or use a verbatim string @\"...\"",
            )
    return "".join(out)


_TYPED = re.compile(r"^(?P<type>[A-Za-z]+)\s*\((?P<arg>.*)\)$", re.S)


def decode_typed_literal(text: str, span: Span) -> tuple[object, Type]:
    """Decode `datetime(...)`, `timespan(...)`, `int(...)`, `long(null)` and the like."""
    match = _TYPED.match(text)
    assert match is not None
    type_ = type_from_name(match["type"])
    arg = match["arg"].strip()
    if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "\"'":
        arg = arg[1:-1]
    try:
        if arg == "null":
            return None, type_
        if type_ is Type.DATETIME:
            if not arg:
                raise QueryError("datetime() without a value means the current time; use now() instead", span)
            return parse_datetime(arg), type_
        if type_ is Type.TIMESPAN:
            return parse_timespan_text(arg), type_
        if type_ is Type.BOOL:
            if arg.lower() not in ("true", "false"):
                raise LiteralError(f"invalid bool '{arg}'")
            return arg.lower() == "true", type_
        if type_ in (Type.INT, Type.LONG):
            value = int(arg, 0) if not arg.startswith("-") else -int(arg[1:], 0)
            bits = 32 if type_ is Type.INT else 64
            if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
                raise LiteralError(f"{type_} literal {value} is out of range")
            return value, type_
        if type_ in (Type.REAL, Type.DECIMAL):
            return float(arg), Type.REAL if type_ is Type.REAL else Type.DECIMAL
        if type_ is Type.GUID:
            if not re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", arg):
                raise LiteralError(f"invalid guid '{arg}'")
            return arg.lower(), type_
    except (LiteralError, ValueError) as exc:
        raise QueryError(str(exc), span) from None
    raise QueryError(f"literals of type {type_} are not supported", span)


# ------------------------------------------------------------------ tree builder


def _meta_span(meta) -> Span:
    if getattr(meta, "empty", True):
        return Span.unknown()
    return Span(meta.start_pos, meta.end_pos, meta.line, meta.column)


@v_args(meta=True)
class _Builder(Transformer):
    """Turns the lark parse tree into `translator.syntax` nodes."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    # --- statements

    def start(self, meta, children):
        *lets, pipeline = children
        return s.Query(tuple(lets), pipeline, _meta_span(meta))

    def let_stmt(self, meta, children):
        name, value = children
        return s.Let(str(name), value, _meta_span(meta))

    def pipeline(self, meta, children):
        table, *operators = children
        return s.Pipeline(str(table), tuple(operators), _meta_span(meta), _tok_span(table))

    # --- operators

    def where_op(self, meta, children):
        return s.Where(children[0], _meta_span(meta))

    def project_op(self, meta, children):
        return s.ProjectOp(tuple(children), _meta_span(meta))

    def extend_op(self, meta, children):
        return s.ExtendOp(tuple(children), _meta_span(meta))

    def named(self, meta, children):
        name, expr = children
        return s.Assignment(self._column(name), expr, _meta_span(meta), _tok_span(name))

    def unnamed(self, meta, children):
        return s.Assignment(None, children[0], _meta_span(meta))

    def rename_op(self, meta, children):
        return s.RenameOp(tuple(children), _meta_span(meta))

    def rename_pair(self, meta, children):
        new, old = children
        return s.RenamePair(self._column(new), self._column(old), _meta_span(meta), _tok_span(old))

    def away_op(self, meta, children):
        return s.AwayOp(tuple(s.Pattern(self._column(t), _tok_span(t)) for t in children), _meta_span(meta))

    def keep_op(self, meta, children):
        return s.KeepOp(tuple(s.Pattern(self._column(t), _tok_span(t)) for t in children), _meta_span(meta))

    def join_op(self, meta, children):
        params = [c for c in children if isinstance(c, tuple)]
        right = next(c for c in children if isinstance(c, s.Pipeline))
        conditions = tuple(c for c in children if isinstance(c, s.JoinCondition))
        kind = None
        kind_span = Span.unknown()
        for name, value, span in params:
            if name != "kind":
                raise QueryError(f"join parameter '{name}' is not supported", span, "only kind=... is supported")
            if kind is not None:
                raise QueryError("join kind is given twice", span)
            kind, kind_span = value, span
        return s.JoinOp(kind, right, conditions, _meta_span(meta), kind_span)

    def join_param(self, meta, children):
        name, value = children
        return (str(name), str(value), _meta_span(meta))

    def join_subquery(self, meta, children):
        return children[0]

    def join_table(self, meta, children):
        token = children[0]
        return s.Pipeline(str(token), (), _tok_span(token), _tok_span(token))

    def join_on_column(self, meta, children):
        name = self._column(children[0])
        return s.JoinCondition(name, name, _meta_span(meta))

    def join_on_pair(self, meta, children):
        side_a, name_a, side_b, name_b = children
        span = _meta_span(meta)
        if str(side_a) != "$left" or str(side_b) != "$right":
            # Kusto.Language requires this order too (KS183).
            raise QueryError(
                "a join condition must be written $left.<column> == $right.<column>",
                span,
                f"write $left.{name_b if str(side_a) == '$right' else name_a} == $right.{name_a if str(side_a) == '$right' else name_b}",
            )
        return s.JoinCondition(self._column(name_a), self._column(name_b), span)

    def sort_op(self, meta, children):
        return s.SortOp(tuple(children), _meta_span(meta))

    def sort_key(self, meta, children):
        expr, direction, nulls = children
        return s.SortItem(expr, str(direction) if direction else None, nulls, _meta_span(meta))

    def sort_nulls(self, meta, children):
        return str(children[0])

    def take_op(self, meta, children):
        return s.TakeOp(children[0], _meta_span(meta))

    def top_op(self, meta, children):
        count, key = children
        return s.TopOp(count, key, _meta_span(meta))

    def distinct_all(self, meta, children):
        return s.DistinctOp(None, _meta_span(meta))

    def distinct_columns(self, meta, children):
        return s.DistinctOp(tuple(s.Name(self._column(t), _tok_span(t)) for t in children), _meta_span(meta))

    def summarize_op(self, meta, children):
        aggregates, by = children
        return s.SummarizeOp(tuple(aggregates or ()), tuple(by or ()), _meta_span(meta))

    def agg_list(self, meta, children):
        return children

    def agg_named(self, meta, children):
        name, expr = children
        return s.Assignment(self._column(name), expr, _meta_span(meta), _tok_span(name))

    def agg_unnamed(self, meta, children):
        return s.Assignment(None, children[0], _meta_span(meta))

    def by_list(self, meta, children):
        return children

    # --- expressions

    def or_(self, meta, children):
        return s.Logical("or", tuple(children), _meta_span(meta))

    def and_(self, meta, children):
        return s.Logical("and", tuple(children), _meta_span(meta))

    def _binary(op):  # noqa: N805 - a factory used in the class body
        def build(self, meta, children):
            return s.Binary(op, children[0], children[1], _meta_span(meta))

        return build

    eq = _binary("==")
    ne = _binary("!=")
    lt = _binary("<")
    le = _binary("<=")
    gt = _binary(">")
    ge = _binary(">=")
    eq_ci = _binary("=~")
    ne_ci = _binary("!~")
    add = _binary("+")
    sub = _binary("-")
    mul = _binary("*")
    div = _binary("/")
    mod = _binary("%")
    regex = _binary("matches regex")
    del _binary

    def string_op(self, meta, children):
        left, op, right = children
        return s.Binary(str(op), left, right, _meta_span(meta))

    def in_(self, meta, children):
        left, op, values = children
        return s.InExpr(str(op), left, tuple(values), _meta_span(meta))

    def has_set(self, meta, children):
        left, op, values = children
        return s.InExpr(str(op), left, tuple(values), _meta_span(meta))

    def between(self, meta, children):
        expr, op, low, high = children
        return s.BetweenExpr(expr, low, high, str(op).startswith("!"), _meta_span(meta))

    def negate(self, meta, children):
        operand = children[0]
        span = _meta_span(meta)
        if isinstance(operand, s.Lit) and operand.type in (Type.LONG, Type.REAL, Type.TIMESPAN) and operand.value is not None:
            return s.Lit(-operand.value, operand.type, span)
        return s.NegateExpr(operand, span)

    def expr_list(self, meta, children):
        return children

    def arg_list(self, meta, children):
        return children

    def member(self, meta, children):
        base, name = children
        return s.Member(base, str(name), _meta_span(meta))

    def member_bracket(self, meta, children):
        base, token = children
        return s.Member(base, self._bracket_key(token), _meta_span(meta))

    def index(self, meta, children):
        base, key = children
        span = _meta_span(meta)
        if isinstance(key, s.Lit) and key.type is Type.STRING:
            return s.Member(base, key.value, span)
        if isinstance(key, s.Lit) and key.type is Type.LONG:
            return s.Member(base, int(key.value), span)
        raise QueryError("an index into a dynamic value must be a string or integer constant", span)

    def name(self, meta, children):
        token = children[0]
        return s.Name(str(token), _tok_span(token))

    def bracket_name(self, meta, children):
        token = children[0]
        return s.Name(self._bracket_key(token), _tok_span(token))

    def _column(self, token: Token) -> str:
        """Return the column name a NAME, COLUMN_PATTERN or bracketed `['a b']` token spells."""
        return self._bracket_key(token) if token.type == "BRACKET_NAME" else str(token)

    def _bracket_key(self, token: Token) -> str:
        inner = str(token).strip()[1:-1].strip()
        return decode_string(inner, _tok_span(token))

    def call(self, meta, children):
        name, args = children
        return s.CallExpr(str(name), tuple(args or ()), _meta_span(meta))

    def star(self, meta, children):
        return s.Star(_meta_span(meta))

    # --- literals

    def string(self, meta, children):
        value = "".join(decode_string(str(t), _tok_span(t)) for t in children)
        return s.Lit(value, Type.STRING, _meta_span(meta))

    def long_lit(self, meta, children):
        token = children[0]
        value = int(str(token), 0)
        if value >= 2**63:
            raise QueryError(f"integer literal {token} is out of range for long", _tok_span(token))
        return s.Lit(value, Type.LONG, _tok_span(token))

    def real_lit(self, meta, children):
        token = children[0]
        return s.Lit(float(str(token)), Type.REAL, _tok_span(token))

    def timespan_lit(self, meta, children):
        token = children[0]
        try:
            return s.Lit(parse_timespan_literal(str(token)), Type.TIMESPAN, _tok_span(token))
        except LiteralError as exc:
            raise QueryError(str(exc), _tok_span(token)) from None

    def typed_lit(self, meta, children):
        token = children[0]
        value, type_ = decode_typed_literal(str(token), _tok_span(token))
        return s.Lit(value, type_, _tok_span(token))

    def true_lit(self, meta, children):
        return s.Lit(True, Type.BOOL, _meta_span(meta))

    def false_lit(self, meta, children):
        return s.Lit(False, Type.BOOL, _meta_span(meta))

    def dynamic_lit(self, meta, children):
        return s.Lit(children[0], Type.DYNAMIC, _meta_span(meta))

    def dyn_array(self, meta, children):
        return list(children)

    def dyn_empty_array(self, meta, children):
        return []

    def dyn_object(self, meta, children):
        return dict(children)

    def dyn_empty_object(self, meta, children):
        return {}

    def dyn_pair(self, meta, children):
        key, value = children
        return (key.value, value)

    def dyn_string(self, meta, children):
        return children[0].value

    def dyn_long(self, meta, children):
        token = children[-1]
        value = int(str(token), 0)
        return -value if self.text[meta.start_pos] == "-" else value

    def dyn_real(self, meta, children):
        token = children[-1]
        value = float(str(token))
        return -value if self.text[meta.start_pos] == "-" else value

    def dyn_true(self, meta, children):
        return True

    def dyn_false(self, meta, children):
        return False

    def dyn_null(self, meta, children):
        return None

    def dyn_timespan(self, meta, children):
        raise QueryError("only JSON values (strings, numbers, bools, null, arrays, objects) may appear in dynamic()", _meta_span(meta))

    dyn_typed = dyn_timespan


def dump_json(value) -> str:
    """Compact JSON as KQL prints dynamic arrays and objects."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
