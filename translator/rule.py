"""Load and validate rule files, and map query positions back into them.

A rule file is a superset of the Microsoft Sentinel hunting-query YAML. The
loader checks every key and value, collecting all problems it can find in one
pass so that a user sees them together, and keeps the position of each value
so that errors inside the query point at the right line of the YAML file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from translator.diagnostics import Diagnostic, Location, QueryError, RulecastError, did_you_mean
from translator.yamlload import KeyPath, LoadedYaml, Mark, YamlError, load

SENTINEL_TACTICS = (
    "Reconnaissance",
    "ResourceDevelopment",
    "InitialAccess",
    "Execution",
    "Persistence",
    "PrivilegeEscalation",
    "DefenseEvasion",
    "CredentialAccess",
    "Discovery",
    "LateralMovement",
    "Collection",
    "Exfiltration",
    "CommandAndControl",
    "Impact",
    "ImpairProcessControl",
    "InhibitResponseFunction",
)
SEVERITIES = ("Informational", "Low", "Medium", "High")
TARGET_NAMES = ("sentinel", "defender", "splunk", "python")

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")

# Keys of Sentinel hunting and scheduled-rule YAML that a rule may carry as
# they are; packaging for Sentinel reads them, other targets ignore them.
SENTINEL_PASSTHROUGH_KEYS = (
    "queryFrequency",
    "queryPeriod",
    "triggerOperator",
    "triggerThreshold",
    "entityMappings",
    "customDetails",
    "alertDetailsOverride",
    "eventGroupingSettings",
    "incidentConfiguration",
    "suppressionDuration",
    "suppressionEnabled",
    "status",
    "kind",
    "tags",
    "metadata",
)

RULE_KEYS = (
    "id",
    "name",
    "description",
    "description-detailed",
    "requiredDataConnectors",
    "tactics",
    "relevantTechniques",
    "query",
    "version",
    "severity",
    "exclusions",
    "tests",
    "fields",
    "options",
) + SENTINEL_PASSTHROUGH_KEYS

EXCLUSION_KEYS = ("name", "description", "filter", "enabled", "reason", "placeholders")
PLACEHOLDER_KEYS = ("description", "value")
TEST_KEYS = ("name", "description", "input", "expect")
EXPECT_KEYS = ("rows", "count", "ordered")


@dataclass
class Exclusion:
    name: str
    description: str
    filter: str
    enabled: bool = True
    reason: str | None = None
    placeholders: dict[str, str | None] = field(default_factory=dict)  # name -> value; None while unset
    index: int = 0


@dataclass
class TestCase:
    name: str
    description: str | None
    input: dict[str, Any]  # table -> list of events, or a path relative to the rule file
    expect: dict[str, Any]
    index: int = 0


@dataclass
class Rule:
    path: str
    text: str
    data: dict[str, Any]
    loaded: LoadedYaml
    id: str
    name: str
    description: str
    query: str
    version: str | None = None
    severity: str | None = None
    tactics: list[str] = field(default_factory=list)
    relevant_techniques: list[str] = field(default_factory=list)
    required_data_connectors: list[dict[str, Any]] = field(default_factory=list)
    exclusions: list[Exclusion] = field(default_factory=list)
    tests: list[TestCase] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    @property
    def directory(self) -> Path:
        return Path(self.path).parent

    def location(self, path: KeyPath, key: bool = False, length: int = 1) -> Location:
        """Return the file position of the value (or key) at `path`."""
        marks = self.loaded.key_marks if key else self.loaded.value_marks
        mark = marks.get(path)
        while mark is None and path:
            path = path[:-1]
            mark = self.loaded.value_marks.get(path)
        return _location(self.path, self.lines, mark, length)

    def query_location(self, start: int, length: int = 1) -> Location:
        """Return the file position of offset `start` inside the query text."""
        return locate_in_scalar(self, ("query",), self.query, start, length)

    def diagnostic(self, error: QueryError, severity: str = "error", text_path: KeyPath = ("query",),
                   text: str | None = None) -> Diagnostic:
        """Turn a query-relative `QueryError` into a positioned `Diagnostic`."""
        text = self.query if text is None else text
        location = locate_in_scalar(self, text_path, text, error.span.start, error.length)
        return Diagnostic(severity, error.message, location, error.hint)


def locate_in_scalar(rule: Rule, path: KeyPath, text: str, offset: int, length: int = 1) -> Location:
    """Map an offset inside the string value at `path` to its line and column in the file.

    Exact for block scalars (`|`, `|-`, `>`) and single-line plain or quoted
    scalars, which is how queries and filters are written; other styles map to
    the start of the value.
    """
    mark = rule.loaded.value_marks.get(path)
    if mark is None:
        return _location(rule.path, rule.lines, None, length)
    offset = max(0, min(offset, len(text)))
    line_in_text = text.count("\n", 0, offset)
    column_in_text = offset - (text.rfind("\n", 0, offset) + 1)
    style = rule.loaded.styles.get(path)
    lines = rule.lines
    if style in ("|", ">"):
        first = mark.line  # the indicator's line (1-based); content starts on the next one
        indent = _explicit_indent(lines[first - 1], mark.column)
        for candidate in lines[first:] if indent is None else ():
            if candidate.strip():
                indent = len(candidate) - len(candidate.lstrip(" "))
                break
        indent = indent or 0
        if style == ">":
            line_in_text = 0
        line = first + 1 + line_in_text
        return _location(rule.path, lines, Mark(line, indent + column_in_text + 1), length)
    if style in ("'", '"'):
        return _location(rule.path, lines, Mark(mark.line, mark.column + 1 + column_in_text), length)
    if line_in_text == 0:
        return _location(rule.path, lines, Mark(mark.line, mark.column + column_in_text), length)
    return _location(rule.path, lines, mark, length)


def _explicit_indent(line: str, column: int) -> int | None:
    """Return the content indentation a block scalar header such as `|2-` sets, or None.

    The digit counts from the indentation of the line that holds the header
    (PyYAML and libyaml agree on this for rule files, whose keys start lines).
    """
    header = line[column - 1 :].split("#", 1)[0].strip()
    digits = [c for c in header[1:] if c.isdigit()]
    if not digits:
        return None
    return len(line) - len(line.lstrip(" ")) + int(digits[0])


def _location(path: str, lines: list[str], mark: Mark | None, length: int = 1) -> Location:
    if mark is None:
        return Location(path, 0, 0, None, length)
    source = lines[mark.line - 1] if 0 < mark.line <= len(lines) else None
    return Location(path, mark.line, mark.column, source, length)


# ---------------------------------------------------------------- loading


def load_rule(path: str | Path) -> Rule:
    """Read and validate a rule file; raise `RulecastError` with every problem found."""
    path = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise RulecastError(Diagnostic("error", f"cannot read rule file: {exc.strerror}", Location(path, 0, 0))) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line_end = raw.find(b"\n", exc.start)
        shown = raw[line_start : line_end if line_end >= 0 else len(raw)].decode("utf-8", errors="replace")
        column = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        line = raw[: exc.start].count(b"\n") + 1
        location = Location(path, line, column, shown)
        message = f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})"
        raise RulecastError(Diagnostic("error", message, location, "save the file as UTF-8")) from None
    return load_rule_text(text, path)


def load_rule_text(text: str, path: str = "<rule>") -> Rule:
    lines = text.splitlines()
    try:
        loaded = load(text)
    except YamlError as exc:
        raise RulecastError(Diagnostic("error", exc.message, _location(path, lines, exc.mark), exc.hint)) from None
    data = loaded.value
    if not isinstance(data, dict):
        raise RulecastError(Diagnostic("error", "a rule file must be a YAML mapping", _location(path, lines, Mark(1, 1))))
    validator = _Validator(path, text, loaded)
    rule = validator.validate(data)
    if validator.errors:
        raise RulecastError(validator.errors)
    return rule


class _Validator:
    def __init__(self, path: str, text: str, loaded: LoadedYaml):
        self.path = path
        self.lines = text.splitlines()
        self.text = text
        self.loaded = loaded
        self.errors: list[Diagnostic] = []

    def error(self, path: KeyPath, message: str, hint: str | None = None, key: bool = False) -> None:
        marks = self.loaded.key_marks if key else self.loaded.value_marks
        mark = marks.get(path)
        probe = path
        while mark is None and probe:
            probe = probe[:-1]
            mark = self.loaded.value_marks.get(probe)
        self.errors.append(Diagnostic("error", message, _location(self.path, self.lines, mark), hint))

    def unknown_keys(self, data: dict, allowed: tuple[str, ...], path: KeyPath, where: str) -> None:
        for key in data:
            if key not in allowed:
                hint = did_you_mean(str(key), allowed) or "allowed keys: " + ", ".join(allowed)
                self.error(path + (key,), f"unknown key '{key}' in {where}", hint, key=True)

    def string(self, data: dict, key: str, path: KeyPath, required: bool = False) -> str | None:
        if key not in data:
            if required:
                self.error(path, f"missing required key '{key}'")
            return None
        value = data[key]
        if not isinstance(value, str):
            shown = "a number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__
            hint = f"quote it: {key}: \"{value}\"" if isinstance(value, (int, float, bool)) else None
            self.error(path + (key,), f"'{key}' must be a string, not {shown}", hint)
            return None
        if required and not value.strip():
            self.error(path + (key,), f"'{key}' must not be empty")
        return value

    def string_list(self, data: dict, key: str, path: KeyPath, check: Callable[[str, KeyPath], None] | None = None) -> list[str]:
        if key not in data:
            return []
        value = data[key]
        if not isinstance(value, list):
            self.error(path + (key,), f"'{key}' must be a list")
            return []
        result = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.error(path + (key, i), f"each entry of '{key}' must be a string")
                continue
            if check:
                check(item, path + (key, i))
            result.append(item)
        return result

    def validate(self, data: dict) -> Rule:
        self.unknown_keys(data, RULE_KEYS, (), "rule")
        rule_id = self.string(data, "id", (), required=True)
        if rule_id is not None and not _GUID.match(rule_id):
            self.error(("id",), f"id '{rule_id}' is not a GUID", "generate one with: python3 -c 'import uuid; print(uuid.uuid4())'")
        name = self.string(data, "name", (), required=True)
        description = self.string(data, "description", (), required=True)
        self.string(data, "description-detailed", ())
        query = self.string(data, "query", (), required=True)
        version = self.string(data, "version", ())
        if version is not None and not re.fullmatch(r"\d+(\.\d+){0,3}", version):
            self.error(("version",), f"version '{version}' is not of the form 1.0.0")
        severity = self.string(data, "severity", ())
        if severity is not None and severity not in SEVERITIES:
            self.error(("severity",), f"unknown severity '{severity}'", did_you_mean(severity, SEVERITIES) or "one of: " + ", ".join(SEVERITIES))
        tactics = self.string_list(data, "tactics", (), self.check_tactic)
        techniques = self.string_list(data, "relevantTechniques", (), self.check_technique)
        connectors = self.connectors(data)
        exclusions = self.exclusions(data)
        tests = self.tests(data)
        fields = self.fields(data)
        options = self.options(data)
        return Rule(
            path=self.path,
            text=self.text,
            data=data,
            loaded=self.loaded,
            id=rule_id or "",
            name=name or "",
            description=description or "",
            query=query or "",
            version=version,
            severity=severity,
            tactics=tactics,
            relevant_techniques=techniques,
            required_data_connectors=connectors,
            exclusions=exclusions,
            tests=tests,
            fields=fields,
            options=options,
        )

    def check_tactic(self, value: str, path: KeyPath) -> None:
        if value not in SENTINEL_TACTICS:
            hint = did_you_mean(value.replace(" ", "").replace("-", ""), SENTINEL_TACTICS) or "Sentinel tactics: " + ", ".join(SENTINEL_TACTICS)
            self.error(path, f"unknown tactic '{value}'", hint)

    def check_technique(self, value: str, path: KeyPath) -> None:
        if not _TECHNIQUE.match(value):
            self.error(path, f"technique id '{value}' is not of the form T1234 or T1234.567")

    def connectors(self, data: dict) -> list[dict[str, Any]]:
        value = data.get("requiredDataConnectors", [])
        if not isinstance(value, list):
            self.error(("requiredDataConnectors",), "'requiredDataConnectors' must be a list")
            return []
        for i, connector in enumerate(value):
            path = ("requiredDataConnectors", i)
            if not isinstance(connector, dict):
                self.error(path, "each data connector must be a mapping with connectorId and dataTypes")
                continue
            self.unknown_keys(connector, ("connectorId", "dataTypes"), path, "data connector")
            self.string(connector, "connectorId", path, required=True)
            self.string_list(connector, "dataTypes", path)
        return value

    def exclusions(self, data: dict) -> list[Exclusion]:
        value = data.get("exclusions", [])
        if not isinstance(value, list):
            self.error(("exclusions",), "'exclusions' must be a list")
            return []
        result = []
        names: set[str] = set()
        for i, item in enumerate(value):
            path = ("exclusions", i)
            if not isinstance(item, dict):
                self.error(path, "each exclusion must be a mapping with name, description and filter")
                continue
            self.unknown_keys(item, EXCLUSION_KEYS, path, "exclusion")
            name = self.string(item, "name", path, required=True)
            description = self.string(item, "description", path, required=True)
            filter_text = self.string(item, "filter", path, required=True)
            enabled = item.get("enabled", True)
            if not isinstance(enabled, bool):
                self.error(path + ("enabled",), "'enabled' must be true or false")
                enabled = True
            reason = self.string(item, "reason", path)
            placeholders = self.placeholders(item, path)
            if name is not None and "," in name:
                self.error(path + ("name",), f"exclusion name '{name}' contains a comma",
                           "rulecast compile --exclusions separates names with commas")
            if name in names:
                self.error(path + ("name",), f"exclusion name '{name}' is used twice")
            names.add(name or "")
            if name is not None and description is not None and filter_text is not None:
                result.append(Exclusion(name, description, filter_text, enabled, reason, placeholders, i))
        return result

    def placeholders(self, item: dict, path: KeyPath) -> dict[str, str | None]:
        """`placeholders: {name: {description: ..., value: ...}}`; a null or empty value is unset."""
        value = item.get("placeholders", {})
        path = path + ("placeholders",)
        if not isinstance(value, dict):
            self.error(path, "'placeholders' must map placeholder names to {description, value}")
            return {}
        result: dict[str, str | None] = {}
        for name, spec in value.items():
            if not (isinstance(name, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)):
                self.error(path + (name,), f"placeholder name '{name}' is not an identifier", key=True)
                continue
            if not isinstance(spec, dict):
                self.error(path + (name,), f"placeholder '{name}' must be a mapping with description and value")
                continue
            self.unknown_keys(spec, PLACEHOLDER_KEYS, path + (name,), "placeholder")
            self.string(spec, "description", path + (name,), required=True)
            setting = spec.get("value")
            if setting is not None and not isinstance(setting, str):
                self.error(path + (name, "value"), f"the value of placeholder '{name}' must be a string or null",
                           f"quote it: value: \"{setting}\"")
                setting = None
            result[name] = setting or None
        return result

    def tests(self, data: dict) -> list[TestCase]:
        value = data.get("tests", [])
        if not isinstance(value, list):
            self.error(("tests",), "'tests' must be a list")
            return []
        result = []
        for i, item in enumerate(value):
            path = ("tests", i)
            if not isinstance(item, dict):
                self.error(path, "each test must be a mapping with name, input and expect")
                continue
            self.unknown_keys(item, TEST_KEYS, path, "test")
            name = self.string(item, "name", path, required=True)
            description = self.string(item, "description", path)
            inputs = item.get("input")
            if not isinstance(inputs, dict):
                self.error(path + ("input",), "'input' must map table names to a list of events or a file path")
                inputs = {}
            for table, events in inputs.items():
                if not isinstance(events, (list, str)):
                    self.error(path + ("input", table), f"input for '{table}' must be a list of events or a file path")
                elif isinstance(events, list):
                    for j, event in enumerate(events):
                        if not isinstance(event, dict):
                            self.error(path + ("input", table, j), "each event must be a mapping of column to value")
            expect = item.get("expect")
            if not isinstance(expect, dict):
                self.error(path + ("expect",), "'expect' must be a mapping with 'rows' or 'count'")
                expect = {}
            else:
                self.unknown_keys(expect, EXPECT_KEYS, path + ("expect",), "expect")
                if "rows" not in expect and "count" not in expect:
                    self.error(path + ("expect",), "'expect' needs 'rows' or 'count'")
                rows = expect.get("rows")
                if rows is not None and not (isinstance(rows, list) and all(isinstance(r, dict) for r in rows)):
                    self.error(path + ("expect", "rows"), "'rows' must be a list of mappings of column to value")
                count = expect.get("count")
                if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
                    self.error(path + ("expect", "count"), "'count' must be a non-negative integer")
            if name is not None:
                result.append(TestCase(name, description, inputs, expect, i))
        return result

    def fields(self, data: dict) -> dict[str, str]:
        value = data.get("fields", {})
        if not isinstance(value, dict):
            self.error(("fields",), "'fields' must map alias names to output column names")
            return {}
        for key, column in value.items():
            if not isinstance(column, str):
                self.error(("fields", key), f"field alias '{key}' must name a column (a string)")
        return {str(k): v for k, v in value.items() if isinstance(v, str)}

    def options(self, data: dict) -> dict[str, dict[str, Any]]:
        value = data.get("options", {})
        if not isinstance(value, dict):
            self.error(("options",), "'options' must map target names to their settings")
            return {}
        result = {}
        for target, settings in value.items():
            path = ("options", target)
            if target not in TARGET_NAMES:
                hint = did_you_mean(str(target), TARGET_NAMES) or "targets: " + ", ".join(TARGET_NAMES)
                self.error(path, f"unknown target '{target}' in options", hint, key=True)
                continue
            if not isinstance(settings, dict):
                self.error(path, f"options for '{target}' must be a mapping")
                continue
            allowed = _option_keys(target)
            if allowed is not None:
                self.unknown_keys(settings, allowed, path, f"{target} options")
            result[target] = settings
        return result


def _option_keys(target: str) -> tuple[str, ...] | None:
    """Return the option keys the target's backend accepts, or None when it declares none."""
    try:
        from backends import option_keys
    except ImportError:
        return None
    return option_keys(target)
