"""`rulecast targets`: list the installed targets and their formats."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("targets", help="list targets and their output formats")
    parser.set_defaults(func=run)


def run(args) -> int:
    from backends import available_targets, get_target

    for name in available_targets():
        target = get_target(name)
        print(f"{name:<10} formats: {', '.join(target.formats)} (default {target.formats[0]})")
    return 0
