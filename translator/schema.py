"""Table schemas shipped with the package, grouped into one catalog per platform.

Each `schemas/<Table>.json` holds the Defender XDR Advanced Hunting columns at
the top level and the Microsoft Sentinel (Log Analytics) columns under
`sentinel`, with the documents they were taken from under `source`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from translator.ir import Column
from translator.types import type_from_name

SCHEMA_DIR = Path(__file__).with_name("schemas")

PLATFORMS = ("defender", "sentinel")


@dataclass(frozen=True)
class Catalog:
    """The tables one platform has, and the column spellings it substitutes.

    `aliases` maps a column name a rule may write to the name the platform
    uses, such as `Timestamp` to `TimeGenerated` in Sentinel; an alias applies
    only where the rule's name is not itself a column.
    """

    platform: str
    tables: dict[str, tuple[Column, ...]]
    aliases: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


@functools.lru_cache(maxsize=None)
def load_catalog(platform: str = "defender") -> Catalog:
    """Load the catalog for `defender` (Advanced Hunting) or `sentinel` (Log Analytics)."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform '{platform}'; expected one of {', '.join(PLATFORMS)}")
    tables: dict[str, tuple[Column, ...]] = {}
    sources: dict[str, str] = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        section = document if platform == "defender" else document.get("sentinel")
        if not section:
            continue
        tables[document["name"]] = tuple(Column(c["name"], type_from_name(c["type"])) for c in section["columns"])
        sources[document["name"]] = section.get("source", document.get("source", ""))
    aliases = {"Timestamp": "TimeGenerated"} if platform == "sentinel" else {}
    return Catalog(platform, tables, aliases, sources)
