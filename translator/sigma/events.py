"""Windows events exported from EVTX as JSON, flattened the way Sigma names their fields.

An exported record looks like `{"Event": {"System": {...}, "EventData": {...}}}`
(the shape of evtx_dump's JSON output). Sigma rules name EventData fields by
their own names and a few System fields by theirs (`EventID`, `Channel`,
`Computer`, `Provider_Name`). Attributes of a System element become
`<Element>_<Attribute>`, except `TimeCreated`, which is its `SystemTime`.
`flatten` produces that flat event; `coerce` then fits it to the column
types of a Sigma-native table (`backends/sigma/native.yaml`).
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from translator import ir
from translator.types import Type


def read_json_records(text: str) -> Iterator[Any]:
    """Yield the JSON values of a file holding one or more concatenated JSON documents."""
    decoder = json.JSONDecoder()
    index, size = 0, len(text)
    while True:
        while index < size and text[index].isspace():
            index += 1
        if index >= size:
            return
        value, index = decoder.raw_decode(text, index)
        if isinstance(value, list):
            yield from value
        else:
            yield value


def _text(value: Any) -> Any:
    if isinstance(value, dict) and "#text" in value:
        return value["#text"]
    return value


def flatten(record: dict) -> dict:
    """Flatten one exported EVTX record into Sigma's field names."""
    event = record.get("Event", record)
    flat: dict[str, Any] = {}
    system = event.get("System") or {}
    for key, value in system.items():
        if isinstance(value, dict):
            attributes = value.get("#attributes") or {}
            if key == "TimeCreated" and "SystemTime" in attributes:
                flat["TimeCreated"] = attributes["SystemTime"]
                continue
            for name, item in attributes.items():
                flat[f"{key}_{name}"] = item
            if "#text" in value:
                flat[key] = value["#text"]
        elif value is not None:
            flat[key] = value
    for section in ("EventData", "UserData"):
        data = event.get(section)
        if not isinstance(data, dict):
            continue
        if section == "UserData" and len(data) == 1 and isinstance(next(iter(data.values())), dict):
            data = next(iter(data.values()))
        items = data.get("Data") if "Data" in data and isinstance(data.get("Data"), list) else None
        if items is not None:
            for item in items:
                if isinstance(item, dict) and "#attributes" in item:
                    flat[item["#attributes"].get("Name", "Data")] = _text(item)
            continue
        for key, value in data.items():
            if key != "#attributes":
                flat[key] = _text(value)
    return flat


def coerce(event: dict, columns: tuple[ir.Column, ...]) -> dict:
    """Fit a flat event to a table's column types: text for strings, integers for longs."""
    types = {c.name: c.type for c in columns}
    out: dict[str, Any] = {}
    for key, value in event.items():
        wanted = types.get(key)
        if value is None or wanted is None or wanted is Type.DYNAMIC:
            out[key] = value
        elif wanted is Type.STRING and isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif wanted is Type.STRING and isinstance(value, (dict, list)):
            out[key] = json.dumps(value)
        elif wanted is Type.STRING and not isinstance(value, str):
            out[key] = str(value)
        elif wanted in (Type.LONG, Type.INT) and isinstance(value, str):
            text = value.strip()
            try:
                out[key] = int(text, 16) if text.lower().startswith("0x") else int(text)
            except ValueError:
                out[key] = None
        else:
            out[key] = value
    return out
