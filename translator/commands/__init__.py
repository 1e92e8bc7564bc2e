"""Subcommands of the `rulecast` CLI, one module each.

Each module defines `add_parser(subparsers)`, which registers its subcommand
and sets `func` to a function taking the parsed arguments and returning the
exit status. `translator.cli` imports the modules listed in `COMMANDS`.
"""

COMMANDS = ("check", "compile", "run", "test", "debug", "import_", "targets", "sample")
