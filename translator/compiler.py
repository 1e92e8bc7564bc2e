"""The public stages, one function each: load, parse, resolve.

```
rule.yaml  --load_rule-->  Rule
Rule.query --parse-->      syntax.Query
Query      --resolve-->    IR (typed; every node knows its columns)
IR         --backend-->    target text  (backends/)
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from translator import ir
from translator import syntax
from translator.diagnostics import Diagnostic, QueryError, RulecastError
from translator.parser import parse_query
from translator.resolver import resolve
from translator.rule import Rule, load_rule
from translator.schema import load_catalog

RULE_SUFFIXES = (".yaml", ".yml")


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


def analyze(rule: Rule, platform: str = "defender") -> Analysis:
    """Parse and resolve the rule's query against the platform's table schemas."""
    query = parse(rule)
    try:
        resolved = resolve(query, load_catalog(platform))
    except QueryError as exc:
        raise RulecastError(rule.diagnostic(exc)) from None
    warnings = [rule.diagnostic(w, "warning") for w in resolved.warnings]
    return Analysis(rule, query, resolved.node, platform, warnings)


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
