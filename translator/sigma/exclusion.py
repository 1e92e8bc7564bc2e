"""Sigma filters written as rulecast exclusions (Kibana-style filter text).

`rulecast import sigma` turns a Sigma filter that names a rule into an entry
of the rule file's `exclusions` when the exclusion syntax expresses exactly
the filter's condition. A filter's condition selects the events to keep
(pySigma appends `and (filter condition)` to the rule's condition), while an
exclusion removes the rows it matches, so the exclusion is the negation of
the condition: `condition: not selection` becomes the selection itself, and
`condition: selection` becomes `not (...)`.

The exclusion language matches text case-insensitively with `*` wildcards,
and `field:*` tests for a value, so a filter converts when every field maps
to a text column of the Defender XDR table and every value is one of:

- a string without `|cased` and without `?` wildcards;
- `null`, or `|exists`.

Anything else (regexes, `cidr`, numeric comparisons, `fieldref`, keywords,
fields that map to an expression or through a value table, non-text columns)
keeps the filter as a `where` stage of the query, and `exclusion_for` raises
`Refusal` with the reason.

Every value is written, then read back with the exclusion parser, and must
decode to the same text and wildcards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import SigmaCasedString, SigmaExists, SigmaExpansion, SigmaNull, SigmaString, SpecialChars

from translator.diagnostics import QueryError
from translator.sigma.mapping import LogSourceEntry, Mapping, NativeTable, Refusal
from translator.types import Type

_UNQUOTED_SPECIAL = '\\():<>"{}*?~'
_CONTROL = {"\t": "\\t", "\r": "\\r", "\n": "\\n"}
_KEYWORD = re.compile(r"(?i)(?<!\S)(and|or|not)(?=\s|$)")
_COMMA = re.compile(r"\s*,\s*")


@dataclass(frozen=True)
class SigmaExclusion:
    """One exclusion entry for a rule file."""

    name: str
    description: str
    filter: str


def exclusion_for(filter_document, mapping: Mapping, entry: LogSourceEntry, table: NativeTable,
                  used_names: set[str]) -> SigmaExclusion:
    """Write a Sigma filter as an exclusion that removes the events the filter's condition rejects.

    Raise `Refusal` with the reason when the exclusion syntax cannot express it.
    """
    writer = _Writer(mapping, entry, table)
    trees = filter_document.condition_trees(filter_document.sigma.filter)
    # Several conditions are joined by `or`, so the negation joins their negations by `and`.
    parts = [writer.negation(tree) for tree in trees]
    text = parts[0] if len(parts) == 1 else " and ".join(f"({p})" for p in parts)
    name = _COMMA.sub("; ", filter_document.title).strip() or "Sigma filter"
    unique, number = name, 2
    while unique in used_names:
        unique, number = f"{name} ({number})", number + 1
    data = filter_document.data
    description = data.get("description") if isinstance(data.get("description"), str) else None
    source = f"Sigma filter {data.get('id') or filter_document.title} ({filter_document.path})"
    return SigmaExclusion(unique, (description.strip() + "\n" if description else "") + source, text)


class _Writer:
    def __init__(self, mapping: Mapping, entry: LogSourceEntry, table: NativeTable):
        self.mapping = mapping
        self.entry = entry
        self.columns = {c.name: c.type for c in table.columns}

    def condition(self, node) -> str:
        if isinstance(node, (ConditionOR, ConditionAND)):
            joiner = " or " if isinstance(node, ConditionOR) else " and "
            return "(" + joiner.join(self.condition(a) for a in node.args) + ")"
        if isinstance(node, ConditionNOT):
            return self.negation(node.args[0])
        if isinstance(node, ConditionFieldEqualsValueExpression):
            return self.field(node.field, node.value)
        if isinstance(node, ConditionValueExpression):
            raise Refusal("a keyword (full-text) search has no exclusion syntax", "filter kept in the query")
        raise Refusal(f"the condition element {type(node).__name__} has no exclusion syntax",
                      "filter kept in the query")

    def negation(self, node) -> str:
        """Write the negation of `node`, cancelling a `not` instead of writing `not not`."""
        if isinstance(node, ConditionNOT):
            return self.condition(node.args[0])
        if isinstance(node, (ConditionOR, ConditionAND)) and all(isinstance(a, ConditionNOT) for a in node.args):
            # De Morgan: `not (not a and not b)` is `a or b`.
            joiner = " and " if isinstance(node, ConditionOR) else " or "
            return "(" + joiner.join(self.condition(a.args[0]) for a in node.args) + ")"
        if isinstance(node, ConditionFieldEqualsValueExpression):
            return self.field(node.field, node.value, negated=True)
        return f"not {self.condition(node)}"

    def field(self, name: str, value, negated: bool = False) -> str:
        if isinstance(value, SigmaExpansion):
            text = "(" + " or ".join(self.field(name, v) for v in value.values) + ")"
            return f"not {text}" if negated else text
        column = self.column(name)
        if isinstance(value, (SigmaNull, SigmaExists)):
            has_value = isinstance(value, SigmaExists) and value.exists
            return f"{column}:*" if has_value != negated else f"not {column}:*"
        text = self.value(name, column, value)
        return f"not {text}" if negated else text

    def value(self, name: str, column: str, value) -> str:
        if isinstance(value, SigmaCasedString):
            raise Refusal(f"field '{name}': exclusions match text case-insensitively, and the value is |cased",
                          "filter kept in the query", field=name)
        if not isinstance(value, SigmaString):
            raise Refusal(f"field '{name}': {type(value).__name__} values have no exclusion syntax",
                          "filter kept in the query", field=name)
        if value.contains_placeholder():
            raise Refusal(f"field '{name}': an expand placeholder has no exclusion syntax",
                          "filter kept in the query", field=name)
        return f"{column}:{write_value(name, list(value.s))}"

    def column(self, name: str) -> str:
        spec = self.mapping.field(self.entry, name)
        plain = spec.column and not (spec.values or spec.prefixes or spec.dword or spec.hashes or spec.prepend)
        if not plain:
            raise Refusal(f"field '{name}' maps to an expression or a value translation, not to one column",
                          "filter kept in the query", field=name)
        if self.columns.get(spec.column) is not Type.STRING:
            raise Refusal(f"field '{name}' maps to column '{spec.column}', which is not a text column",
                          "filter kept in the query", field=name)
        return spec.column


def write_value(name: str, parts: list) -> str:
    """Write a Sigma string (text and `*` wildcards) as an exclusion value that reads back the same."""
    parts = [p for p in parts if p != ""]
    if any(p is SpecialChars.WILDCARD_SINGLE for p in parts):
        raise Refusal(f"field '{name}': the exclusion syntax has no single-character wildcard '?'",
                      "filter kept in the query", field=name)
    if all(isinstance(p, str) for p in parts):
        text = '"' + "".join(parts).replace("\\", "\\\\").replace('"', '\\"') + '"'
        expected: list = ["".join(parts)]
    else:
        pieces = []
        expected = []
        for part in parts:
            if part is SpecialChars.WILDCARD_MULTI:
                pieces.append("*")
                if not expected or expected[-1] != "*":
                    expected.append("*")
            else:
                pieces.append(_escape_unquoted(part))
                expected.append(part)
        text = "".join(pieces)
    if _decoded(text) != _merged(expected):
        raise Refusal(f"field '{name}': the value cannot be written in the exclusion syntax unchanged "
                      "(leading or trailing whitespace around a wildcard value, for example)",
                      "filter kept in the query", field=name)
    return text


def _escape_unquoted(text: str) -> str:
    out = []
    for char in text:
        if char in _UNQUOTED_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(_CONTROL.get(char, char))
    return _KEYWORD.sub(lambda m: "\\" + m.group(1), "".join(out))


def _merged(expected: list) -> list:
    merged: list = []
    for item in expected:
        if item != "*" and merged and merged[-1] != "*":
            merged[-1] += item
        else:
            merged.append(item)
    return merged


def _decoded(value_text: str) -> list | None:
    """Read `F:value` with the exclusion parser; return its text and `*` segments, or None when it does not parse."""
    from translator.exclusions import STAR, FieldMatch, Value, parse_filter

    try:
        term = parse_filter(f"F:{value_text}")
    except QueryError:
        return None
    if not isinstance(term, FieldMatch) or not isinstance(term.value, Value):
        return None
    segments = term.value.segments
    if any(not (isinstance(s, str) or s is STAR) for s in segments):
        return None
    return ["*" if s is STAR else s for s in segments]
