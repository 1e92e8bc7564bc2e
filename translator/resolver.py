"""Resolve names and types: turn the syntax tree into the typed IR.

Column types come from the platform's `Catalog`; every tabular node's output
columns follow KQL's rules (join suffixes, `extend` replacing in place,
`summarize` keys before aggregates). Type errors that Microsoft's checker lets
through, such as `string == 5` or `bool == "yes"`, are errors here.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Sequence

from translator import ir
from translator import syntax as s
from translator.diagnostics import QueryError, Span, did_you_mean
from translator.functions import AGGREGATE_FUNCTIONS, FUNCTIONS, KNOWN_UNSUPPORTED, SignatureError
from translator.regex import check as check_regex
from translator.schema import PLATFORMS, Catalog, load_catalog
from translator.types import NUMERIC, Type, comparable, orderable_pair, widest_numeric

_STRING_OPS = {
    "contains": "contains",
    "startswith": "startswith",
    "endswith": "endswith",
    "has": "has",
    "hasprefix": "hasprefix",
    "hassuffix": "hassuffix",
}


@dataclass
class Resolved:
    """The resolved IR of a query, with the warnings found on the way."""

    node: ir.Node
    warnings: list[QueryError] = field(default_factory=list)

    @property
    def columns(self) -> tuple[ir.Column, ...]:
        return self.node.columns


def resolve(query: s.Query, catalog: Catalog) -> Resolved:
    """Resolve `query` against `catalog`; raise `QueryError` at the first error."""
    resolver = _Resolver(catalog)
    for let in query.lets:
        resolver.bind_let(let)
    node = resolver.pipeline(query.pipeline)
    return Resolved(node, resolver.warnings)


class _Scope:
    """The columns visible to expressions: the current table's, plus `let` names."""

    def __init__(self, columns: Sequence[ir.Column], lets: dict[str, ir.Expr], aliases: dict[str, str]):
        self.columns = {c.name: c for c in columns}
        self.order = list(columns)
        self.lets = lets
        self.aliases = aliases


