"""The typed intermediate representation that every backend compiles.

The IR is small and closed. Tabular nodes (`Source`, `Filter`, `Project`,
`Join`, `Sort`, `Limit`, `Aggregate`, `Distinct`) each know their output
columns; scalar nodes each know their type. Spans point into the query text
and take no part in equality, so two IRs built from differently formatted
text compare equal when they mean the same thing.

Literal values use plain Python types: `str`, `int`, `float`, `bool`, JSON
values for `dynamic`, and integer ticks (100 ns units) for `datetime` (ticks
since 0001-01-01T00:00:00Z) and `timespan`. `None` is the typed null.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Union

from translator.diagnostics import Span
from translator.types import Type

_NO_SPAN = Span.unknown()


def _span() -> Any:
    return field(default=_NO_SPAN, compare=False, repr=False)


class Column(NamedTuple):
    name: str
    type: Type

    def __str__(self) -> str:
        return f"{self.name}:{self.type}"


# ---------------------------------------------------------------- scalar nodes


@dataclass(frozen=True)
class Literal:
    value: Any
    type: Type
    span: Span = _span()


@dataclass(frozen=True)
class ColumnRef:
    name: str
    type: Type
    span: Span = _span()


@dataclass(frozen=True)
class Path:
    """Access into a dynamic value: `base.key`, `base["a.b"]` or `base[0]`."""

    base: "Expr"
    steps: tuple[Union[str, int], ...]
    type: Type = Type.DYNAMIC
    span: Span = _span()


@dataclass(frozen=True)
class Compare:
    """`==`, `!=`, `<`, `<=`, `>`, `>=` (string equality is case-sensitive)."""

    op: str
    left: "Expr"
    right: "Expr"
    type: Type = Type.BOOL
    span: Span = _span()


# StringMatch kinds, in the spelling of their positive, case-insensitive operator.
STRING_MATCH_KINDS = ("equals", "contains", "startswith", "endswith", "has", "hasprefix", "hassuffix", "regex")


@dataclass(frozen=True)
class StringMatch:
    """A string predicate with an explicit case mode.

    `kind` is one of `STRING_MATCH_KINDS`. `=~` is `equals` with
    `case_sensitive=False`; `!contains_cs` is `contains`, case-sensitive,
    negated. `regex` searches for a match anywhere and is always case-sensitive
    unless the pattern carries `(?i)`.
    """

    kind: str
    left: "Expr"
    right: "Expr"
    case_sensitive: bool
    negated: bool = False
    type: Type = Type.BOOL
    span: Span = _span()


@dataclass(frozen=True)
class InList:
    """`in`, `!in`, `in~`, `!in~` against a flattened list of values."""

    expr: "Expr"
    values: tuple["Expr", ...]
    case_sensitive: bool
    negated: bool = False
    type: Type = Type.BOOL
    span: Span = _span()


@dataclass(frozen=True)
class HasAny:
    """`has_any` (`all=False`) or `has_all` (`all=True`), case-insensitive term matching."""

    expr: "Expr"
    values: tuple["Expr", ...]
    all: bool = False
    type: Type = Type.BOOL
    span: Span = _span()


@dataclass(frozen=True)
class Between:
    """`expr between (low .. high)`, inclusive at both ends."""

    expr: "Expr"
    low: "Expr"
    high: "Expr"
    negated: bool = False
    type: Type = Type.BOOL
    span: Span = _span()


@dataclass(frozen=True)
class Logical:
    """`and` / `or` over two or more operands, with KQL's three-valued logic."""

    op: str
    operands: tuple["Expr", ...]
    type: Type = Type.BOOL
    span: Span = _span()


@dataclass(frozen=True)
class Not:
    operand: "Expr"
    type: Type = Type.BOOL
    span: Span = _span()


@dataclass(frozen=True)
class Arith:
    """`+`, `-`, `*`, `/`, `%` with KQL's result type (integer division truncates)."""

    op: str
    left: "Expr"
    right: "Expr"
    type: Type
    span: Span = _span()


@dataclass(frozen=True)
class Negate:
    operand: "Expr"
    type: Type
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    """A scalar function from the fixed signature table in `translator.functions`."""

    name: str
    args: tuple["Expr", ...]
    type: Type
    span: Span = _span()


Expr = Union[Literal, ColumnRef, Path, Compare, StringMatch, InList, HasAny, Between, Logical, Not, Arith, Negate, Call]


# ---------------------------------------------------------------- tabular nodes


