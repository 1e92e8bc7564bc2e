"""Literals a matching event's raw JSON line must contain, for skipping lines unparsed.

For each table, `table_prefilters` returns a list of (needle, case_sensitive)
pairs such that every event the rule could keep has at least one needle in its
JSON text: verbatim, or compared case-insensitively (ASCII) when the flag is
False. An empty result for a table means every line must be parsed.

The needles are sound only with the reader's guards (translator/jsonl.py):
a line is parsed anyway when it contains a JSON escape that could spell a
needle's characters (`\\u`, `\\/`) or, for case-insensitive needles, one of
the two non-ASCII characters whose lowercase is ASCII (U+0130, U+212A).

A needle is taken only from a predicate that requires it of the value the
JSON line spells out: a string column, or a dynamic value read from a column
(directly, through a path, or through `todynamic()` of a string column). For
dynamic values a needle must not contain JSON punctuation or whitespace (the
text KQL compares is re-serialized) and must not look like part of a number
(`1e2` in the line reads as `100`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Iterable, Optional

from translator import ir
from translator.types import Type

Needles = frozenset  # of (needle, case_sensitive)

_NUMBER_CHARACTERS = set("0123456789.eE+-")
_JSON_PUNCTUATION = set('{}[]:,"\\')


def table_prefilters(root: ir.Node) -> dict[str, list[tuple[str, bool]]]:
    """Return, per table read by `root`, the needles one of which every useful line has."""
    per_table: dict[str, list[Optional[frozenset]]] = {}
    for source, predicates in _source_filters(root):
        needles = _best(_needles(_resolve(p, mapping)) for p, mapping in predicates)
        per_table.setdefault(source.table, []).append(needles)
    result: dict[str, list[tuple[str, bool]]] = {}
    for table, options in sorted(per_table.items()):
        # A table read twice (a self-join) keeps a line that either reading needs.
        if all(o is not None for o in options):
            union = frozenset().union(*options)
            result[table] = sorted(union)
    return result


class _Branch:
    """A source with the where predicates above it, while they still apply row by row."""

    def __init__(self, source: ir.Source):
        self.source = source
        self.predicates: list[tuple[ir.Expr, dict]] = []
        self.mapping: dict[str, ir.Expr] = {}  # column name -> expression over the source
        self.open = True


def _source_filters(root: ir.Node):
    """Yield each source with its predicates, each paired with the column mapping in force.

    Predicates above a `project` see its columns, so each carries the mapping
    from those names to expressions over the source. `sort` passes predicates
    through; `take` and `distinct` stop them, because dropping rows before them
    changes which rows they keep, and so do `summarize` and `join`.
    """
    for branch in _branches(root):
        yield branch.source, branch.predicates


def _branches(node: ir.Node) -> list[_Branch]:
    if isinstance(node, ir.Source):
        return [_Branch(node)]
    branches = [b for child in ir.children(node) for b in _branches(child)]
    for branch in branches:
        if not branch.open:
            continue
        if isinstance(node, ir.Filter):
            branch.predicates.append((node.predicate, branch.mapping))
        elif isinstance(node, ir.Project):
            branch.mapping = {item.name: _resolve(item.expr, branch.mapping) for item in node.items}
        elif not isinstance(node, ir.Sort):
            branch.open = False
    return branches


def _resolve(expr: ir.Expr, mapping: dict) -> ir.Expr:
    """Rewrite `expr` over the source's columns by substituting projected columns."""
    if not mapping:
        return expr
    if isinstance(expr, ir.ColumnRef):
        return mapping.get(expr.name, expr)
    changes = {}
    for field in dataclasses.fields(expr):
        value = getattr(expr, field.name)
        if isinstance(value, tuple) and value and all(_is_expr(v) for v in value):
            changes[field.name] = tuple(_resolve(v, mapping) for v in value)
        elif _is_expr(value):
            changes[field.name] = _resolve(value, mapping)
    return dataclasses.replace(expr, **changes) if changes else expr


def _is_expr(value) -> bool:
    return isinstance(value, ir.Expr.__args__)


def _best(options: Iterable[Optional[frozenset]]) -> Optional[frozenset]:
    candidates = [o for o in options if o]
    if not candidates:
        return None
    # Prefer fewer alternatives, then longer needles: both make the scan more selective.
    return min(candidates, key=lambda o: (len(o), -min(len(n) for n, _ in o)))


def _needles(expr: ir.Expr) -> Optional[frozenset]:
    if isinstance(expr, ir.Logical):
        parts = [_needles(o) for o in expr.operands]
        if expr.op == "and":
            return _best(parts)
        if any(p is None for p in parts):
            return None
        return frozenset().union(*parts)
    if isinstance(expr, ir.StringMatch) and not expr.negated and expr.kind != "regex":
        if isinstance(expr.right, ir.Literal):
            return _needle(expr.left, expr.right.value, expr.case_sensitive)
        return None
    if isinstance(expr, ir.Compare) and expr.op == "==":
        for subject, other in ((expr.left, expr.right), (expr.right, expr.left)):
            if isinstance(other, ir.Literal) and other.type is Type.STRING:
                return _needle(subject, other.value, True)
        return None
    if isinstance(expr, ir.InList) and not expr.negated:
        return _alternatives(expr.expr, expr.values, expr.case_sensitive)
    if isinstance(expr, ir.HasAny):
        if expr.all:
            return _best(_alternatives(expr.expr, (v,), False) for v in expr.values)
        return _alternatives(expr.expr, expr.values, False)
    return None


def _alternatives(subject: ir.Expr, values, case_sensitive: bool) -> Optional[frozenset]:
    found: set = set()
    for value in values:
        if not (isinstance(value, ir.Literal) and value.type is Type.STRING):
            return None
        needle = _needle(subject, value.value, case_sensitive)
        if needle is None:
            return None
        found |= needle
    return frozenset(found) or None


def _needle(subject: ir.Expr, text: str, case_sensitive: bool) -> Optional[frozenset]:
    if not isinstance(text, str) or text == "":
        return None
    origin = _origin(subject)
    if origin is None:
        return None
    if not case_sensitive and not text.isascii():
        return None
    if origin == "dynamic":
        if any(c in _JSON_PUNCTUATION or c.isspace() for c in text):
            return None
        if set(text) <= _NUMBER_CHARACTERS or text.lower() in "-infinity nan":
            return None
    if not case_sensitive:
        text = text.lower()
    return frozenset({(text, case_sensitive)})


def _origin(expr: ir.Expr) -> Optional[str]:
    """Return "string" or "dynamic" when the value is spelled out in the JSON line, else None."""
    if isinstance(expr, ir.ColumnRef):
        if expr.type is Type.STRING:
            return "string"
        if expr.type is Type.DYNAMIC:
            return "dynamic"
        return None
    if isinstance(expr, ir.Path):
        return "dynamic" if _origin(expr.base) is not None else None
    if isinstance(expr, ir.Call) and expr.name in ("todynamic", "tostring") and len(expr.args) == 1:
        inner = _origin(expr.args[0])
        if inner is None:
            return None
        return "dynamic" if expr.name == "todynamic" or inner == "dynamic" else "string"
    return None


def encode_needle(needle: str) -> bytes:
    """Return the bytes a JSON encoder writes for `needle` inside a string, without escapes it may choose."""
    return json.dumps(needle, ensure_ascii=False)[1:-1].encode("utf-8")