class _Resolver:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.lets: dict[str, ir.Expr] = {}
        self.warnings: list[QueryError] = []

    # ------------------------------------------------------------ statements

    def bind_let(self, let: s.Let) -> None:
        if let.name in self.lets:
            raise QueryError(f"'{let.name}' is already defined by an earlier let", let.span)
        scope = _Scope((), self.lets, {})
        value = self.expr(let.value, scope)
        if not _is_constant(value):
            raise QueryError(f"let '{let.name}' must be a constant scalar or dynamic list", let.span)
        self.lets[let.name] = value

    def pipeline(self, pipeline: s.Pipeline) -> ir.Node:
        node = self.source(pipeline)
        for operator in pipeline.operators:
            node = self.operator(node, operator)
        return node

    def source(self, pipeline: s.Pipeline) -> ir.Source:
        table = pipeline.table
        if table not in self.catalog.tables:
            if table in self.lets:
                raise QueryError(f"'{table}' is a scalar let, not a table", pipeline.table_span)
            hint = did_you_mean(table, self.catalog.tables) or "known tables: " + ", ".join(sorted(self.catalog.tables))
            raise QueryError(f"unknown table '{table}' in the {self.catalog.platform} schema", pipeline.table_span, hint)
        return ir.Source(table, self.catalog.tables[table], pipeline.table_span)

    def operator(self, node: ir.Node, op: s.Operator) -> ir.Node:
        method = getattr(self, "op_" + type(op).__name__)
        return method(node, op)

    # ------------------------------------------------------------ tabular operators

    def scope(self, node: ir.Node) -> _Scope:
        return _Scope(node.columns, self.lets, self.catalog.aliases)

    def op_Where(self, node: ir.Node, op: s.Where) -> ir.Node:
        predicate = self.expr(op.predicate, self.scope(node))
        if predicate.type is not Type.BOOL:
            raise QueryError(f"the where predicate must be bool, not {predicate.type}", op.predicate.span)
        return ir.Filter(node, predicate, node.columns, None, op.span)

    def op_ProjectOp(self, node: ir.Node, op: s.ProjectOp) -> ir.Node:
        scope = self.scope(node)
        items: list[ir.ProjectItem] = []
        taken = {c.name for c in node.columns}
        declared: dict[str, bool] = {}
        for assignment in op.items:
            expr = self.expr(assignment.expr, scope)
            name = self.declare(assignment, expr, declared, taken, "project")
            items.append(ir.ProjectItem(name, expr, assignment.span))
        return _project(node, items, op.span)

    def op_ExtendOp(self, node: ir.Node, op: s.ExtendOp) -> ir.Node:
        scope = self.scope(node)
        replaced: dict[str, ir.ProjectItem] = {}
        added: dict[str, ir.ProjectItem] = {}
        existing = {c.name for c in node.columns}
        named: set[str] = set()  # names this extend declared explicitly
        for assignment in op.items:
            expr = self.expr(assignment.expr, scope)
            declared = set(added) | set(replaced)
            name = assignment.name or self.result_name(expr, set())
            if name is None:
                name = _next_column_name(existing | declared)
            # Kusto.Language lets a derived name (`tostring(c)`) replace an
            # earlier derived one; an explicit name may be declared only once.
            if name in named or (assignment.name is not None and name in declared):
                raise QueryError(f"a column named '{name}' is already declared in this extend", assignment.span,
                                 "give one of them another name: NewName = ...")
            if assignment.name is not None:
                named.add(name)
            item = ir.ProjectItem(name, expr, assignment.span)
            if name in existing:
                replaced[name] = item
            else:
                added[name] = item
        items = [replaced.get(c.name) or _passthrough(c) for c in node.columns] + list(added.values())
        return _project(node, items, op.span)

    def op_RenameOp(self, node: ir.Node, op: s.RenameOp) -> ir.Node:
        renames: dict[str, str] = {}
        scope = self.scope(node)
        for pair in op.pairs:
            old = self.column_name(pair.old, pair.old_span, scope)
            if old in renames:
                raise QueryError(f"column '{old}' is renamed twice", pair.span)
            renames[old] = pair.new
        new_names = list(renames.values())
        for pair in op.pairs:
            if new_names.count(pair.new) > 1:
                raise QueryError(f"a column named '{pair.new}' is already declared in this project-rename", pair.span)
        kept = {c.name for c in node.columns if c.name not in renames}
        for pair in op.pairs:
            if pair.new in kept or pair.new == pair.old:
                raise QueryError(
                    f"a column named '{pair.new}' already exists",
                    pair.span,
                    f"project-away '{pair.new}' first, or choose another name",
                )
        items = [ir.ProjectItem(renames.get(c.name, c.name), ir.ColumnRef(c.name, c.type)) for c in node.columns]
        return _project(node, items, op.span)

    def op_AwayOp(self, node: ir.Node, op: s.AwayOp) -> ir.Node:
        removed = self._match_patterns(node, op.patterns, "project-away")
        items = [_passthrough(c) for c in node.columns if c.name not in removed]
        return _project(node, items, op.span)

    def op_KeepOp(self, node: ir.Node, op: s.KeepOp) -> ir.Node:
        kept = self._match_patterns(node, op.patterns, "project-keep")
        items = [_passthrough(c) for c in node.columns if c.name in kept]
        return _project(node, items, op.span)

    def _match_patterns(self, node: ir.Node, patterns: Sequence[s.Pattern], operator: str) -> set[str]:
        names = [c.name for c in node.columns]
        matched: set[str] = set()
        for pattern in patterns:
            if "*" in pattern.text:
                matched.update(n for n in names if fnmatch.fnmatchcase(n, pattern.text.replace("[", "[[]")))
                continue
            name = pattern.text
            if name not in names and name in self.catalog.aliases and self.catalog.aliases[name] in names:
                name = self.catalog.aliases[name]
            if name not in names:
                message, hint = self.other_platform(f"{operator}: column '{pattern.text}' does not exist", pattern.text,
                                                    did_you_mean(pattern.text, names))
                raise QueryError(message, pattern.span, hint)
            matched.add(name)
        return matched

    def op_JoinOp(self, node: ir.Node, op: s.JoinOp) -> ir.Node:
        kind = op.kind or "innerunique"
        aliases = {"anti": "leftanti", "leftantisemi": "leftanti", "rightantisemi": "rightanti"}
        kind = aliases.get(kind, kind)
        if kind not in ir.JOIN_KINDS:
            raise QueryError(f"unknown join kind '{op.kind}'", op.kind_span, "kinds: " + ", ".join(ir.JOIN_KINDS))
        if op.kind is None:
            self.warnings.append(
                QueryError(
                    "join without kind= uses innerunique, which keeps one arbitrary left row per key",
                    op.span,
                    "write kind=innerunique to keep this meaning, or kind=inner to keep every matching pair",
                    length=4,
                )
            )
        right = self.pipeline(op.right)
        left_scope, right_scope = self.scope(node), self.scope(right)
        keys: list[tuple[str, str]] = []
        for condition in op.conditions:
            left_name = self.join_key(condition.left, left_scope, condition.span, "left")
            right_name = self.join_key(condition.right, right_scope, condition.span, "right")
            left_type = left_scope.columns[left_name].type
            right_type = right_scope.columns[right_name].type
            if Type.DYNAMIC in (left_type, right_type):
                raise QueryError(
                    f"join key '{left_name}' is dynamic; join keys cannot be dynamic",
                    condition.span,
                    "convert it with tostring() in a project before the join",
                )
            if not _same_key_type(left_type, right_type):
                raise QueryError(
                    f"join keys have different types: {left_name} is {left_type}, {right_name} is {right_type}",
                    condition.span,
                )
            keys.append((left_name, right_name))
        columns = _join_columns(kind, node.columns, right.columns)
        return ir.Join(node, right, kind, tuple(keys), columns, op.kind is not None, op.span)

    def join_key(self, name: str, scope: _Scope, span: Span, side: str) -> str:
        if name in scope.columns:
            return name
        alias = scope.aliases.get(name)
        if alias in scope.columns:
            return alias
        hint = did_you_mean(name, scope.columns) or f"{side} columns: " + ", ".join(list(scope.columns)[:12])
        message, hint = self.other_platform(f"join key '{name}' does not exist on the {side} side", name, hint)
        raise QueryError(message, span, hint)

    def op_SortOp(self, node: ir.Node, op: s.SortOp) -> ir.Node:
        keys = tuple(self.sort_key(node, item) for item in op.keys)
        return ir.Sort(node, keys, node.columns, op.span)

    def sort_key(self, node: ir.Node, item: s.SortItem) -> ir.SortKey:
        expr = self.expr(item.expr, self.scope(node))
        if not expr.type.is_sortable:
            raise QueryError(
                f"cannot sort by a {expr.type} value",
                item.expr.span,
                "convert it with tostring(), tolong() or todatetime() first" if expr.type is Type.DYNAMIC else None,
            )
        descending = item.direction != "asc"
        nulls_first = (item.nulls == "first") if item.nulls else not descending
        return ir.SortKey(expr, descending, nulls_first, item.span)

    def op_TakeOp(self, node: ir.Node, op: s.TakeOp) -> ir.Node:
        count = self.constant_count(op.count)
        return ir.Limit(node, count, node.columns, op.span)

    def op_TopOp(self, node: ir.Node, op: s.TopOp) -> ir.Node:
        count = self.constant_count(op.count)
        sort = ir.Sort(node, (self.sort_key(node, op.key),), node.columns, op.span)
        return ir.Limit(sort, count, node.columns, op.span)

    def constant_count(self, expr: s.Expr) -> int:
        try:
            value = self.expr(expr, _Scope((), self.lets, {}))
        except QueryError:
            value = None  # a column or other row value: not a constant
        if not isinstance(value, ir.Literal) or value.type not in (Type.LONG, Type.INT) or value.value is None:
            raise QueryError("the row count must be a constant integer", expr.span)
        if value.value < 0:
            raise QueryError("the row count must not be negative", expr.span)
        return int(value.value)

    def op_DistinctOp(self, node: ir.Node, op: s.DistinctOp) -> ir.Node:
        scope = self.scope(node)
        if op.names is None:
            names = [c.name for c in node.columns]
        else:
            names = [self.column_name(n.name, n.span, scope) for n in op.names]
            if len(set(names)) != len(names):
                raise QueryError("a column is listed twice in distinct", op.span)
        columns = tuple(scope.columns[n] for n in names)
        for column in columns:
            if column.type is Type.DYNAMIC:
                raise QueryError(f"distinct cannot group by the dynamic column '{column.name}'", op.span,
                                 "convert it with tostring() in a project first")
        return ir.Distinct(node, tuple(names), columns, op.span)

    def op_SummarizeOp(self, node: ir.Node, op: s.SummarizeOp) -> ir.Node:
        scope = self.scope(node)
        keys: list[ir.ProjectItem] = []
        declared: dict[str, bool] = {}
        for assignment in op.by:
            expr = self.expr(assignment.expr, scope)
            if expr.type is Type.DYNAMIC:
                raise QueryError("summarize cannot group by a dynamic value", assignment.span,
                                 "convert it with tostring() first")
            name = self.declare(assignment, expr, declared, set(), "summarize")
            keys.append(ir.ProjectItem(name, expr, assignment.span))
        used = set(declared)
        aggregations: list[ir.Aggregation] = []
        key_names = {k.name for k in keys}
        for assignment in op.aggregates:
            aggregation = self.aggregation(assignment, scope, used, key_names)
            used.update(aggregation.names)
            aggregations.append(aggregation)
        columns = tuple(ir.Column(k.name, k.expr.type) for k in keys)
        for aggregation in aggregations:
            columns += tuple(ir.Column(n, t) for n, t in zip(aggregation.names, aggregation.types))
        return ir.Aggregate(node, tuple(keys), tuple(aggregations), columns, op.span)

    def aggregation(self, assignment: s.Assignment, scope: _Scope, used: set[str], key_names: set[str]) -> ir.Aggregation:
        call = assignment.expr
        if not isinstance(call, s.CallExpr) or call.name not in AGGREGATE_FUNCTIONS:
            raise QueryError(
                "each summarize item must be one aggregate function call",
                assignment.span,
                "aggregates: " + ", ".join(sorted(AGGREGATE_FUNCTIONS)),
            )
        func = call.name
        if func in ("arg_max", "arg_min"):
            return self.arg_extreme(assignment, call, scope, used, key_names)
        args = tuple(self.expr(a, scope) for a in call.args if not isinstance(a, s.Star))
        if len(args) != len(call.args):
            raise QueryError(f"'*' is not allowed in {func}()", call.span)
        arity = {"count": (0, 0), "countif": (1, 1), "dcount": (1, 2), "make_set": (1, 2), "make_list": (1, 2)}
        low, high = arity.get(func, (1, 1))
        if not low <= len(args) <= high:
            raise QueryError(f"{func}() takes {_arity_text(low, high)}, not {len(args)}", call.span)
        result, prefix = self._aggregate_type(func, args, call)
        if assignment.name:
            name = assignment.name
            if name in used:
                raise QueryError(f"a column named '{name}' is already declared in this summarize", assignment.span)
        else:
            base = prefix + ("" if func in ("count", "countif") else (self.result_name(args[0], set()) or ""))
            name = _unique(base, used)
        return ir.Aggregation(func, args, (name,), (result,), (), assignment.span)

    def _aggregate_type(self, func: str, args: tuple[ir.Expr, ...], call: s.CallExpr) -> tuple[Type, str]:
        if func == "count":
            return Type.LONG, "count_"
        if func == "countif":
            if args[0].type is not Type.BOOL:
                raise QueryError(f"countif() needs a bool predicate, not {args[0].type}", call.args[0].span)
            return Type.LONG, "countif_"
        if len(args) == 2 and (not isinstance(args[1], ir.Literal) or args[1].type is not Type.LONG):
            raise QueryError(f"the second argument of {func}() must be an integer constant", call.args[1].span)
        value = args[0].type
        if func == "dcount":
            if value is Type.DYNAMIC:
                raise QueryError("dcount() of a dynamic value is not supported; convert it with tostring()", call.span)
            return Type.LONG, "dcount_"
        if func in ("min", "max"):
            if value is Type.DYNAMIC or value is Type.BOOL:
                raise QueryError(f"{func}() of a {value} value is not supported", call.span)
            return value, func + "_"
        if func == "sum":
            if value not in NUMERIC and value is not Type.TIMESPAN:
                raise QueryError(f"sum() needs a number or timespan, not {value}", call.span)
            return (Type.LONG if value is Type.INT else value), "sum_"
        if func == "avg":
            if value in (Type.DATETIME, Type.TIMESPAN):
                return value, "avg_"
            if value not in NUMERIC:
                raise QueryError(f"avg() needs a number, datetime or timespan, not {value}", call.span)
            return Type.REAL, "avg_"
        if func in ("make_set", "make_list"):
            return Type.DYNAMIC, "set_" if func == "make_set" else "list_"
        raise AssertionError(func)

    def arg_extreme(self, assignment: s.Assignment, call: s.CallExpr, scope: _Scope, used: set[str],
                    key_names: set[str]) -> ir.Aggregation:
        if not call.args or isinstance(call.args[0], s.Star):
            raise QueryError(f"{call.name}() needs the expression to maximise or minimise first", call.span)
        target = self.expr(call.args[0], scope)
        if not target.type.is_sortable or target.type is Type.BOOL:
            raise QueryError(f"{call.name}() cannot compare {target.type} values", call.args[0].span)
        # `*` returns every input column except the by keys and the target
        # column; listed columns are returned as listed (Kusto.Language).
        kept: list[str] = []
        for arg in call.args[1:]:
            if isinstance(arg, s.Star):
                kept.extend(
                    c.name for c in scope.order
                    if c.name not in key_names and c.name not in kept
                    and not (isinstance(target, ir.ColumnRef) and c.name == target.name)
                )
            elif isinstance(arg, s.Name):
                kept.append(self.column_name(arg.name, arg.span, scope))
            else:
                raise QueryError(f"{call.name}() returns columns: list column names or '*'", arg.span)
        target_name = assignment.name or self.result_name(target, set())
        if target_name is None:
            target_name = ("max_" if call.name == "arg_max" else "min_")
        names = [_unique(target_name, used)]
        taken = used | set(names)
        out_names = []
        for column in kept:
            unique = _unique(column, taken)
            taken.add(unique)
            out_names.append(unique)
        types = (target.type,) + tuple(scope.columns[c].type for c in kept)
        return ir.Aggregation(call.name, (target,), tuple(names + out_names), types, tuple(kept), assignment.span)

    # ------------------------------------------------------------ names

    def other_platform(self, message: str, name: str, hint: str | None) -> tuple[str, str | None]:
        """Extend an unknown-column message when another platform's schema has the column.

        A rule written for Defender XDR that names `Isp` fails for Sentinel,
        which spells it `ISP`; saying which schema has the name tells the
        user the rule is not simply misspelt.
        """
        platform = self.catalog.platform
        if any(c.name == name for columns in self.catalog.tables.values() for c in columns):
            return message, hint  # the platform has it, just not here
        for other in PLATFORMS:
            if other == platform:
                continue
            catalog = load_catalog(other)
            tables = [table for table, columns in catalog.tables.items() if any(c.name == name for c in columns)]
            if not tables:
                continue
            shown = ", ".join(tables[:2]) + (f" and {len(tables) - 2} more" if len(tables) > 2 else "")
            message += f": the {platform} schema has no such column, only the {other} schema ({shown})"
            written_as = [alias for alias, target in self.catalog.aliases.items() if target == name]
            written_as += [alias for alias, target in catalog.aliases.items() if target == name]
            if hint is None and written_as:
                hint = f"write '{written_as[0]}', which each target spells as its schema does"
            return message, hint
        return message, hint

    def column_name(self, name: str, span: Span, scope: _Scope) -> str:
        if name in scope.columns:
            return name
        alias = scope.aliases.get(name)
        if alias in scope.columns:
            return alias
        message, hint = self.other_platform(f"unknown column '{name}'", name, did_you_mean(name, scope.columns))
        raise QueryError(message, span, hint)

    def result_name(self, expr: ir.Expr, taken: set[str]) -> str | None:
        """Return the name KQL gives an unnamed expression, or None for a generated `ColumnN`."""
        if isinstance(expr, ir.ColumnRef):
            return expr.name
        if isinstance(expr, ir.Path):
            base = self.result_name(expr.base, taken)
            return None if base is None else "_".join([base] + [str(step) for step in expr.steps])
        if isinstance(expr, ir.Call):
            function = FUNCTIONS.get(expr.name)
            if function and expr.args and (function.keeps_name or function.name_prefix):
                base = self.result_name(expr.args[0], taken)
                if base is not None and function.name_prefix:
                    return function.name_prefix + base
                return base
        return None

    def declare(self, assignment: s.Assignment, expr: ir.Expr, declared: dict[str, bool], generated_taken: set[str],
                operator: str) -> str:
        """Name one item of a `project` or `summarize ... by`, as Kusto.Language does.

        `declared` maps each name the operator has declared so far to whether it
        was explicit (`name = e` or a bare column). An explicit name may not be
        declared twice (KS171); a name derived from an expression
        (`tostring(c)`, `d.a`) that clashes with another derived name takes the
        next free suffix, and one that clashes with an explicit name is an error.
        """
        explicit = assignment.name is not None or isinstance(expr, ir.ColumnRef)
        name = assignment.name or self.result_name(expr, set())
        if name is None:
            name = _next_column_name(generated_taken | set(declared))
        elif not explicit and name in declared and not declared[name]:
            name = _unique(name, set(declared))
        if name in declared:
            raise QueryError(f"a column named '{name}' is already declared in this {operator}", assignment.span,
                             "give one of them another name: NewName = ...")
        declared[name] = explicit
        return name

    # ------------------------------------------------------------ expressions

    def expr(self, node: s.Expr, scope: _Scope) -> ir.Expr:
        method = getattr(self, "x_" + type(node).__name__)
        return method(node, scope)

    def x_Lit(self, node: s.Lit, scope: _Scope) -> ir.Expr:
        return ir.Literal(node.value, node.type, node.span)

    def x_Name(self, node: s.Name, scope: _Scope) -> ir.Expr:
        column = scope.columns.get(node.name)
        if column is None and node.name in scope.aliases and scope.aliases[node.name] in scope.columns:
            column = scope.columns[scope.aliases[node.name]]
        if column is not None:
            return ir.ColumnRef(column.name, column.type, node.span)
        if node.name in scope.lets:
            value = scope.lets[node.name]
            return _with_span(value, node.span)
        if node.name in ("true", "false", "null"):
            raise QueryError(f"unexpected '{node.name}'", node.span)
        candidates = list(scope.columns) + list(scope.lets)
        message, hint = self.other_platform(f"unknown column '{node.name}'", node.name, did_you_mean(node.name, candidates))
        raise QueryError(message, node.span, hint)

    def x_Member(self, node: s.Member, scope: _Scope) -> ir.Expr:
        base = self.expr(node.base, scope)
        if base.type is not Type.DYNAMIC:
            key = f".{node.key}" if isinstance(node.key, str) else f"[{node.key}]"
            raise QueryError(
                f"cannot access '{key}' on a {base.type} value; only dynamic values have members",
                node.span,
                "parse the string first with todynamic()" if base.type is Type.STRING else None,
            )
        if isinstance(base, ir.Path):
            return ir.Path(base.base, base.steps + (node.key,), Type.DYNAMIC, node.span)
        return ir.Path(base, (node.key,), Type.DYNAMIC, node.span)

    def x_Star(self, node: s.Star, scope: _Scope) -> ir.Expr:
        raise QueryError("'*' is only allowed in arg_max() and arg_min()", node.span)

    def x_NegateExpr(self, node: s.NegateExpr, scope: _Scope) -> ir.Expr:
        operand = self.expr(node.operand, scope)
        if operand.type not in NUMERIC and operand.type is not Type.TIMESPAN:
            raise QueryError(f"cannot negate a {operand.type} value", node.span)
        return ir.Negate(operand, Type.LONG if operand.type is Type.INT else operand.type, node.span)

    def x_CallExpr(self, node: s.CallExpr, scope: _Scope) -> ir.Expr:
        name = node.name
        if name == "not":
            if len(node.args) != 1:
                raise QueryError("not() takes exactly one argument", node.span)
            operand = self.expr(node.args[0], scope)
            if operand.type is not Type.BOOL:
                raise QueryError(f"not() needs a bool argument, not {operand.type}", node.args[0].span)
            return ir.Not(operand, Type.BOOL, node.span)
        if name in AGGREGATE_FUNCTIONS:
            raise QueryError(f"aggregate function '{name}' can only be used in summarize", node.span)
        function = FUNCTIONS.get(name)
        if function is None:
            if name in KNOWN_UNSUPPORTED:
                raise QueryError(f"function '{name}' is not supported", node.span,
                                 "see docs/language.md for the supported functions", length=len(name))
            hint = did_you_mean(name, FUNCTIONS)
            raise QueryError(f"unknown function '{name}'", node.span, hint, length=len(name))
        if any(isinstance(a, s.Star) for a in node.args):
            raise QueryError(f"'*' is not allowed in {name}()", node.span)
        args = tuple(self.expr(a, scope) for a in node.args)
        if not function.min_args <= len(args) <= function.max_args:
            raise QueryError(
                f"{name}() takes {_arity_text(function.min_args, function.max_args)}, not {len(args)}", node.span
            )
        try:
            result = function.result([a.type for a in args])
        except SignatureError as exc:
            raise QueryError(f"{name}(): {exc}", node.span) from None
        return ir.Call(function.name, args, result, node.span)

    def x_Binary(self, node: s.Binary, scope: _Scope) -> ir.Expr:
        op = node.op
        left = self.expr(node.left, scope)
        right = self.expr(node.right, scope)
        if op in ("==", "!="):
            if not comparable(left.type, right.type):
                raise QueryError(
                    f"cannot compare {left.type} with {right.type} using '{op}'",
                    node.span,
                    _conversion_hint(left.type, right.type),
                )
            return ir.Compare(op, left, right, Type.BOOL, node.span)
        if op in ("<", "<=", ">", ">="):
            if not orderable_pair(left.type, right.type):
                if Type.STRING in (left.type, right.type) and left.type in (Type.STRING, Type.DYNAMIC) and right.type in (Type.STRING, Type.DYNAMIC):
                    raise QueryError(f"'{op}' is not defined on strings", node.span, "compare numbers, datetimes or timespans")
                raise QueryError(f"cannot compare {left.type} with {right.type} using '{op}'", node.span,
                                 _conversion_hint(left.type, right.type))
            return ir.Compare(op, left, right, Type.BOOL, node.span)
        if op in ("=~", "!~"):
            self.require_strings(node, left, right, op)
            return ir.StringMatch("equals", left, right, False, op == "!~", Type.BOOL, node.span)
        if op == "matches regex":
            self.require_strings(node, left, right, op)
            if not isinstance(right, ir.Literal):
                raise QueryError("the regex of 'matches regex' must be a string constant", node.right.span)
            problem = check_regex(right.value)
            if problem:
                raise QueryError(problem.message, _span_in_literal(node.right.span, right.value, problem.offset),
                                 problem.hint)
            return ir.StringMatch("regex", left, right, True, False, Type.BOOL, node.span)
        if op in ("+", "-", "*", "/", "%"):
            return self.arith(node, op, left, right)
        negated = op.startswith("!")
        base = op.lstrip("!")
        case_sensitive = base.endswith("_cs")
        base = base[:-3] if case_sensitive else base
        if base in _STRING_OPS:
            self.require_strings(node, left, right, op)
            return ir.StringMatch(_STRING_OPS[base], left, right, case_sensitive, negated, Type.BOOL, node.span)
        raise QueryError(f"operator '{op}' is not supported", node.span)

    def require_strings(self, node: s.Binary, left: ir.Expr, right: ir.Expr, op: str) -> None:
        if left.type not in (Type.STRING, Type.DYNAMIC):
            raise QueryError(f"'{op}' needs a string on the left, not {left.type}", node.left.span,
                             "convert it with tostring()")
        if right.type is not Type.STRING:
            raise QueryError(f"'{op}' needs a string on the right, not {right.type}", node.right.span)

    def x_Logical(self, node: s.Logical, scope: _Scope) -> ir.Expr:
        operands: list[ir.Expr] = []
        for operand in node.operands:
            expr = self.expr(operand, scope)
            if expr.type is not Type.BOOL:
                raise QueryError(f"'{node.op}' needs bool operands, not {expr.type}", operand.span)
            if isinstance(expr, ir.Logical) and expr.op == node.op:
                operands.extend(expr.operands)
            else:
                operands.append(expr)
        return ir.Logical(node.op, tuple(operands), Type.BOOL, node.span)

    def arith(self, node: s.Binary, op: str, left: ir.Expr, right: ir.Expr) -> ir.Expr:
        a, b = left.type, right.type
        result: Type | None = None
        if a in NUMERIC and b in NUMERIC:
            result = widest_numeric(a, b)
        elif op in ("+", "-") and a is Type.DATETIME and b is Type.TIMESPAN:
            result = Type.DATETIME
        elif op == "+" and a is Type.TIMESPAN and b is Type.DATETIME:
            result = Type.DATETIME
        elif op == "-" and a is Type.DATETIME and b is Type.DATETIME:
            result = Type.TIMESPAN
        elif op in ("+", "-") and a is Type.TIMESPAN and b is Type.TIMESPAN:
            result = Type.TIMESPAN
        elif op == "/" and a is Type.TIMESPAN and b is Type.TIMESPAN:
            result = Type.REAL
        elif op in ("*", "/") and a is Type.TIMESPAN and b in NUMERIC:
            result = Type.TIMESPAN
        elif op == "*" and a in NUMERIC and b is Type.TIMESPAN:
            result = Type.TIMESPAN
        if result is None:
            raise QueryError(f"'{op}' is not defined between {a} and {b}", node.span)
        return ir.Arith(op, left, right, result, node.span)

    def x_InExpr(self, node: s.InExpr, scope: _Scope) -> ir.Expr:
        left = self.expr(node.expr, scope)
        values: list[ir.Expr] = []
        for value in node.values:
            values.extend(_flatten(self.expr(value, scope)))
        op = node.op
        if op in ("has_any", "has_all"):
            if left.type not in (Type.STRING, Type.DYNAMIC):
                raise QueryError(f"'{op}' needs a string on the left, not {left.type}", node.expr.span)
            for value in values:
                if value.type is not Type.STRING:
                    raise QueryError(f"'{op}' needs string values, not {value.type}", value.span)
            return ir.HasAny(left, tuple(values), op == "has_all", Type.BOOL, node.span)
        case_sensitive = not op.endswith("~")
        if not case_sensitive and left.type not in (Type.STRING, Type.DYNAMIC):
            raise QueryError(f"'{op}' needs a string on the left, not {left.type}", node.expr.span)
        for value in values:
            if not comparable(left.type, value.type) or (left.type is Type.DYNAMIC and value.type is Type.DYNAMIC):
                raise QueryError(f"cannot compare {left.type} with {value.type} in '{op}'", value.span or node.span,
                                 _conversion_hint(left.type, value.type))
        return ir.InList(left, tuple(values), case_sensitive, op.startswith("!"), Type.BOOL, node.span)

    def x_BetweenExpr(self, node: s.BetweenExpr, scope: _Scope) -> ir.Expr:
        expr = self.expr(node.expr, scope)
        low = self.expr(node.low, scope)
        high = self.expr(node.high, scope)
        if expr.type is Type.DATETIME and low.type is Type.DATETIME and high.type is Type.TIMESPAN:
            high = ir.Arith("+", low, high, Type.DATETIME, node.high.span)
        for bound in (low, high):
            if not expr.type.is_orderable or not orderable_pair(expr.type, bound.type):
                raise QueryError(f"between needs numbers, datetimes or timespans of one kind; found {expr.type} and {bound.type}",
                                 node.span)
        return ir.Between(expr, low, high, node.negated, Type.BOOL, node.span)