@dataclass(frozen=True)
class Source:
    table: str
    columns: tuple[Column, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Filter:
    """Keep the rows whose predicate is true; `label` names an exclusion filter."""

    input: "Node"
    predicate: Expr
    columns: tuple[Column, ...]
    label: str | None = None
    span: Span = _span()


@dataclass(frozen=True)
class ProjectItem:
    name: str
    expr: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Project:
    """The output columns, in order, each computed from the input row.

    Covers `project`, `extend`, `project-rename`, `project-away` and
    `project-keep`: backends choose the spelling from how `items` relate to the
    input columns. Every expression sees the input row, never a sibling item.
    """

    input: "Node"
    items: tuple[ProjectItem, ...]
    columns: tuple[Column, ...]
    span: Span = _span()


JOIN_KINDS = (
    "innerunique",
    "inner",
    "leftouter",
    "rightouter",
    "fullouter",
    "leftsemi",
    "rightsemi",
    "leftanti",
    "rightanti",
)


@dataclass(frozen=True)
class Join:
    """`left | join kind=... (right) on ...`; `keys` pairs a left column with a right column.

    Output columns are the left columns then the right columns (semi and anti
    kinds keep one side), with duplicate right names renamed by KQL's suffix
    rule; `columns` holds the final names.
    """

    left: "Node"
    right: "Node"
    kind: str
    keys: tuple[tuple[str, str], ...]
    columns: tuple[Column, ...]
    # Whether the rule spelled the kind; it drives a warning, not the meaning.
    kind_explicit: bool = field(default=True, compare=False)
    span: Span = _span()


@dataclass(frozen=True)
class SortKey:
    expr: Expr
    descending: bool
    nulls_first: bool
    span: Span = _span()


@dataclass(frozen=True)
class Sort:
    input: "Node"
    keys: tuple[SortKey, ...]
    columns: tuple[Column, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Limit:
    """`take`/`limit` N (and `top`, which is a `Limit` over a `Sort`)."""

    input: "Node"
    count: int
    columns: tuple[Column, ...]
    span: Span = _span()


AGGREGATES = ("count", "countif", "dcount", "min", "max", "sum", "avg", "make_set", "make_list", "arg_max", "arg_min")


@dataclass(frozen=True)
class Aggregation:
    """One aggregate of a `summarize`.

    For most functions `names` has one entry. For `arg_max`/`arg_min` it names
    the extremal expression's column first, then one column per entry of
    `carried` (the input columns returned from the chosen row).
    """

    func: str
    args: tuple[Expr, ...]
    names: tuple[str, ...]
    types: tuple[Type, ...]
    carried: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Aggregate:
    """`summarize aggregations by keys`: key columns first, then the aggregates."""

    input: "Node"
    keys: tuple[ProjectItem, ...]
    aggregations: tuple[Aggregation, ...]
    columns: tuple[Column, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Distinct:
    input: "Node"
    names: tuple[str, ...]
    columns: tuple[Column, ...]
    span: Span = _span()


Node = Union[Source, Filter, Project, Join, Sort, Limit, Aggregate, Distinct]


def children(node: Node) -> tuple[Node, ...]:
    """Return the tabular inputs of a node (two for a join, none for a source)."""
    if isinstance(node, Source):
        return ()
    if isinstance(node, Join):
        return (node.left, node.right)
    return (node.input,)


def sources(node: Node) -> list[Source]:
    """Return the `Source` nodes under `node`, left to right."""
    if isinstance(node, Source):
        return [node]
    found: list[Source] = []
    for child in children(node):
        found.extend(sources(child))
    return found


def walk_exprs(expr: Expr):
    """Yield `expr` and every scalar node under it, parents first."""
    yield expr
    if isinstance(expr, (Literal, ColumnRef)):
        return
    if isinstance(expr, Path):
        yield from walk_exprs(expr.base)
    elif isinstance(expr, (Compare, StringMatch, Arith)):
        yield from walk_exprs(expr.left)
        yield from walk_exprs(expr.right)
    elif isinstance(expr, (InList, HasAny)):
        yield from walk_exprs(expr.expr)
        for value in expr.values:
            yield from walk_exprs(value)
    elif isinstance(expr, Between):
        yield from walk_exprs(expr.expr)
        yield from walk_exprs(expr.low)
        yield from walk_exprs(expr.high)
    elif isinstance(expr, Logical):
        for operand in expr.operands:
            yield from walk_exprs(operand)
    elif isinstance(expr, (Not, Negate)):
        yield from walk_exprs(expr.operand)
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from walk_exprs(arg)
