"""`rulecast debug`: dump the intermediate stages of the compiler."""

from __future__ import annotations

import sys

from translator.diagnostics import RulecastError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("debug", help="print a compiler stage (ir, ast)")
    stages = parser.add_subparsers(dest="stage", metavar="STAGE")
    stages.required = True
    ir_parser = stages.add_parser("ir", help="print the resolved IR with output columns and types")
    ir_parser.add_argument("rule", metavar="RULE")
    ir_parser.add_argument(
        "--platform",
        choices=("defender", "sentinel"),
        default="defender",
        help="table schemas to resolve against (default: defender, the Advanced Hunting schemas)",
    )
    ir_parser.set_defaults(func=run_ir)
    ast_parser = stages.add_parser("ast", help="print the parsed syntax tree")
    ast_parser.add_argument("rule", metavar="RULE")
    ast_parser.set_defaults(func=run_ast)


def run_ir(args) -> int:
    from translator.commands.paths import require_file
    from translator.compiler import analyze
    from translator.irdump import columns_table, dump
    from translator.rule import load_rule

    if not require_file(args.rule):
        return 2
    try:
        analysis = analyze(load_rule(args.rule), args.platform)
    except RulecastError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    for warning in analysis.warnings:
        print(warning.render(), file=sys.stderr)
    print(dump(analysis.node))
    print()
    print(f"output columns ({len(analysis.columns)}):")
    print(columns_table(analysis.columns))
    return 0


def run_ast(args) -> int:
    from translator.commands.paths import require_file
    from translator.compiler import parse
    from translator.rule import load_rule

    if not require_file(args.rule):
        return 2
    try:
        query = parse(load_rule(args.rule))
    except RulecastError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    print(query)
    return 0
