"""The `rulecast` command: parses arguments and dispatches to `translator.commands`.

Exit status: 0 when all is well, 1 when a rule is invalid or a test fails,
2 for usage errors. Errors print as `file:line:col: error: message` lines on
stderr; no traceback reaches the user unless RULECAST_DEBUG is set.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from translator.commands import COMMANDS

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rulecast",
        description="Compile detection rules to KQL (Sentinel, Defender XDR), Splunk SPL and Python.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"translator.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"translator.commands.{name}":
                continue  # a command whose module is not installed
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except KeyboardInterrupt:
        print("rulecast: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (e.g. `| head`); nothing more to print.
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the CLI must never show a traceback
        if os.environ.get("RULECAST_DEBUG"):
            raise
        print(f"rulecast: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("rulecast: this is a bug in rulecast; rerun with RULECAST_DEBUG=1 for a traceback", file=sys.stderr)
        return EXIT_INVALID
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
