"""Run emitted KQL on events with duckdb-kql, a third-party KQL engine on DuckDB.

Events are loaded the way Kusto ingests them: every column of the table's
schema exists; a string column missing from an event holds the empty string
(KQL strings have no null), every other missing value is null; dynamic values
are stored as JSON. Results come back as plain Python values keyed by column
name, in the shapes `canonical` below defines, so that they compare directly
with the other targets' rows.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any, Iterable, Mapping, Sequence

import duckdb
import duckdb_kql

from translator.ir import Column
from translator.types import Type
from translator.values import TICKS_PER_SECOND, UNIX_EPOCH_TICKS, format_datetime, parse_datetime

_DUCK_TYPES = {
    Type.STRING: "VARCHAR",
    Type.DYNAMIC: "JSON",
    Type.DATETIME: "TIMESTAMP_NS",
    Type.LONG: "BIGINT",
    Type.INT: "INTEGER",
    Type.BOOL: "BOOLEAN",
    Type.REAL: "DOUBLE",
    Type.DECIMAL: "DOUBLE",
    Type.TIMESPAN: "INTERVAL",
    Type.GUID: "VARCHAR",
}

_EPOCH = dt.datetime(1970, 1, 1)


class Unsupported(Exception):
    """duckdb-kql rejected the query as outside what it implements."""


class EngineError(Unsupported):
    """duckdb-kql translated the query but DuckDB failed running it (e.g. a cast of mixed JSON values)."""


def connect(tables: Mapping[str, Sequence[Column]], events: Mapping[str, Iterable[Mapping[str, Any]]]):
    """Create an in-memory DuckDB with one table per schema, filled with `events`."""
    con = duckdb_kql.connect()
    for name, columns in tables.items():
        ddl = ", ".join(f'"{c.name}" {_DUCK_TYPES[c.type]}' for c in columns)
        con.sql(f'CREATE TABLE "{name}" ({ddl})')
        rows = [[_to_duck(event.get(c.name), c.type) for c in columns] for event in events.get(name, ())]
        if rows:
            marks = ", ".join("?" for _ in columns)
            con.executemany(f'INSERT INTO "{name}" VALUES ({marks})', rows)
    return con


def run(con, query: str, columns: Sequence[Column]) -> list[dict[str, Any]]:
    """Run `query` and return its rows as canonical values; raise `Unsupported` if the engine cannot."""
    try:
        relation = duckdb_kql.query(con, query)
    except duckdb_kql.KqlUnsupportedError as exc:
        raise Unsupported(str(exc)) from None
    except duckdb.Error as exc:
        raise EngineError(f"DuckDB error: {type(exc).__name__}") from None
    names = relation.columns
    types = {c.name: c.type for c in columns}
    # Python's datetime stops at microseconds; read timestamps as nanoseconds since the epoch instead.
    stamps = {n for n, t in zip(names, relation.dtypes) if str(t).upper().startswith("TIMESTAMP")}
    if stamps:
        relation = relation.project(", ".join(
            (f'epoch_ns({_quote(n)}) AS {_quote(n)}' if n in stamps else _quote(n)) for n in names))
    rows = []
    try:
        fetched = relation.fetchall()
    except duckdb.Error as exc:
        raise EngineError(f"DuckDB error: {type(exc).__name__}") from None
    for row in fetched:
        rows.append({
            name: (_ticks_from_ns(value) if name in stamps and types.get(name) is Type.DATETIME
                   else canonical(value, types.get(name, Type.DYNAMIC), from_duckdb=True))
            for name, value in zip(names, row)
        })
    return rows


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ticks_from_ns(value: Any) -> Any:
    return None if value is None else UNIX_EPOCH_TICKS + int(value) // 100


def _to_duck(value: Any, type_: Type) -> Any:
    if value is None:
        return "" if type_ is Type.STRING else None
    if type_ is Type.DYNAMIC:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if type_ is Type.DATETIME:
        # As text, so that DuckDB keeps all seven fractional digits (100 ns ticks) in TIMESTAMP_NS.
        ticks = parse_datetime(value) if isinstance(value, str) else int(value)
        return format_datetime(ticks).replace("T", " ").rstrip("Z")
    if type_ is Type.TIMESPAN:
        return dt.timedelta(microseconds=int(value) // 10)
    if type_ is Type.STRING and not isinstance(value, str):
        return json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return value


def canonical(value: Any, type_: Type, from_duckdb: bool = False) -> Any:
    """Normalise a result value of column type `type_` for comparison across targets.

    Strings are `str` ("" for null), numbers `int`/`float` (NaN as the string
    "NaN"), datetimes and timespans integer ticks, dynamic values parsed JSON.
    """
    if type_ is Type.STRING:
        return "" if value is None else str(value)
    if value is None:
        return None
    if type_ is Type.DYNAMIC:
        if from_duckdb and isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value
    if type_ is Type.DATETIME:
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
            delta = value - _EPOCH
            return UNIX_EPOCH_TICKS + (delta.days * 86_400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10
        if isinstance(value, str):
            return parse_datetime(value)
        return int(value)
    if type_ is Type.TIMESPAN:
        if isinstance(value, dt.timedelta):
            return (value.days * 86_400 + value.seconds) * TICKS_PER_SECOND + value.microseconds * 10
        return int(value)
    if type_ in (Type.REAL, Type.DECIMAL):
        value = float(value)
        return "NaN" if math.isnan(value) else value
    if type_ in (Type.LONG, Type.INT):
        return int(value)
    if type_ is Type.BOOL:
        return bool(value)
    return value
