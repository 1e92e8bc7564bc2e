"""Sigma log source and field mappings, one YAML file per target in `backends/sigma/`.

A mapping defines, for one target, which table a Sigma log source reads and
which column (or expression over columns) each Sigma field becomes. Tables
come from the platform's schema catalog (`defender`, `sentinel`) or from the
Sigma-native tables in `backends/sigma/native.yaml` (`native`), where events
keep the field names the log source writes.

Nothing here guesses: a log source without an entry, or a field without a
mapping, is a `Refusal` naming it, so that a rule is refused for that target
instead of compiling to a query that silently drops a condition.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from translator import ir
from translator.types import Type, type_from_name

MAPPING_DIR = Path(__file__).resolve().parent.parent.parent / "backends" / "sigma"

SIGMA_TARGETS = ("sentinel", "defender", "splunk", "python")


class Refusal(Exception):
    """A rule cannot be compiled for a target; `kind` groups refusals in reports."""

    def __init__(self, message: str, kind: str, hint: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.hint = hint
        self.field = field


class MappingError(Exception):
    """A mapping file itself is invalid."""


@dataclass(frozen=True)
class FieldSpec:
    """The reading of one Sigma field in a target: a column, or text built from columns."""

    column: str | None = None
    concat: tuple[str, ...] = ()  # items: "$Column" or literal text
    join: tuple[str, ...] = ()  # "$A", "$B": A, or A + separator + B when B is not empty
    separator: str = "\\"
    values: dict[str, Any] | None = None  # exact-value translation table
    prefixes: dict[str, str] | None = None  # value-start rewrites (case-insensitive)
    dword: str | None = None  # value-type column for Sysmon's `DWORD (0x...)` spelling
    hashes: dict[str, str] | None = None  # Sysmon `Hashes` algorithm -> column
    json: tuple[str, ...] = ()  # "$Column", "Key": the text of a key of the JSON object in Column
    prepend: str | None = None  # text the target writes before every value of the Sigma field


@dataclass(frozen=True)
class LogSourceEntry:
    product: str | None
    category: str | None
    service: str | None
    table: str
    where: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    search: tuple[str, ...] = ()

    def describe(self) -> str:
        return describe_logsource(self.product, self.category, self.service)


def describe_logsource(product: str | None, category: str | None, service: str | None) -> str:
    parts = [f"{key}: {value}" for key, value in (("product", product), ("category", category), ("service", service)) if value]
    return "{" + ", ".join(parts) + "}" if parts else "{}"


@dataclass(frozen=True)
class NativeTable:
    name: str
    description: str
    columns: tuple[ir.Column, ...]
    open: bool = False


@dataclass(frozen=True)
class Mapping:
    target: str
    catalog: str  # "defender", "sentinel" or "native"
    identity: bool  # Sigma field names are column names (after `rename`)
    rename: dict[str, str]
    logsources: tuple[LogSourceEntry, ...]
    path: str

    def logsource(self, product: str | None, category: str | None, service: str | None) -> LogSourceEntry:
        for entry in self.logsources:
            if (entry.product, entry.category, entry.service) == (product, category, service):
                return entry
        raise Refusal(
            f"log source {describe_logsource(product, category, service)} has no {self.target} mapping",
            "unmapped log source",
            f"log sources are mapped in {_display(self.path)}",
        )

    def table(self, entry: LogSourceEntry) -> NativeTable:
        """Return the columns of the table a log source reads."""
        if self.catalog == "native":
            tables = native_tables()
            if entry.table not in tables:
                raise MappingError(f"{self.path}: unknown native table '{entry.table}'")
            table = tables[entry.table]
            if self.rename:
                columns = tuple(ir.Column(self.rename.get(c.name, c.name), c.type) for c in table.columns)
                table = NativeTable(table.name, table.description, columns, table.open)
            return table
        from translator.schema import load_catalog

        catalog = load_catalog(self.catalog)
        if entry.table not in catalog.tables:
            raise MappingError(f"{self.path}: table '{entry.table}' is not in the {self.catalog} schemas")
        return NativeTable(entry.table, "", catalog.tables[entry.table])

    def field(self, entry: LogSourceEntry, name: str) -> FieldSpec:
        spec = entry.fields.get(name)
        if spec is not None:
            return spec
        if self.identity:
            return FieldSpec(column=self.rename.get(name, name))
        raise Refusal(
            f"field '{name}' of log source {entry.describe()} has no {self.target} mapping",
            "unmapped field",
            f"fields are mapped in {_display(self.path)}",
            field=name,
        )


def _display(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(MAPPING_DIR.parent.parent))
    except ValueError:
        return path


def _load_yaml(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        raise MappingError(f"cannot read mapping file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"invalid mapping file {path}: {exc}") from None


@functools.lru_cache(maxsize=None)
def native_tables() -> dict[str, NativeTable]:
    path = MAPPING_DIR / "native.yaml"
    data = _load_yaml(path)
    groups = data.get("groups", {})
    tables: dict[str, NativeTable] = {}
    for name, spec in data["tables"].items():
        columns: dict[str, Type] = {}
        for group in spec.get("include", ()):
            for column, type_name in groups[group].items():
                columns[column] = type_from_name(type_name)
        for column, type_name in (spec.get("columns") or {}).items():
            columns[column] = type_from_name(type_name)
        tables[name] = NativeTable(
            name, spec.get("description", ""), tuple(ir.Column(c, t) for c, t in columns.items()), bool(spec.get("open"))
        )
    return tables


def _field_spec(value: Any, path: Path, name: str) -> FieldSpec:
    if isinstance(value, str):
        return FieldSpec(column=value)
    if not isinstance(value, dict):
        raise MappingError(f"{path}: field '{name}' must map to a column name or a mapping")
    known = {"column", "concat", "join", "separator", "values", "prefixes", "dword", "hashes", "json", "prepend"}
    unknown = set(value) - known
    if unknown:
        raise MappingError(f"{path}: field '{name}' has unknown keys: {', '.join(sorted(unknown))}")
    return FieldSpec(
        column=value.get("column"),
        concat=tuple(value.get("concat", ())),
        join=tuple(value.get("join", ())),
        separator=value.get("separator", "\\"),
        values=value.get("values"),
        prefixes=value.get("prefixes"),
        dword=value.get("dword"),
        hashes=value.get("hashes"),
        json=_json_spec(value.get("json"), path, name),
        prepend=value.get("prepend"),
    )


def _json_spec(value: Any, path: Path, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if (not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, str) for v in value)
            or not value[0].startswith("$")):
        raise MappingError(f"{path}: field '{name}': 'json' must be ['$Column', 'Key']")
    return tuple(value)


@functools.lru_cache(maxsize=None)
def load_mapping(target: str, path: str | None = None) -> Mapping:
    """Load the mapping for `target` (from `path`, or the shipped file)."""
    file = Path(path) if path else MAPPING_DIR / f"{target}.yaml"
    data = _load_yaml(file)
    if not isinstance(data, dict):
        raise MappingError(f"{file}: a mapping file must be a YAML mapping")
    if "inherit" in data:
        base = load_mapping(data["inherit"])
        return Mapping(target, data.get("catalog", base.catalog), base.identity, base.rename, base.logsources, str(file))
    catalog = data.get("catalog")
    if catalog not in ("defender", "sentinel", "native"):
        raise MappingError(f"{file}: 'catalog' must be defender, sentinel or native")
    entries = []
    for item in data.get("logsources", ()):
        match = item.get("match") or {}
        fields = {name: _field_spec(spec, file, name) for name, spec in (item.get("fields") or {}).items()}
        search = item.get("search", ())
        entries.append(
            LogSourceEntry(
                match.get("product"), match.get("category"), match.get("service"), item["table"],
                dict(item.get("where") or {}), fields, tuple(search) if isinstance(search, list) else (search,),
            )
        )
    return Mapping(
        target, catalog, data.get("fields") == "identity", dict(data.get("rename") or {}), tuple(entries), str(file)
    )
