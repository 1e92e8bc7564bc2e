"""Diagnostics: errors and warnings with a source position, rendered like a compiler's.

Every problem in a rule or query becomes a `Diagnostic`. The CLI prints each as
``file:line:col: error: message``, then the source line with a caret under the
offending text, then an optional hint. Positions are 1-based.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Span:
    """A region of source text: 0-based offsets plus 1-based line and column of its start."""

    start: int
    end: int
    line: int
    column: int

    @staticmethod
    def unknown() -> "Span":
        return Span(0, 0, 0, 0)


@dataclass(frozen=True)
class Location:
    """A resolved position in a file, ready to print."""

    path: str
    line: int
    column: int
    source_line: str | None = None
    length: int = 1


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" or "warning"
    message: str
    location: Location | None = None
    hint: str | None = None

    def render(self) -> str:
        """Format as `file:line:col: severity: message`, a source excerpt and a hint."""
        loc = self.location
        if loc is None:
            head = f"rulecast: {self.severity}: {self.message}"
            return head if not self.hint else f"{head}\n  hint: {self.hint}"
        if loc.line > 0:
            head = f"{loc.path}:{loc.line}:{loc.column}: {self.severity}: {self.message}"
        else:
            head = f"{loc.path}: {self.severity}: {self.message}"
        lines = [head]
        if loc.source_line is not None and loc.line > 0:
            text = loc.source_line.rstrip("\n").expandtabs(1)
            lines.append(f"  {text}")
            width = max(1, min(loc.length, len(text) - loc.column + 1))
            lines.append("  " + " " * (loc.column - 1) + "^" + "~" * (width - 1))
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    @property
    def first_line(self) -> str:
        return self.render().split("\n", 1)[0]


class RulecastError(Exception):
    """One or more error diagnostics; raised by every stage on invalid input."""

    def __init__(self, diagnostics: Sequence[Diagnostic] | Diagnostic):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.first_line for d in self.diagnostics))

    def render(self) -> str:
        return "\n".join(d.render() for d in self.diagnostics)


class QueryError(Exception):
    """An error inside query text, positioned by a `Span` relative to that text.

    The rule loader translates the span into a file position, because only it
    knows where the query text sits inside the YAML file.
    """

    def __init__(self, message: str, span: Span, hint: str | None = None, length: int | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.length = length if length is not None else max(1, span.end - span.start)


@dataclass
class Warnings:
    """Collects query-relative warnings during resolution."""

    items: list[QueryError] = field(default_factory=list)

    def add(self, message: str, span: Span, hint: str | None = None) -> None:
        self.items.append(QueryError(message, span, hint))


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """Return a hint naming the closest candidate, preferring a case-insensitive match."""
    pool = list(candidates)
    for candidate in pool:
        if candidate.lower() == name.lower() and candidate != name:
            return f"did you mean '{candidate}'? (names are case-sensitive)"
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.75)
    if close:
        return f"did you mean '{close[0]}'?"
    return None
