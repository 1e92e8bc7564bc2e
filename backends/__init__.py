"""Target backends: one generator per target, registered by name.

A target module defines `TARGETS`, a mapping from target name to an object
with:

- `name`, `formats` (the first is the default) and `option_keys` (the keys
  the rule's `options.<target>` mapping may use);
- `platform`: the catalog the rule is resolved against (`defender` or
  `sentinel`);
- `compile(analysis, fmt, settings) -> list[Artifact]`, raising
  `RulecastError` for rules the target cannot express.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

# Target name -> module that defines it, in the order `--target all` uses.
TARGET_MODULES = {
    "sentinel": "backends.kql_target",
    "defender": "backends.kql_target",
    "splunk": "backends.splunk",
    "python": "backends.python",
}


@dataclass(frozen=True)
class Artifact:
    """One compiled output: its text and the file extension it is written with."""

    text: str
    extension: str
    format: str
    stem: str | None = None  # the file name without extension, when not the rule file's own


@dataclass
class CompileSettings:
    """Choices from the command line that apply across targets."""

    exclusions: str = "all"  # "all", "none", or comma-separated exclusion names
    splunk_mapping: str | None = None
    splunk_join: str = "join"
    extra: dict[str, Any] = field(default_factory=dict)


def get_target(name: str):
    """Return the target object for `name`; raise KeyError if no module provides it."""
    module_name = TARGET_MODULES.get(name)
    if module_name is None:
        raise KeyError(name)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise KeyError(name) from None
        raise
    return module.TARGETS[name]


def available_targets() -> list[str]:
    """Return the names of the targets whose modules are installed."""
    names = []
    for name in TARGET_MODULES:
        try:
            get_target(name)
        except KeyError:
            continue
        names.append(name)
    return names


def option_keys(target: str) -> tuple[str, ...] | None:
    try:
        return tuple(get_target(target).option_keys)
    except KeyError:
        return None
