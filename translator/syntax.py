"""The untyped syntax tree built from the query text, before name resolution."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from translator.diagnostics import Span
from translator.types import Type

_NO_SPAN = Span.unknown()


def _span() -> Any:
    return field(default=_NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True)
class Lit:
    value: Any
    type: Type
    span: Span = _span()


@dataclass(frozen=True)
class Name:
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Member:
    """`base.key`, `base["key"]` or `base[index]`; `key` is a str or an int."""

    base: "Expr"
    key: Union[str, int]
    span: Span = _span()


@dataclass(frozen=True)
class CallExpr:
    name: str
    args: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Star:
    span: Span = _span()


@dataclass(frozen=True)
class Binary:
    """A binary operator in its KQL spelling: `==`, `+`, `!contains_cs`, `matches regex`... (`and`/`or` are `Logical`)."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Logical:
    """A chain of `and` or of `or` with two or more operands, in source order."""

    op: str
    operands: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class InExpr:
    """`in`, `!in`, `in~`, `!in~`, `has_any`, `has_all` with a parenthesised list."""

    op: str
    expr: "Expr"
    values: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class BetweenExpr:
    expr: "Expr"
    low: "Expr"
    high: "Expr"
    negated: bool
    span: Span = _span()


@dataclass(frozen=True)
class NegateExpr:
    operand: "Expr"
    span: Span = _span()


Expr = Union[Lit, Name, Member, CallExpr, Star, Binary, Logical, InExpr, BetweenExpr, NegateExpr]


@dataclass(frozen=True)
class Assignment:
    """An item of `project`, `extend`, `summarize` or `by`: `name = expr` or a bare `expr`."""

    name: str | None
    expr: Expr
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Where:
    predicate: Expr
    span: Span = _span()


@dataclass(frozen=True)
class ProjectOp:
    items: tuple[Assignment, ...]
    span: Span = _span()


@dataclass(frozen=True)
class ExtendOp:
    items: tuple[Assignment, ...]
    span: Span = _span()


@dataclass(frozen=True)
class RenamePair:
    new: str
    old: str
    span: Span = _span()
    old_span: Span = _span()


@dataclass(frozen=True)
class RenameOp:
    pairs: tuple[RenamePair, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Pattern:
    text: str
    span: Span = _span()


@dataclass(frozen=True)
class AwayOp:
    patterns: tuple[Pattern, ...]
    span: Span = _span()


@dataclass(frozen=True)
class KeepOp:
    patterns: tuple[Pattern, ...]
    span: Span = _span()


@dataclass(frozen=True)
class JoinCondition:
    left: str
    right: str
    span: Span = _span()


@dataclass(frozen=True)
class JoinOp:
    kind: str | None
    right: "Pipeline"
    conditions: tuple[JoinCondition, ...]
    span: Span = _span()
    kind_span: Span = _span()


@dataclass(frozen=True)
class SortItem:
    expr: Expr
    direction: str | None  # "asc", "desc" or None for the default
    nulls: str | None  # "first", "last" or None for the default
    span: Span = _span()


@dataclass(frozen=True)
class SortOp:
    keys: tuple[SortItem, ...]
    span: Span = _span()


@dataclass(frozen=True)
class TakeOp:
    count: Expr
    span: Span = _span()


@dataclass(frozen=True)
class TopOp:
    count: Expr
    key: SortItem
    span: Span = _span()


@dataclass(frozen=True)
class DistinctOp:
    names: tuple[Name, ...] | None  # None for `distinct *`
    span: Span = _span()


@dataclass(frozen=True)
class SummarizeOp:
    aggregates: tuple[Assignment, ...]
    by: tuple[Assignment, ...]
    span: Span = _span()


Operator = Union[Where, ProjectOp, ExtendOp, RenameOp, AwayOp, KeepOp, JoinOp, SortOp, TakeOp, TopOp, DistinctOp, SummarizeOp]


@dataclass(frozen=True)
class Pipeline:
    table: str
    operators: tuple[Operator, ...]
    span: Span = _span()
    table_span: Span = _span()


@dataclass(frozen=True)
class Let:
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Query:
    lets: tuple[Let, ...]
    pipeline: Pipeline
    span: Span = _span()
