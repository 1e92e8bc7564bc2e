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
import threading

from translator.commands import COMMANDS

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

# The parser, the resolver and the backends recurse up to about five frames
# per level of nesting in a query, which `translator.parser.MAX_DEPTH` and
# `translator.compiler.MAX_IR_DEPTH` bound. Commands run on a thread with this
# recursion limit and stack, so that a query at those limits compiles for
# every target. Measured once on CPython 3.11 (x86-64 Linux): queries 1000
# levels deep (nested and/or, calls, arithmetic, joins) compiled for every
# target with a recursion limit of 5000 and a 16 MiB stack. A pipeline of
# 1990 operators compiled with a limit of 20,000. Only the stack pages in use
# are committed, so the large reservation costs little memory.
RECURSION_LIMIT = 20_000
STACK_BYTES = 256 * 1024 * 1024


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
        status = call_with_deep_stack(args.func, args)
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


def call_with_deep_stack(func, *args):
    """Call `func(*args)` on a thread with `STACK_BYTES` of stack and `RECURSION_LIMIT`; return or raise its outcome."""
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["value"] = func(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
            outcome["error"] = exc

    try:
        previous_stack = threading.stack_size(STACK_BYTES)
    except (ValueError, RuntimeError):
        # The platform cannot size thread stacks: run here, with the default stack and recursion limit.
        return func(*args)
    # A daemon thread, so that an interrupt on the main thread ends the process.
    worker = threading.Thread(target=work, name="rulecast-command", daemon=True)
    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous_limit, RECURSION_LIMIT))
    try:
        try:
            worker.start()
        finally:
            threading.stack_size(previous_stack)
        worker.join()
    finally:
        sys.setrecursionlimit(previous_limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


if __name__ == "__main__":
    sys.exit(main())
