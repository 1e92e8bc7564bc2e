"""SPL generation: the IR as a Splunk search that returns the rows the rule means.

One method per IR node kind. The generated search keeps three invariants that
the scalar translation relies on:

- every column is a field named as the column, renamed from the event field
  the data mapping names right after the base search;
- a string column is never null: missing string fields are filled with "",
  as KQL reads them (`fillnull`), and every string expression evaluates to a
  string;
- a dynamic column holds JSON text (or the bare text of a JSON string), and
  paths into it are read with eval's `spath()`.

Predicates are translated twice: `true_of(e)` is an SPL condition that holds
exactly when the rule's `e` is true, and `false_of(e)` exactly when it is
false, so KQL's null rules (`null != 5` is true, `null == 5` is false,
`not(null)` is null) never depend on how Splunk treats a null operand. The base
search carries only terms that can over-match; every exact test is in `where`.

Helper fields are named `rc_*` and removed before the output's `table`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backends import splunk_time as time
from backends.splunk_mapping import Mapping
from translator import ir
from translator.diagnostics import QueryError
from translator.types import Type
from translator.values import format_datetime, format_timespan_literal

TARGET = "splunk"
INDENT = "    "

JOIN_LIMIT_COMMENT = (
    "Splunk's join reads at most 50,000 rows from its subsearch and stops it after 60 seconds "
    "(limits.conf [join] subsearch_maxout, subsearch_maxtime); rows past either limit are silently missing."
)
APPEND_LIMIT_COMMENT = (
    "Splunk's append reads at most 50,000 rows from its subsearch and stops it after 60 seconds; "
    "rows past either limit are silently missing."
)
STATS_JOIN_COMMENT = (
    "stats-based join: exact only while the join key is unique on the {side} side; "
    "a repeated key turns the copied columns into multivalue fields."
)

# Characters a search-term prefilter value may hold: no wildcard, no breaker,
# nothing Splunk's case folding or segmentation could read differently.
_SAFE_PREFILTER = re.compile(r"^[A-Za-z0-9_]+$")
_EVAL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COMMAND_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_SPATH_KEY = re.compile(r"^[^.{}\[\]\"\s]+$")
# KQL term characters for `has`: Unicode letters and digits.
_TERM_CLASS = r"[\p{L}\p{N}]"
_REGEX_SPECIAL = set("\\^$.|?*+()[]{}")

# Regex metacharacters of a needle computed at search time, escaped by replace().
_NEEDLE_SPECIAL = r"([\\^$.|?*+()\[\]{}])"
_NEEDLE_ESCAPE = r"\\\1"
# JSON escapes for a string value, applied in this order by replace().
_JSON_ESCAPES = ((r"\\", r"\\\\"), ('"', r'\\"'), (r"\n", r"\\n"), (r"\r", r"\\r"), (r"\t", r"\\t"))
# make_list items are `<10-digit position>:<JSON>`; this removes the positions
# after the items are joined with commas, one whole JSON element at a time.
_LIST_ITEM = r'\d{10}:("(?:[^"\\]|\\.)*"|[^,]*)'
_FIRST_GROUP = r"\1"
# JSON syntax as PCRE, for reading the text that spath() returns for a dynamic value.
_JSON_SPACE = r"[ \t\n\r]*"
_JSON_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_JSON_STRING = r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'
_JSON_SCALAR = rf"^{_JSON_SPACE}(?:{_JSON_STRING}|{_JSON_NUMBER}|true|false){_JSON_SPACE}\z"
_JSON_NULL = rf"^{_JSON_SPACE}null{_JSON_SPACE}\z"
_JSON_NUMBER_TEXT = rf"^{_JSON_NUMBER}\z"
_INTEGER_TEXT = r"^[+-]?[0-9]+\z"
_PARSE_JSON = ("todynamic", "parse_json", "parsejson", "toobject")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class SplError(QueryError):
    """A node the Splunk target does not translate; `kind` says whether it ever can."""

    def __init__(self, message: str, span, kind: str, hint: str | None = None):
        super().__init__(message, span, hint)
        self.kind = kind  # "cannot" (the target cannot express it) or "unsupported" (not written yet)


def cannot(node, what: str, why: str) -> SplError:
    return SplError(f"the splunk target cannot express {what}: {why}", node.span, "cannot")


def not_yet(node, what: str, hint: str | None = None) -> SplError:
    return SplError(f"the splunk target does not translate {what} yet", node.span, "unsupported",
                    hint or "compile this rule for the other targets, or rewrite the query without it")


# ------------------------------------------------------------------ escaping


def spl_string(value: str) -> str:
    """A double-quoted SPL string whose value is exactly `value` (backslash and quote escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def eval_name(name: str) -> str:
    """A field name inside an eval or where expression; others go in single quotes."""
    if _EVAL_NAME.match(name):
        return name
    if "'" in name or "\\" in name:
        raise ValueError(f"field name {name!r} cannot be quoted in eval")
    return "'" + name + "'"


def command_name(name: str) -> str:
    """A field name as an argument of rename, fields, table, sort, stats, dedup, join."""
    if _COMMAND_NAME.match(name):
        return name
    return spl_string(name)


def regex_escape(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


def comment(text: str) -> str:
    return "```" + " ".join(text.replace("`", "'").split()) + "```"


def pcre_from_kql(pattern: str) -> str:
    """Translate a KQL regex to PCRE: the checked Python spelling with `\\Z` as PCRE's `\\z`.

    `translator.regex.to_python` already rejects what KQL rejects, rewrites a
    trailing-newline-blind `$` as end of text and POSIX classes as ranges;
    all of that reads the same in PCRE except the end-of-text escape.
    """
    from translator.regex import to_python

    python = to_python(pattern)
    out = []
    i = 0
    while i < len(python):
        if python[i] == "\\" and i + 1 < len(python):
            pair = python[i : i + 2]
            out.append("\\z" if pair == "\\Z" else pair)
            i += 2
        else:
            out.append(python[i])
            i += 1
    return "".join(out)


# ------------------------------------------------------------------ pipeline


@dataclass
class Pipeline:
    """A search under construction: the base search terms and the piped commands."""

    base: list[str]
    commands: list[str] = field(default_factory=list)
    # Filters directly on the source may add prefilter terms; a projection ends that.
    source: ir.Source | None = None
    streaming: bool = True

    def lines(self) -> list[str]:
        return [" ".join(self.base)] + ["| " + c if not c.startswith("```") else c for c in self.commands]


class SplGenerator:
    def __init__(self, mapping: Mapping, join_mode: str = "join", unique_side: str = "right"):
        self.mapping = mapping
        self.join_mode = join_mode
        self.unique_side = unique_side
        self.counter = 0
        # Helper fields of the command being built: (name, expression) in evaluation order.
        self.helpers: list[tuple[str, str]] = []
        self.bound: dict[str, str] = {}
        # Columns that may hold NaN in the input of the node being translated (see nan_columns).
        self.nan_scope: frozenset[str] = frozenset()
        self.nan_memo: dict[int, frozenset[str]] = {}

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"rc_{stem}{self.counter}"

    def generate(self, node: ir.Node) -> str:
        self.needed = {}
        self.nan_memo = {}
        self.require(node, {c.name for c in node.columns})
        pipeline = self.tabular(node)
        spans = [c for c in node.columns if c.type is Type.TIMESPAN]
        if spans:
            # Timespans are tick counts inside the search and printed as [-][d.]hh:mm:ss[.fffffff] at the end.
            texts = [f"{eval_name(c.name)}={time.format_timespan(eval_name(c.name), self.bind)}" for c in spans]
            self.emit(pipeline, ["eval " + ", ".join(texts)])
        pipeline.commands.append("table " + ", ".join(command_name(c.name) for c in node.columns))
        return "\n".join(pipeline.lines()) + "\n"

    # -------------------------------------------------------------- helper fields

    def bind(self, expression: str, stem: str) -> str:
        """Store `expression` in a helper field that the next emitted command can read; return its name.

        Helpers are evaluated in one `eval` before that command, left to right,
        so a helper may read the helpers bound before it.
        """
        if _EVAL_NAME.match(expression) or expression.isdigit():
            return expression
        if expression in self.bound:
            return self.bound[expression]
        name = self.fresh(stem)
        self.bound[expression] = name
        self.helpers.append((name, expression))
        return name

    def emit(self, pipeline: Pipeline, commands: list[str], drop: bool = True) -> None:
        """Append `commands`, preceded by the pending helper fields and, when `drop`, followed by their removal."""
        helpers, self.helpers, self.bound = self.helpers, [], {}
        if helpers:
            pipeline.commands.append("eval " + ", ".join(f"{name}={expression}" for name, expression in helpers))
        pipeline.commands.extend(commands)
        if helpers and drop:
            pipeline.commands.append("fields - " + ", ".join(name for name, _ in helpers))

    # -------------------------------------------------------------- NaN columns

    def nan_columns(self, node: ir.Node) -> frozenset[str]:
        """Return the real columns of `node`'s output that may be NaN, which the search stores as the text "NaN".

        avg() of no values is NaN, and eval has no value for it. Copies,
        renames, joins and arg_max()/arg_min() carry such a column on. Scalar
        translation accepts it only where `nan_compare`, the null tests, sorts
        and copies read it, and rejects every other use.
        """
        key = id(node)
        if key not in self.nan_memo:
            self.nan_memo[key] = self._nan_columns(node)
        return self.nan_memo[key]

    def _nan_columns(self, node: ir.Node) -> frozenset[str]:
        if isinstance(node, ir.Source):
            return frozenset()
        if isinstance(node, ir.Aggregate):
            inner = self.nan_columns(node.input)
            names = set()
            for agg in node.aggregations:
                if agg.func == "avg" and agg.types[0] is Type.REAL:
                    names.add(agg.names[0])
                names.update(name for carried, name in zip(agg.carried, agg.names[1:]) if carried in inner)
            return frozenset(names)
        if isinstance(node, ir.Project):
            inner = self.nan_columns(node.input)
            return frozenset(i.name for i in node.items if isinstance(i.expr, ir.ColumnRef) and i.expr.name in inner)
        if isinstance(node, ir.Join):
            left, right = self.nan_columns(node.left), self.nan_columns(node.right)
            if node.kind in ("leftsemi", "leftanti"):
                return left
            if node.kind in ("rightsemi", "rightanti"):
                return right
            finals = [c.name for c in node.columns[len(node.left.columns):]]
            return left | {final for c, final in zip(node.right.columns, finals) if c.name in right}
        return self.nan_columns(node.input)

    def enter(self, node: ir.Node) -> None:
        """Translate the expressions that follow against the columns of `node`, the input being read."""
        self.nan_scope = self.nan_columns(node)

    def may_be_nan(self, expr: ir.Expr) -> bool:
        return isinstance(expr, ir.ColumnRef) and expr.name in self.nan_scope

    def reject_nan_columns(self, node, names, what: str) -> None:
        """Raise when one of the columns `names` read by `node` may hold NaN."""
        for name in names:
            if name in self.nan_scope:
                raise not_yet(node, f"{what} the column '{name}', which avg() may leave NaN,")

    # -------------------------------------------------------------- needed columns

    def require(self, node: ir.Node, names: set[str]) -> None:
        """Record which columns of each source the pipeline reads, so the rest are never extracted."""
        if isinstance(node, ir.Source):
            self.needed.setdefault(id(node), set()).update(names)
            return
        if isinstance(node, ir.Join):
            width = len(node.left.columns)
            left = {c.name for c in node.left.columns} & names | {l for l, _ in node.keys}
            right = {r for _, r in node.keys}
            if node.kind not in ("leftsemi", "leftanti"):
                finals = [c.name for c in node.columns[width:]] if node.kind not in ("rightsemi", "rightanti") \
                    else [c.name for c in node.columns]
                right |= {c.name for c, final in zip(node.right.columns, finals) if final in names}
            self.require(node.left, left)
            self.require(node.right, right)
            return
        reads = set(names)
        if isinstance(node, ir.Filter):
            reads |= _refs(node.predicate)
        elif isinstance(node, ir.Sort):
            for key in node.keys:
                reads |= _refs(key.expr)
        elif isinstance(node, ir.Distinct):
            reads = set(node.names)
        elif isinstance(node, ir.Project):
            reads = set()
            for item in node.items:
                reads |= _refs(item.expr)
        elif isinstance(node, ir.Aggregate):
            reads = set()
            for key in node.keys:
                reads |= _refs(key.expr)
            for agg in node.aggregations:
                for arg in agg.args:
                    reads |= _refs(arg)
                reads |= set(agg.carried)
        self.require(node.input, reads)

    # -------------------------------------------------------------- tabular

    def tabular(self, node: ir.Node) -> Pipeline:
        return getattr(self, "tabular_" + type(node).__name__)(node)

    def tabular_Source(self, node: ir.Source) -> Pipeline:
        table = self.mapping.table(node.table)
        pipeline = Pipeline([f"`{table.macro}`"], source=node)
        renames = []
        needed = self.needed.get(id(node), set())
        columns = [c for c in node.columns if c.name in needed]
        for column in columns:
            if column.type is Type.TIMESPAN:
                raise not_yet(node, f"reading the timespan column '{column.name}' from events")
            event_field = table.field(column.name)
            if column.type is Type.DYNAMIC:
                pipeline.commands.append(
                    f"spath output={command_name(column.name)} path={command_name(event_field)}")
            elif event_field != column.name:
                renames.append(f"{command_name(event_field)} AS {command_name(column.name)}")
        if renames:
            pipeline.commands.insert(0, "rename " + ", ".join(renames))
        strings = [c.name for c in columns if c.type is Type.STRING]
        if strings:
            pipeline.commands.append('fillnull value="" ' + " ".join(command_name(n) for n in strings))
        return pipeline

    def tabular_Filter(self, node: ir.Filter) -> Pipeline:
        pipeline = self.tabular(node.input)
        self.enter(node.input)
        if pipeline.source is not None:
            pipeline.base.extend(self.prefilter_terms(node.predicate, pipeline.source))
        if node.label:
            pipeline.commands.append(comment("exclusion: " + node.label))
        self.emit(pipeline, ["where " + self.true_of(node.predicate)])
        return pipeline

    def filter_macro(self, filters: list[ir.Filter]) -> str:
        """Return the definition of the `<rule>_filter` macro: the labelled exclusion `filters`, in order.

        The macro follows the search's final `table`, so it reads only the
        output columns, as the exclusions do. Each filter reads as the query
        format writes it: its comment, then its `where`, with any helper fields
        evaluated before and removed after. The first command has no pipe, as
        the search supplies it. The caller keeps out filters on timespan
        columns, which are text after `table`.
        """
        pipeline = Pipeline([])
        for node in filters:
            self.enter(node.input)
            pipeline.commands.append(comment("exclusion: " + node.label))
            self.emit(pipeline, ["where " + self.true_of(node.predicate)])
        lines = pipeline.lines()[1:]
        first = next(i for i, line in enumerate(lines) if line.startswith("| "))
        lines[first] = lines[first][2:]
        return "\n".join(lines)

    def prefilter_terms(self, predicate: ir.Expr, source: ir.Source) -> list[str]:
        """Search terms implied by `predicate` that can only over-match (case-folded, exact values)."""
        conjuncts = predicate.operands if isinstance(predicate, ir.Logical) and predicate.op == "and" else (predicate,)
        table = self.mapping.table(source.table)
        terms = []
        for item in conjuncts:
            if (isinstance(item, ir.StringMatch) and item.kind == "equals" and not item.negated
                    and isinstance(item.left, ir.ColumnRef) and item.left.type is Type.STRING
                    and isinstance(item.right, ir.Literal) and isinstance(item.right.value, str)
                    and _SAFE_PREFILTER.match(item.right.value)):
                terms.append(f"{command_name(table.field(item.left.name))}={spl_string(item.right.value)}")
            elif (isinstance(item, ir.Compare) and item.op == "=="
                  and isinstance(item.left, ir.ColumnRef) and item.left.type is Type.STRING
                  and isinstance(item.right, ir.Literal) and isinstance(item.right.value, str)
                  and _SAFE_PREFILTER.match(item.right.value)):
                terms.append(f"{command_name(table.field(item.left.name))}={spl_string(item.right.value)}")
        return terms

    def tabular_Project(self, node: ir.Project) -> Pipeline:
        pipeline = self.tabular(node.input)
        self.enter(node.input)
        pipeline.source = None
        inputs = [c.name for c in node.input.columns]
        outputs = [c.name for c in node.columns]
        items = list(node.items)

        def is_ref(item: ir.ProjectItem, name: str | None = None) -> bool:
            return isinstance(item.expr, ir.ColumnRef) and (name is None or item.expr.name == name)

        # project-rename: the same columns in the same places, some with new names.
        if len(items) == len(inputs) and all(is_ref(i, n) for i, n in zip(items, inputs)):
            renamed = [(i.expr.name, i.name) for i, n in zip(items, inputs) if i.name != n]
            new_names = {new for _, new in renamed}
            if renamed and not (new_names & set(inputs)):
                pipeline.commands.append(
                    "rename " + ", ".join(f"{command_name(old)} AS {command_name(new)}" for old, new in renamed))
                return pipeline
        # project-away and project-keep: a subset of the columns, unchanged.
        if all(is_ref(i, i.name) for i in items) and len(set(outputs)) == len(outputs):
            removed = [n for n in inputs if n not in outputs]
            if removed and len(removed) <= len(outputs):
                pipeline.commands.append("fields - " + ", ".join(command_name(n) for n in removed))
            elif removed:
                pipeline.commands.append("fields " + ", ".join(command_name(n) for n in outputs))
            return pipeline
        # extend or project: compute every changed item from the input row. Splunk's
        # eval assigns left to right, so when an item reads a column that an earlier
        # item of the same stage replaces, all values go through temporaries first.
        changed = [i for i in items if not is_ref(i, i.name)]
        targets = {i.name for i in changed}
        reads = set()
        for item in changed:
            reads |= {e.name for e in ir.walk_exprs(item.expr) if isinstance(e, ir.ColumnRef)}
        conflict = len(changed) > 1 and bool(targets & reads)
        if changed:
            if conflict:
                temps = [(self.fresh("t"), item) for item in changed]
                self.emit(pipeline, ["eval " + ", ".join(f"{t}={self.copy_value(i.expr)}" for t, i in temps)])
                pipeline.commands.append("eval " + ", ".join(f"{eval_name(i.name)}={t}" for t, i in temps))
                pipeline.commands.append("fields - " + ", ".join(t for t, _ in temps))
            else:
                self.emit(pipeline, ["eval " + ", ".join(f"{eval_name(i.name)}={self.copy_value(i.expr)}"
                                                 for i in changed)])
        if [n for n in inputs if n in outputs] != inputs or len(outputs) != len(set(outputs)):
            pipeline.commands.append("fields " + ", ".join(command_name(n) for n in outputs))
        return pipeline

    def tabular_Join(self, node: ir.Join) -> Pipeline:
        for part, names in ((node.left, [l for l, _ in node.keys]), (node.right, [r for _, r in node.keys])):
            self.enter(part)
            self.reject_nan_columns(node, names, "a join on")
        kind = node.kind
        swap = kind in ("rightouter", "rightsemi", "rightanti")
        if self.join_mode == "stats":
            return self.stats_join(node)
        if kind == "fullouter":
            return self.fullouter_join(node)
        left_node, right_node = (node.right, node.left) if swap else (node.left, node.right)
        key_pairs = [(r, l) for l, r in node.keys] if swap else list(node.keys)
        left_width = len(node.left.columns)
        # The side whose columns get new names: the right one, or the main search when swapped.
        renamed: dict[str, str] = {}
        if kind not in ("leftsemi", "leftanti", "rightsemi", "rightanti"):
            finals = [c.name for c in node.columns[left_width:]]
            renamed = dict(zip([c.name for c in node.right.columns], finals))
        keys = [self.fresh("key") for _ in key_pairs]
        main = self.tabular(left_node)
        main.source = None
        sub = self.tabular(right_node)
        main.commands.append("eval " + ", ".join(self.key_assignments(node, keys, "right" if swap else "left")))
        sub.commands.append("eval " + ", ".join(self.key_assignments(node, keys, "left" if swap else "right")))
        if swap:
            self.rename_all(main, renamed)
        if kind == "innerunique":
            # KQL keeps one arbitrary left row per key before an inner join.
            main.commands.append("dedup " + " ".join(keys))
        key_list = ", ".join(keys)
        if kind in ("leftsemi", "rightsemi", "leftanti", "rightanti"):
            matched = self.fresh("matched")
            sub.commands.append(f"stats count AS {matched} by {key_list}")
            join_type = "inner" if kind.endswith("semi") else "left"
        else:
            if not swap:
                self.rename_all(sub, renamed)
            kept = [c.name for c in node.left.columns] if swap else list(renamed.values())
            sub.commands.append("fields " + ", ".join(keys + [command_name(n) for n in kept]))
            join_type = "inner" if kind in ("inner", "innerunique") else "left"
            matched = None
        main.commands.append(comment(JOIN_LIMIT_COMMENT))
        main.commands.append(f"join type={join_type} max=0 {' '.join(keys)} [" + subsearch(sub))
        if kind.endswith("anti"):
            main.commands.append(f"where isnull({matched})")
        if kind in ("leftouter", "rightouter"):
            padded = [c for c in node.columns[left_width:] if c.type is Type.STRING] if not swap else \
                [c for c in node.columns[:left_width] if c.type is Type.STRING]
            if padded:
                # KQL pads an unmatched side's string columns with "", not null.
                main.commands.append('fillnull value="" ' + " ".join(command_name(c.name) for c in padded))
        main.commands.append("fields - " + ", ".join(keys + ([matched] if matched else [])))
        main.streaming = False
        return main

    def fullouter_join(self, node: ir.Join) -> Pipeline:
        """fullouter as a left outer join plus, appended, the right rows whose key no left row has.

        The appended rows come from a second run of the right side, joined
        against the distinct left keys (a right anti join). Unmatched string
        cells become "", other unmatched cells stay null.
        """
        left_width = len(node.left.columns)
        finals = [c.name for c in node.columns[left_width:]]
        renamed = dict(zip([c.name for c in node.right.columns], finals))
        keys = [self.fresh("key") for _ in node.keys]
        key_list = " ".join(keys)
        main = self.tabular(node.left)
        main.source = None
        right = self.tabular(node.right)
        unmatched = self.tabular(node.right)
        left_keys = self.tabular(node.left)
        main.commands.append("eval " + ", ".join(self.key_assignments(node, keys, "left")))
        for part in (right, unmatched):
            part.commands.append("eval " + ", ".join(self.key_assignments(node, keys, "right")))
            self.rename_all(part, renamed)
            part.commands.append("fields " + ", ".join(keys + [command_name(n) for n in finals]))
        matched = self.fresh("matched")
        left_keys.commands.append("eval " + ", ".join(self.key_assignments(node, keys, "left")))
        left_keys.commands.append(f"stats count AS {matched} by {', '.join(keys)}")
        unmatched.commands.append(comment(JOIN_LIMIT_COMMENT))
        unmatched.commands.append(f"join type=left max=0 {key_list} [" + subsearch(left_keys))
        unmatched.commands.append(f"where isnull({matched})")
        unmatched.commands.append(f"fields - {matched}")
        main.commands.append(comment(JOIN_LIMIT_COMMENT))
        main.commands.append(f"join type=left max=0 {key_list} [" + subsearch(right))
        main.commands.append(comment(APPEND_LIMIT_COMMENT))
        main.commands.append("append [" + subsearch(unmatched))
        padded = [c for c in node.columns if c.type is Type.STRING]
        if padded:
            # KQL pads the unmatched side's string columns with "", not null.
            main.commands.append('fillnull value="" ' + " ".join(command_name(c.name) for c in padded))
        main.commands.append("fields - " + ", ".join(keys))
        main.streaming = False
        return main

    def key_assignments(self, node: ir.Join, keys: list[str], side: str) -> list[str]:
        """Return `<key field>=<value>` for each join key of the `side` ("left" or "right") of `node`.

        Splunk's join, stats, eventstats and dedup skip events that miss a key
        field, but the rule language matches a null key with a null key. So a
        key that can be null is written as "0" when null and as "1" followed by
        its value otherwise: two keys get the same text exactly when both are
        null or both hold the same value.
        """
        left_types = {c.name: c.type for c in node.left.columns}
        right_types = {c.name: c.type for c in node.right.columns}
        assignments = []
        for key, (left, right) in zip(keys, node.keys):
            value = eval_name(left if side == "left" else right)
            if left_types[left] is not Type.STRING or right_types[right] is not Type.STRING:
                value = f'if(isnull({value}), "0", "1" . {value})'
            assignments.append(f"{key}={value}")
        return assignments

    def rename_all(self, pipeline: Pipeline, renamed: dict[str, str]) -> None:
        """Give columns their post-join names; through temporaries, since the names may overlap."""
        renames = [(old, new) for old, new in renamed.items() if old != new]
        if renames:
            temps = [(self.fresh("r"), old, new) for old, new in renames]
            pipeline.commands.append("rename " + ", ".join(f"{command_name(o)} AS {t}" for t, o, _ in temps))
            pipeline.commands.append("rename " + ", ".join(f"{t} AS {command_name(n)}" for t, _, n in temps))

    def stats_join(self, node: ir.Join) -> Pipeline:
        """`--splunk-join stats`: both sides in one `multisearch`, the unique side copied by `eventstats`."""
        if node.kind not in ("inner", "leftouter"):
            raise not_yet(node, f"join kind={node.kind} with --splunk-join stats (only inner and leftouter)")
        left_width = len(node.left.columns)
        finals = [c.name for c in node.columns[left_width:]]
        right_names = dict(zip([c.name for c in node.right.columns], finals))
        unique = self.unique_side
        if node.kind == "leftouter" and unique != "right":
            raise not_yet(node, "a stats-based leftouter join whose unique side is the left one")
        keys = [self.fresh("key") for _ in node.keys]
        side = self.fresh("side")
        count = self.fresh("count")
        left = self.tabular(node.left)
        right = self.tabular(node.right)
        for part in (left, right):
            if not part.streaming:
                raise not_yet(node, "a stats-based join whose inputs sort, limit, aggregate or join")
        left.commands.append("eval " + ", ".join([f'{side}="left"'] + self.key_assignments(node, keys, "left")))
        right.commands.append("eval " + ", ".join([f'{side}="right"'] + self.key_assignments(node, keys, "right")))
        renames = [(old, new) for old, new in right_names.items() if old != new]
        if renames:
            temps = [(self.fresh("r"), old, new) for old, new in renames]
            right.commands.append("rename " + ", ".join(f"{command_name(o)} AS {t}" for t, o, _ in temps))
            right.commands.append("rename " + ", ".join(f"{t} AS {command_name(n)}" for t, _, n in temps))
        left_cols = [c.name for c in node.left.columns]
        left.commands.append("fields " + ", ".join([side] + keys + [command_name(n) for n in left_cols]))
        right.commands.append("fields " + ", ".join([side] + keys + [command_name(n) for n in finals]))
        copied = finals if unique == "right" else left_cols
        keep_side = "left" if unique == "right" else "right"
        other = "right" if unique == "right" else "left"
        pipeline = Pipeline(["| multisearch [" + subsearch(left) + " [" + subsearch(right)])
        pipeline.commands.append(comment(STATS_JOIN_COMMENT.format(side=unique)))
        aggregates = ", ".join(f"values({command_name(n)}) AS {command_name(n)}" for n in copied)
        pipeline.commands.append(
            f'eventstats count(eval({side}=="{other}")) AS {count}, {aggregates} by {" ".join(keys)}')
        condition = f'{side}=="{keep_side}"'
        if node.kind == "inner":
            condition += f" AND {count}>0"
        pipeline.commands.append(f"where {condition}")
        if node.kind == "leftouter":
            padded = [c for c in node.columns[left_width:] if c.type is Type.STRING]
            if padded:
                pipeline.commands.append('fillnull value="" ' + " ".join(command_name(c.name) for c in padded))
        pipeline.commands.append("fields - " + ", ".join([side, count] + keys))
        pipeline.streaming = False
        return pipeline

    def tabular_Sort(self, node: ir.Sort) -> Pipeline:
        pipeline = self.tabular(node.input)
        self.enter(node.input)
        pipeline.source = None
        helpers: list[str] = []
        evals: list[str] = []
        keys: list[str] = []
        for key in node.keys:
            expr = key.expr
            type_ = expr.type
            if not type_.is_sortable:
                raise cannot(key, f"a sort on a {type_} value", "sort keys must be numbers, dates, times or strings")
            if isinstance(expr, ir.ColumnRef) and type_ is not Type.DATETIME:
                value = eval_name(expr.name)
                name = expr.name
            else:
                name = self.fresh("sort")
                helpers.append(name)
                if type_ is Type.DATETIME:
                    value = self.datetime_key(expr)
                else:
                    value = self.value(expr)
                evals.append(f"{name}={value}")
            if self.nullable(expr):
                # Splunk puts missing values last either way; a 0/1 key first places them as the rule says.
                flag = self.fresh("null")
                helpers.append(flag)
                if self.may_be_nan(expr):
                    # The rule language puts NaN between null and the numbers, in either direction.
                    evals.append(f'{flag}=if(isnull({eval_name(name)}), 0, if({eval_name(name)}=="NaN", 1, 2))')
                else:
                    evals.append(f"{flag}=if(isnull({eval_name(name)}), 0, 1)")
                keys.append(("+" if key.nulls_first else "-") + f"num({flag})")
            mode = "num" if type_.is_numeric or type_ is Type.TIMESPAN else "str"
            keys.append(("-" if key.descending else "+") + f"{mode}({command_name(name)})")
        if evals:
            self.emit(pipeline, ["eval " + ", ".join(evals)])
        pipeline.commands.append("sort 0 " + ", ".join(keys))
        if helpers:
            pipeline.commands.append("fields - " + ", ".join(helpers))
        pipeline.streaming = False
        return pipeline

    def datetime_key(self, expr: ir.Expr) -> str:
        """ISO 8601 text padded to seven fractional digits, so that text order is time order."""
        return time.key_expression(self.value(expr), spl_string)

    def tabular_Limit(self, node: ir.Limit) -> Pipeline:
        pipeline = self.tabular(node.input)
        pipeline.source = None
        pipeline.commands.append(f"head {node.count}")
        pipeline.streaming = False
        return pipeline

    def tabular_Distinct(self, node: ir.Distinct) -> Pipeline:
        pipeline = self.tabular(node.input)
        self.enter(node.input)
        self.reject_nan_columns(node, node.names, "distinct over")
        pipeline.source = None
        names = [command_name(n) for n in node.names]
        # dedup drops events that miss a field, where KQL keeps one row for null: a flag field
        # marks the nulls, which are filled for dedup and restored after it.
        flags = [(self.fresh("null"), c.name) for c in node.columns if c.type is not Type.STRING]
        if flags:
            pipeline.commands.append("eval " + ", ".join(
                f"{flag}=if(isnull({eval_name(n)}), 1, 0), {eval_name(n)}=coalesce({eval_name(n)}, 0)"
                for flag, n in flags))
        pipeline.commands.append("fields " + ", ".join(names + [flag for flag, _ in flags]))
        pipeline.commands.append("dedup " + " ".join(names + [flag for flag, _ in flags]))
        if flags:
            pipeline.commands.append("eval " + ", ".join(
                f"{eval_name(n)}=if({flag}==1, null(), {eval_name(n)})" for flag, n in flags))
            pipeline.commands.append("fields - " + ", ".join(flag for flag, _ in flags))
        pipeline.streaming = False
        return pipeline

    def tabular_Aggregate(self, node: ir.Aggregate) -> Pipeline:
        pipeline = self.tabular(node.input)
        self.enter(node.input)
        pipeline.source = None
        evals: list[str] = []
        by: list[str] = []
        after: list[str] = []  # eval assignments that restore the key columns after stats
        renames: list[tuple[str, str]] = []
        temps: list[str] = []
        for key in node.keys:
            nullable = self.nullable(key.expr)
            if isinstance(key.expr, ir.ColumnRef) and key.expr.name == key.name and not nullable:
                by.append(command_name(key.name))
                continue
            # Computed keys go to a new field, so that no aggregate reads a column the key replaced.
            field = self.fresh("by")
            evals.append(f"{field}={self.value(key.expr)}")
            by.append(field)
            if nullable:
                # stats drops events whose group field is missing; KQL groups nulls together.
                flag = self.fresh("null")
                evals.append(f"{flag}=if(isnull({field}), 1, 0)")
                evals.append(f"{field}=coalesce({field}, 0)")
                by.append(flag)
                after.append(f"{eval_name(key.name)}=if({flag}==1, null(), {field})")
                temps.extend([field, flag])
            else:
                renames.append((field, key.name))
        parts: list[str] = []
        fills: list[str] = []
        posts: list[str] = []
        pickers: list[ir.Aggregation] = []
        sequence = None
        for agg in node.aggregations:
            name = agg.names[0]
            out = command_name(name)
            if agg.func == "count":
                parts.append(f"count AS {out}")
                continue
            if agg.func in ("arg_max", "arg_min"):
                pickers.append(agg)
                continue
            arg = agg.args[0]
            if agg.func == "countif":
                parts.append(f"count(eval({self.true_of(arg)})) AS {out}")
                continue
            if agg.func in ("make_set", "make_list"):
                source = self.fresh("item")
                element = self.json_element(agg, arg)
                if agg.func == "make_list":
                    if sequence is None:
                        sequence = self.fresh("seq")
                    element = f'{time.pad(sequence, 10)} . ":" . {element}'
                evals.append(f"{source}={element}")
                parts.append(f"values({source}) AS {out}")
                posts.append(f"{eval_name(name)}={self.json_array(agg, eval_name(name))}")
                continue
            if arg.type is Type.DATETIME and agg.func in ("min", "max"):
                # The padded key orders as time does; stats compares text lexicographically.
                source = self.fresh("agg")
                evals.append(f"{source}={self.datetime_key(arg)}")
                parts.append(f"{agg.func}({source}) AS {out}")
                posts.append(f'{eval_name(name)}={eval_name(name)} . "Z"')
                continue
            if arg.type is Type.STRING and agg.func in ("min", "max"):
                # A letter in front keeps stats from reading numeric-looking text ("05") as a number.
                source = self.fresh("agg")
                evals.append(f'{source}="s" . {self.value(arg)}')
                parts.append(f"{agg.func}({source}) AS {out}")
                posts.append(f"{eval_name(name)}=substr({eval_name(name)}, 2)")
                continue
            if arg.type is Type.DATETIME or arg.type is Type.DYNAMIC:
                raise not_yet(agg, f"{agg.func}() of a {arg.type} value")
            if isinstance(arg, ir.ColumnRef):
                self.reject_nan_columns(agg, [arg.name], f"{agg.func}() of")
                source = command_name(arg.name)
            else:
                source = self.fresh("agg")
                evals.append(f"{source}={self.value(arg)}")
            if arg.type is Type.TIMESPAN and agg.func == "avg":
                # The rule language floors the mean of the tick counts. avg of no values is null.
                # NOTE: exact while the sum of the tick counts is under 2**53 (about 28.5 years).
                total, count = self.fresh("sum"), self.fresh("count")
                parts.extend([f"sum({source}) AS {total}", f"count({source}) AS {count}"])
                posts.append(f"{eval_name(name)}=if({count} > 0, floor({total} / {count}), null())")
                temps.extend([total, count])
                continue
            func = {"dcount": "dc", "min": "min", "max": "max", "sum": "sum", "avg": "avg"}[agg.func]
            parts.append(f"{func}({source}) AS {out}")
            if agg.func in ("dcount", "sum"):
                fills.append(name)
            elif agg.func == "avg":
                # KQL's avg of no values is NaN. stats gives no value and eval has no NaN, so the text "NaN".
                posts.append(f'{eval_name(name)}=coalesce({eval_name(name)}, "NaN")')
        if sequence is not None:
            # The position of each row in the current order, so that make_list keeps that order.
            pipeline.commands.append(f"streamstats count AS {sequence}")
        # Helpers stay until stats, since countif's condition inside stats may read them.
        self.emit(pipeline, ["eval " + ", ".join(evals)] if evals else [], drop=False)
        for agg in pickers:
            parts.extend(self.pick_extreme(pipeline, agg, by))
        rows = None
        if not by:
            # stats with no group returns one row even for no events, which KQL also does.
            rows = self.fresh("rows")
            parts.append(f"count AS {rows}")
        text = "stats " + ", ".join(parts)
        if by:
            text += " by " + ", ".join(by)
        pipeline.commands.append(text)
        if renames:
            pipeline.commands.append("rename " + ", ".join(f"{t} AS {command_name(n)}" for t, n in renames))
        if after:
            pipeline.commands.append("eval " + ", ".join(after))
        if fills:
            # KQL's dcount and sum of no values are 0; Splunk's are null.
            posts.extend(f"{eval_name(n)}=coalesce({eval_name(n)}, 0)" for n in fills)
        if posts:
            pipeline.commands.append("eval " + ", ".join(posts))
        strings = [c.name for agg in pickers for c_name, c_type in zip(agg.names, agg.types)
                   for c in [ir.Column(c_name, c_type)] if c_type is Type.STRING]
        if strings:
            # An arg_max/arg_min string column of no rows is "", as a missing string column reads.
            pipeline.commands.append('fillnull value="" ' + " ".join(command_name(n) for n in strings))
        dropped = temps + ([rows] if rows else [])
        if dropped:
            pipeline.commands.append("fields - " + ", ".join(dropped))
        pipeline.streaming = False
        return pipeline

    def pick_extreme(self, pipeline: Pipeline, agg: ir.Aggregation, by: list[str]) -> list[str]:
        """arg_max/arg_min: mark one row per group and return the stats clauses that read its columns.

        The chosen row is the first row, in the current order, whose value equals
        the group's maximum (minimum); when every value is null, the group's
        first row. `eventstats` finds the extreme, `streamstats` counts the rows
        and the matches seen so far, and `values()` of a field set only on the
        chosen row returns that row's value.
        """
        expr = agg.args[0]
        rank, best, hit, position, seen = (self.fresh(stem) for stem in ("rank", "best", "hit", "pos", "seen"))
        group = (" by " + ", ".join(by)) if by else ""
        if expr.type.is_numeric or expr.type is Type.TIMESPAN:
            rank_value = self.operand(expr)
        elif expr.type is Type.DATETIME:
            rank_value = self.datetime_key(expr)
        elif expr.type is Type.STRING:
            # A letter in front keeps stats from reading numeric-looking text as numbers.
            rank_value = f'"s" . {self.value(expr)}'
        else:
            raise not_yet(agg, f"{agg.func}() of a {expr.type} value")
        self.emit(pipeline, [f"eval {rank}={rank_value}"])
        extreme = "max" if agg.func == "arg_max" else "min"
        pipeline.commands.append(f"eventstats {extreme}({rank}) AS {best}{group}")
        pipeline.commands.append(f"eval {hit}=if(isnotnull({rank}) AND {rank}=={best}, 1, null())")
        pipeline.commands.append(f"streamstats count AS {position}, count({hit}) AS {seen}{group}")
        chosen = self.fresh("chosen")
        pipeline.commands.append(
            f"eval {chosen}=if((isnotnull({hit}) AND {seen}==1) OR (isnull({best}) AND {position}==1), 1, 0)")
        values = [self.value(expr)] + [eval_name(c) for c in agg.carried]
        picks = [(self.fresh("pick"), value) for value in values]
        self.emit(pipeline, ["eval " + ", ".join(f"{p}=if({chosen}==1, {v}, null())" for p, v in picks)])
        pipeline.commands.append(f"fields - {rank}, {best}, {hit}, {position}, {seen}, {chosen}")
        return [f"values({p}) AS {command_name(n)}" for (p, _), n in zip(picks, agg.names)]

    def json_element(self, agg: ir.Aggregation, arg: ir.Expr) -> str:
        """The JSON text of one make_set/make_list value; null when the value is null."""
        if arg.type is Type.STRING:
            text = self.value(arg)
            for pattern, replacement in _JSON_ESCAPES:
                text = f"replace({text}, {spl_string(pattern)}, {spl_string(replacement)})"
            return f'"\\"" . {text} . "\\""'
        if arg.type in (Type.INT, Type.LONG):
            return f"tostring({self.operand(arg)})"
        if arg.type is Type.BOOL:
            return self.value(arg)
        if arg.type is Type.DATETIME:
            return f'"\\"" . {self.datetime_key(arg)} . "Z\\""'
        raise not_yet(agg, f"{agg.func}() of a {arg.type} value")

    def json_array(self, agg: ir.Aggregation, field_ref: str) -> str:
        """The JSON array text of a make_set/make_list field from `values()`; `[]` when it has no values."""
        items = field_ref
        if len(agg.args) > 1:
            limit = agg.args[1]
            if not isinstance(limit, ir.Literal) or not isinstance(limit.value, int) or limit.value < 1:
                raise not_yet(agg, f"{agg.func}() with a size limit that is not a positive whole number")
            items = f"mvindex({items}, 0, {limit.value - 1})"
        joined = f'mvjoin({items}, ",")'
        if agg.func == "make_list":
            joined = f"replace({joined}, {spl_string(_LIST_ITEM)}, {spl_string(_FIRST_GROUP)})"
        return f'coalesce("[" . {joined} . "]", "[]")'

    # -------------------------------------------------------------- scalar values

    def nullable(self, expr: ir.Expr) -> bool:
        """Whether the SPL value of `expr` can be null (strings never are)."""
        if expr.type is Type.STRING:
            return False
        if isinstance(expr, ir.Literal):
            return expr.value is None
        if isinstance(expr, ir.Call):
            if expr.name in ("isnull", "isnotnull", "isempty", "isnotempty"):
                return False
            if expr.name in ("now", "ago"):
                return any(self.nullable(a) for a in expr.args)
            if expr.name == "coalesce":
                return all(self.nullable(a) for a in expr.args)
            if expr.name in ("iff", "iif"):
                return self.nullable(expr.args[1]) or self.nullable(expr.args[2])
            return True
        if isinstance(expr, (ir.Arith, ir.Negate)):
            return any(self.nullable(e) for e in ir.walk_exprs(expr) if e is not expr and not isinstance(e, ir.Literal)) \
                or (isinstance(expr, ir.Arith) and expr.op in "/%")
        if expr.type is Type.BOOL and isinstance(expr, (ir.Compare, ir.StringMatch, ir.InList, ir.HasAny, ir.Between,
                                                       ir.Logical, ir.Not)):
            return self.bool_nullable(expr)
        return True

    def bool_nullable(self, expr: ir.Expr) -> bool:
        if isinstance(expr, ir.Compare):
            if expr.op in ("==", "!="):
                return self.nullable(expr.left) and self.nullable(expr.right)
            return self.nullable(expr.left) or self.nullable(expr.right)
        if isinstance(expr, (ir.StringMatch, ir.InList, ir.HasAny)):
            return False
        if isinstance(expr, ir.Between):
            return any(self.nullable(e) for e in (expr.expr, expr.low, expr.high))
        if isinstance(expr, ir.Logical):
            return any(self.nullable(o) for o in expr.operands)
        if isinstance(expr, ir.Not):
            return self.nullable(expr.operand)
        return True

    def value(self, expr: ir.Expr) -> str:
        """An SPL eval expression for the value of `expr` (null where the rule's value is null)."""
        if expr.type is Type.BOOL and not isinstance(expr, (ir.Literal, ir.ColumnRef, ir.Path)) and not (
                isinstance(expr, ir.Call) and expr.name not in ("isnull", "isnotnull", "isempty", "isnotempty")):
            true, false = self.true_of(expr), self.false_of(expr)
            if not self.nullable(expr):
                return f'if({true}, "true", "false")'
            return f'if({true}, "true", if({false}, "false", null()))'
        if expr.type is Type.DATETIME and _computed_datetime(expr):
            return self.datetime_text(expr)
        if expr.type is Type.TIMESPAN and isinstance(expr, (ir.Arith, ir.Call)) and not _generic_call(expr):
            return self.timespan_ticks(expr)
        return getattr(self, "value_" + type(expr).__name__)(expr)

    # -------------------------------------------------------------- datetimes and timespans

    def datetime_parts(self, expr: ir.Expr) -> tuple[str, str]:
        """`expr` as (whole seconds since 1970, ticks within the second): two eval expressions."""
        if isinstance(expr, ir.Literal):
            if expr.value is None:
                return "null()", "null()"
            seconds, fraction = time.split_ticks(expr.value)
            return time.number(seconds), str(fraction)
        if isinstance(expr, ir.Call) and expr.name in ("now", "ago"):
            # One instant for the whole search: the time the search started, in whole seconds.
            start = ("floor(now())", "0")
            if not expr.args:
                return start
            return self.shift_datetime(start, expr.args[0], 1 if expr.name == "now" else -1)
        if isinstance(expr, ir.Call) and expr.name == "bin":
            return self.bin_datetime(expr)
        if isinstance(expr, ir.Arith):
            if expr.left.type is Type.DATETIME:
                return self.shift_datetime(self.datetime_parts(expr.left), expr.right, 1 if expr.op == "+" else -1)
            return self.shift_datetime(self.datetime_parts(expr.right), expr.left, 1)
        key = self.bind(self.datetime_key(expr), "dtkey")
        return self.bind(time.seconds_of_key(key), "dts"), time.fraction_of_key(key)

    def shift_datetime(self, parts: tuple[str, str], span: ir.Expr, sign: int) -> tuple[str, str]:
        seconds, fraction = parts
        if isinstance(span, ir.Literal):
            if span.value is None:
                return "null()", "null()"
            ticks = sign * span.value
            if fraction.isdigit():
                carry, rest = divmod(int(fraction) + ticks, time.TICKS_PER_SECOND)
                if carry == 0:
                    return seconds, str(rest)
                return (f"({seconds} + {carry})" if carry > 0 else f"({seconds} - {-carry})"), str(rest)
            return time.add_ticks(seconds, fraction, time.number(ticks), self.bind)
        ticks = self.value(span)
        return time.add_ticks(seconds, fraction, ticks if sign > 0 else f"(0 - {ticks})", self.bind)

    def bin_datetime(self, node: ir.Call) -> tuple[str, str]:
        value, size = node.args
        if not isinstance(size, ir.Literal):
            raise not_yet(node, "bin() of a datetime with a computed bin size")
        if size.value is None or size.value <= 0:
            return "null()", "null()"
        seconds, fraction = self.datetime_parts(value)
        parts = time.bin_datetime(self.bind(seconds, "dts"), fraction, size.value, self.bind)
        if parts is None:
            raise not_yet(node, f"bin() of a datetime by {format_timespan_literal(size.value)} (a size that is "
                                "not whole seconds needs remainders past 2**53, which eval's doubles do not hold)")
        return parts

    def datetime_text(self, expr: ir.Expr) -> str:
        """A computed datetime as ISO 8601 UTC text with seven fractional digits."""
        if isinstance(expr, ir.Literal):
            return spl_string(format_datetime(expr.value))
        seconds, fraction = self.datetime_parts(expr)
        return time.format_datetime(self.bind(seconds, "dts"), self.bind(fraction, "dtf"), self.bind)

    def timespan_ticks(self, expr: ir.Expr) -> str:
        """A computed timespan as a number of ticks."""
        if isinstance(expr, ir.Call):  # bin(timespan, size)
            value, size = expr.args
            if not isinstance(size, ir.Literal):
                raise not_yet(expr, "bin() of a timespan with a computed bin size")
            if size.value is None or size.value <= 0:
                return "null()"
            return f"(floor({self.operand(value)} / {size.value}) * {size.value})"
        left, right, op = expr.left, expr.right, expr.op
        if left.type is Type.DATETIME and right.type is Type.DATETIME:
            # NOTE: exact while the difference is under 2**53 ticks (about 28.5 years).
            return time.difference_ticks(self.datetime_parts(left), self.datetime_parts(right))
        if left.type is Type.TIMESPAN and right.type is Type.TIMESPAN:
            return f"({self.operand(left)} {op} {self.operand(right)})"
        span, factor = (left, right) if left.type is Type.TIMESPAN else (right, left)
        if factor.type in (Type.REAL, Type.DECIMAL):
            # The rule language truncates the real product or quotient toward zero. Dividing by 0 gives null.
            if op == "*":
                scaled = self.bind(f"({self.operand(span)} * {self.operand(factor)})", "scaled")
            else:
                divisor = self.bind(self.operand(factor), "div")
                scaled = self.bind(f"if({divisor}==0, null(), {self.operand(span)} / {divisor})", "scaled")
            return f"if({scaled} < 0, 0 - floor(0 - {scaled}), floor({scaled}))"
        if factor.type not in (Type.INT, Type.LONG):
            raise not_yet(expr, f"a timespan '{op}' a {factor.type} value (only whole numbers)")
        if op == "*":
            return f"({self.operand(span)} * {self.operand(factor)})"
        # Whole-number division truncates toward zero; division by zero is null.
        divisor = self.bind(self.operand(factor), "div")
        quotient = self.bind(f"if({divisor}==0, null(), {self.operand(span)} / {divisor})", "quot")
        return f"if({quotient} < 0, 0 - floor(0 - {quotient}), floor({quotient}))"

    def value_Literal(self, node: ir.Literal) -> str:
        value, type_ = node.value, node.type
        if value is None:
            return '""' if type_ is Type.STRING else "null()"
        if type_ is Type.STRING:
            return spl_string(value)
        if type_ is Type.BOOL:
            return '"true"' if value else '"false"'
        if type_ in (Type.INT, Type.LONG):
            return str(value) if value >= 0 else f"(0 - {-value})"
        if type_ is Type.TIMESPAN:
            return time.number(value)
        if type_ is Type.DATETIME:
            return spl_string(format_datetime(value))
        if type_ in (Type.REAL, Type.DECIMAL):
            text = repr(float(value))
            if text in ("nan", "inf", "-inf"):
                raise cannot(node, f"the real literal {text}", "eval has no literal for it")
            return text if value >= 0 else f"(0 - {repr(-float(value))})"
        raise not_yet(node, f"{type_} literals")

    def value_ColumnRef(self, node: ir.ColumnRef) -> str:
        self.reject_nan_columns(node, [node.name], "this use of")
        return eval_name(node.name)

    def copy_value(self, expr: ir.Expr) -> str:
        """Return the value of `expr` to store in a column: a column is copied as it is, even one that is "NaN"."""
        if isinstance(expr, ir.ColumnRef):
            return eval_name(expr.name)
        return self.value(expr)

    def value_Path(self, node: ir.Path) -> str:
        steps = []
        for step in node.steps:
            if isinstance(step, int):
                if step < 0:
                    raise cannot(node, f"the array index [{step}]", "spath counts array elements from the start only")
                # NOTE: spath numbering JSON array elements from 1 is read from its documentation's
                # examples, not confirmed on a live Splunk.
                if not steps:
                    steps.append(f"{{{step + 1}}}")
                else:
                    steps[-1] += f"{{{step + 1}}}"
            else:
                if not _SPATH_KEY.match(step):
                    raise cannot(node, f"the key {step!r} in a dynamic path",
                                 "spath paths separate keys with '.' and index with '{}', with no way to escape them")
                steps.append(step)
        return f"spath({self.path_source(node.base)}, {spl_string('.'.join(steps))})"

    def path_source(self, base: ir.Expr) -> str:
        """Return the JSON text that a path into `base` reads with spath().

        A path into todynamic() of a string reads the string itself. A path into
        a JSON scalar is null, and spath() finds no key or element in a scalar's
        JSON text either. The decoded text of a JSON string could read as an
        object instead.
        """
        if (isinstance(base, ir.Call) and base.name in _PARSE_JSON and base.args[0].type is Type.STRING):
            text = self.bind(self.value(base.args[0]), "text")
            return f'if({text}=="", null(), {text})'
        return self.value(base)

    def value_Call(self, node: ir.Call) -> str:
        name = node.name
        args = node.args
        if name in ("tostring",):
            arg = args[0]
            if arg.type is Type.STRING:
                return self.value(arg)
            if arg.type in (Type.DYNAMIC,):
                return f'coalesce({self.value(arg)}, "")'
            if arg.type in (Type.INT, Type.LONG):
                return f'coalesce(tostring({self.value(arg)}), "")'
            if arg.type is Type.DATETIME:
                return self.string_value(arg)
            raise not_yet(node, f"tostring() of a {arg.type} value")
        if name in _PARSE_JSON:
            arg = args[0]
            if arg.type is Type.DYNAMIC:
                return self.value(arg)
            return self.parse_json(self.value(arg))
        if name in ("tolower", "toupper"):
            func = "lower" if name == "tolower" else "upper"
            return f"{func}({self.string_value(args[0])})"
        if name == "strlen":
            return f"len({self.string_value(args[0])})"
        if name in ("toint", "tolong"):
            arg = args[0]
            if arg.type in (Type.INT, Type.LONG):
                return self.value(arg)
            if arg.type is Type.STRING:
                # KQL converts only integer syntax from text; anything else is null.
                text = self.bind(self.value(arg), "text")
                integer = f"tonumber({text})" if name == "tolong" else wrap_int32(f"tonumber({text})")
                return f'if(match({text}, {spl_string(_INTEGER_TEXT)}), {integer}, null())'
            if arg.type is Type.DYNAMIC:
                return self.dynamic_to_integer(name, arg)
            raise not_yet(node, f"{name}() of a {arg.type} value")
        if name == "strcat":
            return "(" + " . ".join(self.string_value(a) for a in args) + ")"
        if name == "coalesce":
            if node.type is Type.STRING:
                # KQL's coalesce of strings skips empty strings.
                text = self.value(args[-1])
                for arg in reversed(args[:-1]):
                    value = self.value(arg)
                    text = f'if({value}!="", {value}, {text})'
                return text
            return "coalesce(" + ", ".join(self.value(a) for a in args) + ")"
        if name in ("iff", "iif"):
            return f"if({self.true_of(args[0])}, {self.value(args[1])}, {self.value(args[2])})"
        if name == "bin" and node.type.is_numeric:
            return self.bin_number(node)
        if name == "ipv6_is_in_range":
            raise cannot(node, "ipv6_is_in_range()", "eval's cidrmatch() is not documented to read every IPv6 "
                         "spelling, and it returns false where KQL returns null for text that is not an address")
        raise not_yet(node, f"the function {name}()")

    def parse_json(self, text: str) -> str:
        """Translate todynamic() of the string `text`: null for "" and JSON null, a JSON scalar as its value's text.

        spath() decodes a JSON string (or number, or boolean) from a one-element
        array, and the anchored match makes sure that the array contains exactly
        that scalar.
        Other text stays as it is: spath() reads an object or array from it when
        a path follows, and KQL keeps invalid JSON as a string.
        """
        text = self.bind(text, "text")
        scalar = f'spath("[" . {text} . "]", "{{1}}")'
        return (f"if({text}==\"\" OR match({text}, {spl_string(_JSON_NULL)}), null(), "
                f"if(match({text}, {spl_string(_JSON_SCALAR)}), {scalar}, {text}))")

    def dynamic_to_integer(self, name: str, arg: ir.Expr) -> str:
        """Translate toint()/tolong() of a dynamic value, from the text spath() returns for it.

        Integer text converts as it reads, `true` and `false` give 1 and 0, and
        other JSON number text is truncated toward zero. toint() wraps integers
        to 32 bits and saturates reals, as the rule language does.
        """
        # NOTE: spath() returns the same text for the JSON string "true" and the boolean true, and for
        # "2.5" and 2.5, so such strings convert as the JSON value they spell, where KQL gives null.
        # Integers past 2**53 lose digits in eval's doubles.
        text = self.bind(self.value(arg), "text")
        integer = f"tonumber({text})"
        number = self.bind(f"if(match({text}, {spl_string(_JSON_NUMBER_TEXT)}), tonumber({text}), null())", "num")
        truncated = self.bind(f"if({number} < 0, 0 - floor(0 - {number}), floor({number}))", "trunc")
        low, high = (_INT32_MIN, _INT32_MAX) if name == "toint" else (_INT64_MIN, _INT64_MAX)
        # A real out of range saturates.
        truncated = f"if({truncated} > {high}, {high}, if({truncated} < (0 - {-low}), (0 - {-low}), {truncated}))"
        if name == "toint":
            integer = wrap_int32(integer)
        return (f"if(match({text}, {spl_string(_INTEGER_TEXT)}), {integer}, "
                f'if({text}=="true", 1, if({text}=="false", 0, {truncated})))')

    def bin_number(self, node: ir.Call) -> str:
        """bin() of a number: round down to a multiple of the size; a null or non-positive size gives null."""
        value, size = node.args
        if not isinstance(size, ir.Literal):
            raise not_yet(node, "bin() with a computed bin size")
        if size.value is None or size.value < 0 or (size.value == 0 and node.type in (Type.INT, Type.LONG)):
            return "null()"
        if size.value == 0:
            raise cannot(node, "bin() of a real by 0", "the result is NaN, which eval has no value for")
        step = self.value(size)
        return f"(floor({self.operand(value)} / {step}) * {step})"

    def operand(self, expr: ir.Expr) -> str:
        """A value for comparison or arithmetic: numeric fields go through tonumber(), since
        extracted fields are text and two texts compare as text."""
        text = self.value(expr)
        if (expr.type.is_numeric or expr.type is Type.TIMESPAN) and isinstance(expr, (ir.ColumnRef, ir.Path)):
            return f"tonumber({text})"
        return text

    def string_value(self, expr: ir.Expr) -> str:
        if expr.type is Type.STRING:
            return self.value(expr)
        if expr.type is Type.DYNAMIC:
            return f'coalesce({self.value(expr)}, "")'
        if expr.type in (Type.INT, Type.LONG):
            return f'coalesce(tostring({self.value(expr)}), "")'
        if expr.type is Type.DATETIME:
            # The rule language prints a datetime with seven fractional digits and `Z`.
            return f'coalesce({self.datetime_key(expr)} . "Z", "")'
        raise not_yet(expr, f"a {expr.type} value as text")

    def value_Arith(self, node: ir.Arith) -> str:
        if node.op == "/" and node.left.type is Type.TIMESPAN and node.right.type is Type.TIMESPAN:
            return f"({self.operand(node.left)} / {self.operand(node.right)})"
        if not (node.left.type.is_numeric and node.right.type.is_numeric):
            raise not_yet(node, f"arithmetic on {node.left.type} and {node.right.type}")
        if node.op in ("/", "%") and node.type is not Type.REAL:
            raise not_yet(node, f"integer '{node.op}' (KQL truncates toward zero)")
        if node.op == "%":
            raise not_yet(node, "'%'")
        return f"({self.operand(node.left)} {node.op} {self.operand(node.right)})"

    def value_Negate(self, node: ir.Negate) -> str:
        return f"(0 - {self.value(node.operand)})"

    # -------------------------------------------------------------- predicates

    def true_of(self, expr: ir.Expr) -> str:
        """An SPL condition that holds exactly when `expr` is true (never null)."""
        return self.truth(expr, True)

    def false_of(self, expr: ir.Expr) -> str:
        """An SPL condition that holds exactly when `expr` is false (never null)."""
        return self.truth(expr, False)

    def truth(self, expr: ir.Expr, want: bool) -> str:
        method = getattr(self, "truth_" + type(expr).__name__, None)
        if method is None:
            return self.truth_value(expr, want)
        return method(expr, want)

    def truth_value(self, expr: ir.Expr, want: bool) -> str:
        """A bool column, path or call: its text is "true" or "false"."""
        if isinstance(expr, ir.Call) and expr.name in ("isnull", "isnotnull", "isempty", "isnotempty"):
            arg = expr.args[0]
            positive = (expr.name in ("isnull", "isempty")) == want
            value = self.copy_value(arg)
            nullable = self.nullable(arg)
            if expr.name in ("isnull", "isnotnull"):
                if not nullable:
                    return "1==0" if positive else "1==1"
                return f"isnull({value})" if positive else f"isnotnull({value})"
            if not nullable:
                return f'{value}==""' if positive else f'{value}!=""'
            return f'(isnull({value}) OR {value}=="")' if positive else f'(isnotnull({value}) AND {value}!="")'
        if isinstance(expr, ir.Literal):
            if expr.value is None:
                return "1==0"
            return "1==1" if bool(expr.value) == want else "1==0"
        value = self.value(expr)
        return f'{value}=="{"true" if want else "false"}"'

    def truth_Logical(self, node: ir.Logical, want: bool) -> str:
        # and: true when all are true, false when any is false; or is the dual.
        joiner = " AND " if (node.op == "and") == want else " OR "
        return "(" + joiner.join(self.truth(o, want) for o in node.operands) + ")"

    def truth_Not(self, node: ir.Not, want: bool) -> str:
        return self.truth(node.operand, not want)

    def truth_Compare(self, node: ir.Compare, want: bool) -> str:
        left, right = node.left, node.right
        for side in (left, right):
            if side.type is Type.GUID:
                raise not_yet(node, f"comparisons of {side.type} values")
        if self.may_be_nan(left) or self.may_be_nan(right):
            return self.nan_compare(node, want)
        op = node.op
        if Type.DATETIME in (left.type, right.type):
            if left.type is not right.type:
                raise not_yet(node, f"comparisons of a {left.type} value with a {right.type} value")
            # Datetimes compare by the sign of their difference in ticks, which is exact at any distance;
            # the seconds parts are null exactly when the datetimes are.
            left_parts, right_parts = self.datetime_parts(left), self.datetime_parts(right)
            lv, rv = time.difference_ticks(left_parts, right_parts), "0"
            left_probe, right_probe = left_parts[0], right_parts[0]
        else:
            lv, rv = self.compare_operand(left, right), self.compare_operand(right, left)
            left_probe, right_probe = lv, rv
        ln, rn = self.nullable(left), self.nullable(right)
        guards = [f"isnotnull({v})" for v, n in ((left_probe, ln), (right_probe, rn)) if n]
        if op in ("==", "!="):
            positive = (op == "==") == want  # the condition asks for equality
            same = f"{lv}=={rv}"
            differ = f"{lv}!={rv}"
            if not ln and not rn:
                return same if positive else differ
            if positive:
                return "(" + " AND ".join(guards + [same]) + ")"
            if ln and rn:
                # null vs null is null: neither equal nor different.
                return f"((isnull({left_probe}) AND isnotnull({right_probe})) OR " \
                       f"(isnotnull({left_probe}) AND isnull({right_probe})) OR " \
                       f"(isnotnull({left_probe}) AND isnotnull({right_probe}) AND {differ}))"
            nullable_side = left_probe if ln else right_probe
            return f"(isnull({nullable_side}) OR {differ})"
        opposite = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}[op]
        test = f"{lv}{op if want else opposite}{rv}"
        return "(" + " AND ".join(guards + [test]) + ")" if guards else test

    def nan_compare(self, node: ir.Compare, want: bool) -> str:
        """Translate a comparison with a column that may be "NaN" (see nan_columns), with KQL's NaN and null rules.

        A null operand decides as in truth_Compare. Otherwise NaN equals
        nothing, differs from everything and is neither less nor greater than
        anything, and other values compare as numbers.
        """
        sides = []
        for expr, other in ((node.left, node.right), (node.right, node.left)):
            if self.may_be_nan(expr):
                name = eval_name(expr.name)
                number = self.bind(f'if({name}=="NaN", null(), tonumber({name}))', "num")
                sides.append((number, f"isnotnull({name})", f'(isnotnull({name}) AND {name}=="NaN")'))
            else:
                number = self.compare_operand(expr, other)
                sides.append((number, f"isnotnull({number})" if self.nullable(expr) else None, None))
        (lv, left_present, left_nan), (rv, right_present, right_nan) = sides
        present = [p for p in (left_present, right_present) if p]
        nan = "(" + " OR ".join(n for n in (left_nan, right_nan) if n) + ")"
        op = node.op
        if op in ("==", "!="):
            if (op == "==") == want:
                return "(" + " AND ".join(present + [f"NOT {nan}", f"{lv}=={rv}"]) + ")"
            different = " AND ".join(present + [f"({nan} OR {lv}!={rv})"])
            if len(present) < 2:
                # One side is never null: a null on the other differs from it.
                return f"(NOT {present[0]} OR ({different}))"
            one_null = f"(({left_present} AND NOT {right_present}) OR (NOT {left_present} AND {right_present}))"
            return f"({one_null} OR ({different}))"
        opposite = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}[op]
        if want:
            return "(" + " AND ".join(present + [f"NOT {nan}", f"{lv}{op}{rv}"]) + ")"
        return "(" + " AND ".join(present + [f"({nan} OR {lv}{opposite}{rv})"]) + ")"

    def compare_operand(self, expr: ir.Expr, other: ir.Expr) -> str:
        """Return `expr` as an operand of a comparison with `other`.

        A dynamic value compares with a number only when it contains a number, so
        its text is read as a number only when it is JSON number syntax, and is
        null otherwise (a missing key, text, a boolean, an object or an array).
        """
        if expr.type is not Type.DYNAMIC or not other.type.is_numeric:
            return self.operand(expr)
        # NOTE: spath() returns the same text for the JSON string "5" and the number 5, so such a
        # string compares as the number it spells, where KQL's comparison is null.
        text = self.bind(self.value(expr), "dyn")
        return self.bind(f"if(match({text}, {spl_string(_JSON_NUMBER_TEXT)}), tonumber({text}), null())", "num")

    def truth_StringMatch(self, node: ir.StringMatch, want: bool) -> str:
        match = self.string_match(node)
        positive = want != node.negated
        if self.nullable(node.left):
            value = self.value(node.left)
            return f"(isnotnull({value}) AND {match})" if positive else f"(isnull({value}) OR NOT {match})"
        return match if positive else f"NOT {match}"

    def string_match(self, node: ir.StringMatch) -> str:
        """The SPL test for a non-null left operand; `negated` is applied by the caller."""
        left = self.value(node.left)
        right = node.right
        kind = node.kind
        if not isinstance(right, ir.Literal) or not isinstance(right.value, str):
            return self.computed_match(node, left)
        needle = right.value
        if kind == "regex":
            return f"match({left}, {spl_string(pcre_from_kql(needle))})"
        if kind == "equals":
            if node.case_sensitive:
                return f"{left}=={spl_string(needle)}"
            return f"lower({left})=={spl_string(needle.lower())}"
        if kind in ("startswith", "endswith"):
            if not needle:
                return "1==1"
            width = len(needle)
            part = f"substr({left}, 1, {width})" if kind == "startswith" else f"substr({left}, -{width})"
            if node.case_sensitive:
                return f"{part}=={spl_string(needle)}"
            return f"lower({part})=={spl_string(needle.lower())}"
        flags = "" if node.case_sensitive else "(?i)"
        body = regex_escape(needle)
        if kind == "contains":
            if not needle:
                return "1==1"
            return f"match({left}, {spl_string(flags + body)})"
        if kind in ("has", "hasprefix", "hassuffix"):
            return f"match({left}, {spl_string(flags + has_regex(needle, kind))})"
        raise not_yet(node, f"the string operator {kind}")

    def computed_match(self, node: ir.StringMatch, left: str) -> str:
        """A string operator whose needle is computed per row: the needle is escaped by the search."""
        right, kind = node.right, node.kind
        if kind == "regex":
            raise cannot(node, "'matches regex' with a computed pattern",
                         "a pattern is checked against KQL's regex dialect when the rule compiles, "
                         "and Splunk's PCRE accepts and reads patterns that KQL rejects or reads differently")
        if right.type is not Type.STRING:
            raise not_yet(node, f"'{kind}' against a computed {right.type} value")
        needle = self.bind(self.value(right), "needle")
        if kind == "equals":
            if node.case_sensitive:
                return f"{left}=={needle}"
            return f"lower({left})==lower({needle})"
        if kind == "startswith":
            part = f"substr({left}, 1, len({needle}))"
        elif kind == "endswith":
            # substr() from -0 would return the whole value, so an empty needle is tested on its own.
            part = f"substr({left}, 0 - len({needle}))"
        if kind in ("startswith", "endswith"):
            test = f"{part}=={needle}" if node.case_sensitive else f"lower({part})==lower({needle})"
            return f"(len({needle})==0 OR {test})"
        if kind not in ("contains", "has", "hasprefix", "hassuffix"):
            raise not_yet(node, f"the string operator {kind}")
        flags = '"" . ' if node.case_sensitive else '"(?i)" . '
        return f"match({left}, {flags}{self.needle_regex(needle, kind)})"

    def needle_regex(self, needle: str, kind: str) -> str:
        """An eval expression for the PCRE of a computed needle, with the term edges of has/hasprefix/hassuffix."""
        body = f"replace({needle}, {spl_string(_NEEDLE_SPECIAL)}, {spl_string(_NEEDLE_ESCAPE)})"
        if kind in ("has", "hasprefix"):
            body = f'if(match({needle}, {spl_string("^" + _TERM_CLASS)}), {spl_string(f"(?<!{_TERM_CLASS})")}, "") . ' + body
        if kind in ("has", "hassuffix"):
            body += f' . if(match({needle}, {spl_string(_TERM_CLASS + chr(92) + "z")}), {spl_string(f"(?!{_TERM_CLASS})")}, "")'
        return body

    def truth_InList(self, node: ir.InList, want: bool) -> str:
        left = self.value(node.expr)
        values = []
        for item in node.values:
            if isinstance(item, ir.Literal) and item.value is None:
                continue
            if node.case_sensitive:
                values.append(self.value(item))
            elif isinstance(item, ir.Literal) and isinstance(item.value, str):
                values.append(spl_string(item.value.lower()))
            else:
                values.append(f"lower({self.string_value(item)})")
        subject = left if node.case_sensitive else f"lower({self.string_value(node.expr)})"
        test = f"in({subject}, {', '.join(values)})" if values else "1==0"
        positive = want != node.negated
        if self.nullable(node.expr):
            # A null value is in no list, even one holding "" (which `lower()` of the filled value would match).
            return f"(isnotnull({left}) AND {test})" if positive else f"(isnull({left}) OR NOT {test})"
        return test if positive else f"NOT {test}"

    def truth_HasAny(self, node: ir.HasAny, want: bool) -> str:
        text = self.string_value(node.expr)
        tests = []
        for item in node.values:
            if isinstance(item, ir.Literal) and isinstance(item.value, str):
                tests.append(f"match({text}, {spl_string('(?i)' + has_regex(item.value, 'has'))})")
            elif item.type is Type.STRING:
                needle = self.bind(self.value(item), "needle")
                tests.append(f'match({text}, "(?i)" . {self.needle_regex(needle, "has")})')
            else:
                raise not_yet(node, "has_any/has_all with a non-string element")
        if not tests:
            return ("1==1" if node.all else "1==0") if want else ("1==0" if node.all else "1==1")
        positive_join = " AND " if node.all else " OR "
        test = "(" + positive_join.join(tests) + ")"
        if self.nullable(node.expr):
            # String operators are false on a null value, and the filled text "" would match an empty term.
            value = self.value(node.expr)
            return f"(isnotnull({value}) AND {test})" if want else f"(isnull({value}) OR NOT {test})"
        return test if want else f"NOT {test}"

    def truth_Between(self, node: ir.Between, want: bool) -> str:
        if node.expr.type in (Type.DATETIME, Type.TIMESPAN):
            inside = ir.Logical("and", (ir.Compare(">=", node.expr, node.low, span=node.span),
                                        ir.Compare("<=", node.expr, node.high, span=node.span)), span=node.span)
            if want != node.negated:
                # Where `between` must be true, it is true exactly when both comparisons are, null bound or not.
                return self.truth(inside, True)
            if self.nullable(node.low) or self.nullable(node.high):
                raise not_yet(node, f"between on {node.expr.type} values with a bound that can be null, under a "
                                    "negation,", "write the two comparisons, `x >= low and x <= high`, and negate those")
            # With non-null bounds, `between` is null exactly when the value is, as the two comparisons are.
            return self.truth(ir.Not(inside, span=node.span) if node.negated else inside, want)
        for side in (node.expr, node.low, node.high):
            if not side.type.is_numeric:
                raise not_yet(node, f"between on {side.type} values")
        v, lo, hi = self.operand(node.expr), self.operand(node.low), self.operand(node.high)
        guards = [f"isnotnull({x})" for x, e in ((v, node.expr), (lo, node.low), (hi, node.high)) if self.nullable(e)]
        inside = want != node.negated
        test = f"{v}>={lo} AND {v}<={hi}" if inside else f"({v}<{lo} OR {v}>{hi})"
        return "(" + " AND ".join(guards + [test]) + ")"


