"""The Splunk data mapping: where each table's events are and how their fields are named.

The shipped mapping is `splunk_mapping.yaml` beside this module; a user's
file given with `--splunk-mapping FILE` replaces it. Loading checks every key
and value and reports problems as positioned diagnostics, like a rule file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from translator.diagnostics import Diagnostic, Location, RulecastError, did_you_mean
from translator.yamlload import LoadedYaml, YamlError, load

DEFAULT_PATH = Path(__file__).with_name("splunk_mapping.yaml")

_MACRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A base search is a list of `field=value` or `field="value"` terms: they only
# select events, so the generated SPL can treat them as an over-matching prefilter.
_SEARCH_TERM = re.compile(r'([A-Za-z_][A-Za-z0-9_.:]*)=("(?:[^"\\]|\\.)*"|[^\s"()=]+)')
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.{}]*$")

TABLE_KEYS = ("macro", "search", "field_prefix", "columns")
TOP_KEYS = ("default", "tables")


@dataclass(frozen=True)
class TableMapping:
    table: str
    macro: str
    search: str
    field_prefix: str
    columns: dict[str, str] = field(default_factory=dict)

    def field(self, column: str) -> str:
        """Return the event field that holds `column`."""
        return self.columns.get(column, self.field_prefix + column)

    def search_terms(self) -> list[tuple[str, str]]:
        """Return the base search as (field, value) pairs, values unquoted."""
        return [(name, _unquote(value)) for name, value in _SEARCH_TERM.findall(self.search)]


@dataclass(frozen=True)
class Mapping:
    path: str
    default: dict[str, str]
    tables: dict[str, TableMapping]

    def table(self, name: str) -> TableMapping:
        if name in self.tables:
            return self.tables[name]
        fill = {"table": name, "table_lower": name.lower()}
        return TableMapping(
            name,
            self.default["macro"].format(**fill),
            self.default["search"].format(**fill),
            self.default["field_prefix"],
        )


def _unquote(value: str) -> str:
    if value.startswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def load_mapping(path: str | Path | None = None) -> Mapping:
    """Load and check a mapping file (the shipped one when `path` is None)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "file is not valid UTF-8"
        raise RulecastError(Diagnostic("error", f"cannot read Splunk mapping: {reason}", Location(str(path), 0, 0))) from None
    return parse_mapping(text, str(path))


def parse_mapping(text: str, path: str = "<mapping>") -> Mapping:
    lines = text.splitlines()
    try:
        loaded = load(text)
    except YamlError as exc:
        mark = exc.mark
        location = Location(path, mark.line, mark.column, _line(lines, mark.line)) if mark else Location(path, 0, 0)
        raise RulecastError(Diagnostic("error", exc.message, location, exc.hint)) from None
    checker = _Checker(path, lines, loaded)
    mapping = checker.check()
    if checker.errors:
        raise RulecastError(checker.errors)
    return mapping


def _line(lines: list[str], number: int) -> str | None:
    return lines[number - 1] if 0 < number <= len(lines) else None


class _Checker:
    def __init__(self, path: str, lines: list[str], loaded: LoadedYaml):
        self.path = path
        self.lines = lines
        self.loaded = loaded
        self.errors: list[Diagnostic] = []

    def error(self, key_path: tuple, message: str, hint: str | None = None, key: bool = False) -> None:
        marks = self.loaded.key_marks if key else self.loaded.value_marks
        mark = marks.get(key_path)
        while mark is None and key_path:
            key_path = key_path[:-1]
            mark = self.loaded.value_marks.get(key_path)
        location = (Location(self.path, mark.line, mark.column, _line(self.lines, mark.line))
                    if mark else Location(self.path, 1, 1, _line(self.lines, 1)))
        self.errors.append(Diagnostic("error", message, location, hint))

    def check(self) -> Mapping:
        data = self.loaded.value
        if not isinstance(data, dict):
            self.error((), "a Splunk mapping must be a YAML mapping with 'default' and 'tables'")
            return Mapping(self.path, {}, {})
        for key in data:
            if key not in TOP_KEYS:
                self.error((key,), f"unknown key '{key}' in Splunk mapping",
                           did_you_mean(str(key), TOP_KEYS) or "allowed keys: " + ", ".join(TOP_KEYS), key=True)
        default = self.entry(data.get("default"), ("default",), templated=True)
        if "default" not in data:
            self.error((), "missing required key 'default'")
        tables: dict[str, TableMapping] = {}
        raw_tables = data.get("tables", {})
        if not isinstance(raw_tables, dict):
            self.error(("tables",), "'tables' must map table names to their mapping")
            raw_tables = {}
        for name, entry in raw_tables.items():
            checked = self.entry(entry, ("tables", name), templated=False)
            if checked is not None:
                columns = checked.pop("columns", {})
                tables[str(name)] = TableMapping(str(name), columns=columns, **checked)
        return Mapping(self.path, default or {}, tables)

    def entry(self, entry, key_path: tuple, templated: bool) -> dict | None:
        if not isinstance(entry, dict):
            if entry is not None:
                self.error(key_path, "a table mapping must be a mapping with macro, search and field_prefix")
            return None
        allowed = TABLE_KEYS if not templated else TABLE_KEYS[:3]
        for key in entry:
            if key not in allowed:
                self.error(key_path + (key,), f"unknown key '{key}' in table mapping",
                           did_you_mean(str(key), allowed) or "allowed keys: " + ", ".join(allowed), key=True)
        result: dict = {}
        for key in ("macro", "search", "field_prefix"):
            value = entry.get(key)
            if key not in entry:
                self.error(key_path, f"missing required key '{key}'")
                continue
            if not isinstance(value, str):
                self.error(key_path + (key,), f"'{key}' must be a string")
                continue
            result[key] = value
        fill = {"table": "Table", "table_lower": "table"}
        macro = result.get("macro")
        if macro is not None:
            shown = macro.format(**fill) if templated else macro
            if not _MACRO_NAME.match(shown):
                self.error(key_path + ("macro",), f"macro name '{macro}' must be letters, digits and underscores")
        search = result.get("search")
        if search is not None:
            shown = search.format(**fill) if templated else search
            leftover = _SEARCH_TERM.sub("", shown).strip()
            if leftover or not shown.strip():
                self.error(key_path + ("search",), f"base search '{search}' must be field=value terms only",
                           'e.g. sourcetype="mscs:azure:eventhub" category="AdvancedHunting-EmailEvents"')
        prefix = result.get("field_prefix")
        if prefix is not None and prefix and not _FIELD_NAME.match(prefix + "x"):
            self.error(key_path + ("field_prefix",), f"field prefix '{prefix}' is not a valid field name prefix")
        if not templated:
            columns = entry.get("columns", {})
            if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
                self.error(key_path + ("columns",), "'columns' must map column names to event field names")
                columns = {}
            for column, name in columns.items():
                if not _FIELD_NAME.match(name):
                    self.error(key_path + ("columns", column), f"field name '{name}' is not a valid Splunk field name")
            result["columns"] = {str(k): v for k, v in columns.items()}
        return result
