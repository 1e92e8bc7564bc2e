"""`rulecast check`: validate rule files without compiling them."""

from __future__ import annotations

import sys

from translator.diagnostics import RulecastError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("check", help="validate rule files and their queries")
    parser.add_argument("paths", nargs="+", metavar="RULE_OR_DIR", help="rule files or folders of rule files")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors and warnings")
    parser.set_defaults(func=run)


def run(args) -> int:
    from translator.compiler import analyze, rule_files
    from translator.rule import load_rule

    checked = failed = 0
    for path in rule_files(args.paths):
        checked += 1
        try:
            rule = load_rule(path)
            analysis = analyze(rule)
        except RulecastError as exc:
            failed += 1
            print(exc.render(), file=sys.stderr)
            continue
        for warning in analysis.warnings + check_extensions(analysis):
            print(warning.render(), file=sys.stderr)
        if not args.quiet:
            print(f"{path}: ok ({len(analysis.columns)} output columns)")
    if checked == 0:
        print("rulecast: error: no rule files found (looked for *.yaml and *.yml)", file=sys.stderr)
        return 2
    summary = f"{checked} rule{'s' if checked != 1 else ''} checked, {failed} invalid"
    print(summary, file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0


def check_extensions(analysis) -> list:
    """Run the checks that later stages add (exclusions, target options); return their warnings."""
    return []
