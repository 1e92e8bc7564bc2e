"""Compile a query or rule to SPL and run it with the reference interpreter.

Test helpers shared by the Splunk tests; they go through the real loader,
resolver and generator, so a test sees the SPL text a user would get.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from backends import CompileSettings
from backends.splunk import TARGETS
from interpreter import run_spl
from translator.compiler import analyze
from translator.rule import Rule, load_rule, load_rule_text
from translator.types import Type
from translator.values import parse_datetime

RULE_TEMPLATE = """\
id: 00000000-0000-4000-8000-000000000001
name: Splunk semantics probe
description: A query compiled by the Splunk tests.
query: |
{query}
"""


def rule_for(query: str, extra: str = "") -> Rule:
    body = textwrap.indent(textwrap.dedent(query).strip("\n"), "  ")
    return load_rule_text(RULE_TEMPLATE.format(query=body) + extra, "<probe>")


def compile_spl(rule: Rule, join: str = "join", mapping: str | None = None) -> str:
    analysis = analyze(rule, "defender")
    return TARGETS["splunk"].search(analysis, CompileSettings(splunk_join=join, splunk_mapping=mapping))


def run_query(query: str, events: dict[str, list[dict]], join: str = "join") -> list[dict]:
    return run_spl(compile_spl(rule_for(query), join), events)


def rule_inputs(rule: Rule, case) -> dict[str, list[dict]]:
    inputs = {}
    for table, events in case.input.items():
        if isinstance(events, str):
            path = Path(rule.path).parent / events
            inputs[table] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            inputs[table] = events
    return inputs


def normalize(value, type_: Type):
    """One comparable form for an expected or an SPL value of a column of `type_`."""
    if type_ is Type.STRING:
        return "" if value is None else str(value)
    if value is None or value == "":
        return None
    if type_ is Type.DATETIME:
        return parse_datetime(str(value))
    if type_.is_numeric:
        return float(value)
    if type_ is Type.BOOL:
        return str(value).lower() == "true" if not isinstance(value, bool) else value
    if type_ is Type.DYNAMIC:
        if isinstance(value, str):
            try:
                return json.loads(value) if value[:1] in "[{" else value
            except ValueError:
                return value
        return value
    return value


def normalize_rows(rows: list[dict], columns) -> list[tuple]:
    return [tuple(normalize(row.get(c.name), c.type) for c in columns) for row in rows]


__all__ = ["compile_spl", "conf_stanzas", "rule_for", "run_query", "run_spl", "rule_inputs", "normalize_rows", "load_rule"]


def conf_stanzas(text: str) -> dict[str, dict[str, str]]:
    """Parse the stanzas of a .conf file that the Splunk target wrote.

    A value ending in ` \\` continues on the next line. Lines end at "\\n" only,
    the one line break the target writes: str.splitlines() would also split
    values at carriage returns and other separators that event text brings in.
    """
    stanzas: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    lines = iter(text.split("\n"))
    for line in lines:
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("["):
            current = stanzas.setdefault(line.strip()[1:-1], {})
            continue
        key, _, value = line.partition(" = ")
        while value.endswith(" \\"):
            value = value[:-2] + "\n" + next(lines)
        current[key] = value
    return stanzas