# ---------------------------------------------------------------- helpers


def _passthrough(column: ir.Column) -> ir.ProjectItem:
    return ir.ProjectItem(column.name, ir.ColumnRef(column.name, column.type))


def _project(node: ir.Node, items: Sequence[ir.ProjectItem], span: Span) -> ir.Project:
    columns = tuple(ir.Column(item.name, item.expr.type) for item in items)
    return ir.Project(node, tuple(items), columns, span)


def _next_column_name(taken: set[str]) -> str:
    n = 1
    while f"Column{n}" in taken:
        n += 1
    return f"Column{n}"


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 1
    while f"{name}{n}" in taken:
        n += 1
    return f"{name}{n}"


def _join_columns(kind: str, left: Sequence[ir.Column], right: Sequence[ir.Column]) -> tuple[ir.Column, ...]:
    """Return a join's output columns: left then right, with KQL's numeric suffixes on clashes."""
    if kind in ("leftsemi", "leftanti"):
        return tuple(left)
    if kind in ("rightsemi", "rightanti"):
        return tuple(right)
    combined = list(left) + list(right)
    reserved = {c.name for c in combined}
    seen: set[str] = set()
    result: list[ir.Column] = []
    for column in combined:
        name = column.name
        if name in seen:
            n = 1
            while f"{name}{n}" in reserved or f"{name}{n}" in seen:
                n += 1
            name = f"{name}{n}"
        seen.add(name)
        result.append(ir.Column(name, column.type))
    return tuple(result)


