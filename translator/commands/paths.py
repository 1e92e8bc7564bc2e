"""Path arguments: folders expanded into rule files, and a missing path reported as a usage error.

A path that does not exist is a usage error (exit status 2) in every
command. The commands that take several paths report each missing one and
go on with the others, so one mistyped name does not hide the results of
the rest.
"""

from __future__ import annotations

import sys
from pathlib import Path

EXIT_INVALID = 1
EXIT_USAGE = 2


def report_missing(path: str | Path, kind: str = "file or folder") -> None:
    """Print the usage error for a path argument that does not exist."""
    print(f"rulecast: error: {path}: {kind} not found", file=sys.stderr)


def expand(paths) -> tuple[list[Path], bool]:
    """Return the rule files under `paths` and whether any path was missing, reporting each missing one."""
    from translator.compiler import rule_files

    found: list[Path] = []
    missing = False
    for path in paths:
        if not Path(path).exists():
            report_missing(path)
            missing = True
            continue
        found.extend(rule_files([path]))
    return found, missing


def require_file(path: str | Path) -> bool:
    """Return whether the single file argument `path` exists, reporting it when not."""
    if Path(path).exists():
        return True
    report_missing(path, "file")
    return False


def exit_status(missing: bool, failed: int) -> int:
    """Return the exit status of a command over several paths: a missing path outranks an invalid rule."""
    if missing:
        return EXIT_USAGE
    if failed:
        return EXIT_INVALID
    return 0