def wrap_int32(number: str) -> str:
    """Return an eval expression for the integer `number` wrapped to 32 bits (exact below 2**53)."""
    return f"({number} - floor(({number} + {-_INT32_MIN}) / {2**32}) * {2**32})"


def subsearch(pipeline: Pipeline) -> str:
    """A subsearch's text, indented under the command that opens it, closing bracket on its own line."""
    lines = pipeline.lines()
    body = ["search " + lines[0]] + lines[1:]
    return "\n" + "\n".join(INDENT + line for line in body) + "\n" + INDENT + "]"


def _computed_datetime(expr: ir.Expr) -> bool:
    """Whether a datetime expression is computed by the search rather than read as event text."""
    if isinstance(expr, ir.Literal):
        return expr.value is not None
    if isinstance(expr, ir.Call):
        return expr.name in ("now", "ago", "bin")
    return isinstance(expr, ir.Arith)


def _generic_call(expr: ir.Expr) -> bool:
    """Calls whose timespan result value_Call computes like any other value (coalesce, iff)."""
    return isinstance(expr, ir.Call) and expr.name != "bin"


def _refs(expr: ir.Expr) -> set[str]:
    return {e.name for e in ir.walk_exprs(expr) if isinstance(e, ir.ColumnRef)}


def has_regex(needle: str, kind: str) -> str:
    """A PCRE search for `needle` as KQL's `has` (whole terms), `hasprefix` or `hassuffix` mean it.

    Terms are maximal runs of Unicode letters and digits. The needle may not be
    preceded by a term character when it starts with one, nor followed by one
    when it ends with one; `hasprefix` checks only the start, `hassuffix` only
    the end.
    """
    body = regex_escape(needle)
    if not needle:
        return ""
    if kind in ("has", "hasprefix") and needle[0].isalnum():
        body = f"(?<!{_TERM_CLASS})" + body
    if kind in ("has", "hassuffix") and needle[-1].isalnum():
        body = body + f"(?!{_TERM_CLASS})"
    return body