def _same_key_type(a: Type, b: Type) -> bool:
    promote = {Type.INT: Type.LONG}
    return promote.get(a, a) is promote.get(b, b)


def _flatten(expr: ir.Expr) -> list[ir.Expr]:
    """Expand a dynamic array literal into its elements, as `in (...)` does; nested arrays flatten."""
    if isinstance(expr, ir.Literal) and expr.type is Type.DYNAMIC and isinstance(expr.value, list):
        out: list[ir.Expr] = []
        for element in expr.value:
            out.extend(_flatten(ir.Literal(element, _json_type(element), expr.span)))
        return out
    return [expr]


def _json_type(value) -> Type:
    if isinstance(value, bool):
        return Type.BOOL
    if isinstance(value, int):
        return Type.LONG
    if isinstance(value, float):
        return Type.REAL
    if isinstance(value, str):
        return Type.STRING
    return Type.DYNAMIC


def _is_constant(expr: ir.Expr) -> bool:
    if isinstance(expr, ir.Literal):
        return True
    if isinstance(expr, ir.Negate):
        return _is_constant(expr.operand)
    if isinstance(expr, ir.Call) and expr.name in ("ago", "now"):
        return all(_is_constant(a) for a in expr.args)
    if isinstance(expr, ir.Arith):
        return _is_constant(expr.left) and _is_constant(expr.right)
    return False


def _span_in_literal(span: Span, value: str, offset: int) -> Span:
    """Point at character `offset` of a string literal's value when the text maps one to one.

    That holds for `"..."` without escapes and `@"..."` without doubled
    quotes on one line; otherwise the whole literal is the position.
    """
    opening = (span.end - span.start) - len(value) - 1  # 1 for "...", 2 for @"..."
    if opening not in (1, 2) or "\n" in value:
        return span
    start = span.start + opening + offset
    return Span(start, start + 1, span.line, span.column + opening + offset)


def _with_span(expr: ir.Expr, span: Span) -> ir.Expr:
    from dataclasses import replace

    return replace(expr, span=span)


def _arity_text(low: int, high: int) -> str:
    if low == high:
        return f"{low} argument{'s' if low != 1 else ''}"
    return f"{low} to {high} arguments"


def _conversion_hint(a: Type, b: Type) -> str | None:
    if Type.STRING in (a, b):
        other = b if a is Type.STRING else a
        if other.is_numeric:
            return "convert one side, e.g. tostring(x) or tolong(x)"
        if other is Type.BOOL:
            return "compare with true or false, not a string"
        if other is Type.DATETIME:
            return "write the value as datetime(...)"
    return None
