"""The public stages, one function each: load, parse, resolve.

```
rule.yaml  --load_rule-->  Rule
Rule.query --parse-->      syntax.Query
Query      --resolve-->    IR (typed; every node knows its columns)
IR         --backend-->    target text  (backends/)
```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from translator import ir
from translator import syntax
from translator.diagnostics import Diagnostic, QueryError, RulecastError, Span
from translator.parser import MAX_DEPTH, parse_query, too_deep_error
from translator.resolver import resolve
from translator.rule import Rule, load_rule
from translator.schema import load_catalog

RULE_SUFFIXES = (".yaml", ".yml")

# The deepest IR a query may resolve to. The parser keeps the nesting of the
# text within MAX_DEPTH, so only chains of let statements that use each other
# and pipelines of more than a thousand operators come near this limit. The
# backends recurse about five frames per level, which `translator.cli`'s
# recursion limit allows for.
MAX_IR_DEPTH = 2 * MAX_DEPTH


@dataclass
class Analysis:
    """A rule with its parsed query and the IR resolved for one platform."""

    rule: Rule
    query: syntax.Query
    node: ir.Node
    platform: str
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def columns(self) -> tuple[ir.Column, ...]:
        return self.node.columns


def parse(rule: Rule) -> syntax.Query:
    """Parse the rule's query; raise `RulecastError` positioned in the rule file."""
    try:
        return parse_query(rule.query)
    except QueryError as exc:
        raise RulecastError(rule.diagnostic(exc)) from None
    except RecursionError:
        # The parser's depth limit should prevent this; the error still names the query, not a bug.
        raise RulecastError(rule.diagnostic(too_deep_error(Span.unknown()))) from None


def analyze(rule: Rule, platform: str = "defender") -> Analysis:
    """Parse and resolve the rule's query against the platform's table schemas."""
    query = parse(rule)
    try:
        resolved = resolve(query, load_catalog(platform))
        check_depth(resolved.node)
    except QueryError as exc:
        raise RulecastError(rule.diagnostic(exc)) from None
    except RecursionError:
        # A chain of thousands of let statements that use each other nests without a limit.
        raise RulecastError(rule.diagnostic(too_deep_error(query.span, MAX_IR_DEPTH))) from None
    warnings = [rule.diagnostic(w, "warning") for w in resolved.warnings]
    return Analysis(rule, query, resolved.node, platform, warnings)


def check_depth(node: ir.Node, limit: int = MAX_IR_DEPTH) -> None:
    """Raise `QueryError` at the first IR node, tabular or scalar, nested more than `limit` levels deep."""
    stack: list[tuple[object, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            raise too_deep_error(current.span, limit)
        for item in dataclasses.fields(current):
            value = getattr(current, item.name)
            if isinstance(value, Span):
                continue
            if dataclasses.is_dataclass(value):
                stack.append((value, depth + 1))
            elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
                stack.extend((element, depth + 1) for element in value)


def python_module(analysis: Analysis):
    """Generate and load the python target's module; raise `RulecastError` when CPython cannot compile it.

    CPython's parser rejects more than 200 nested parentheses (a SyntaxError)
    and stops at a fixed depth of its own grammar rules (a MemoryError). The
    generated module nests about one parenthesis per level of a nested
    `and`/`or` or arithmetic expression, so about 195 such levels is its limit.
    """
    from backends.python import generate_module, load_module

    source = generate_module(analysis)
    try:
        return load_module(source)
    except SyntaxError as exc:
        if "too many nested parentheses" not in str(exc.msg):
            raise
        reason = "too many nested parentheses"
    except (MemoryError, RecursionError):
        # NOTE: CPython's parser reports its stack overflow as a MemoryError, so a real lack
        # of memory while compiling the module is reported as this error too.
        reason = "its parser ran out of stack"
    error = QueryError(
        f"the query nests too deeply for the python target: CPython cannot compile the generated module ({reason})",
        analysis.query.span,
        "flatten the expression. A list of values needs no nesting: write Column in (\"a\", \"b\") or one chain of 'or'",
        length=1,
    )
    raise RulecastError(analysis.rule.diagnostic(error)) from None


def rule_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Yield the rule files named by `paths`, expanding folders recursively in sorted order."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                if candidate.suffix in RULE_SUFFIXES and candidate.is_file():
                    yield candidate
        else:
            yield path


def load_and_analyze(path: str | Path, platform: str = "defender") -> Analysis:
    return analyze(load_rule(path), platform)
