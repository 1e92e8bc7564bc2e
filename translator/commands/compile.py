"""`rulecast compile`: compile rules for one target or all of them."""

from __future__ import annotations

import sys
from pathlib import Path

from translator.commands import exclusion_option
from translator.diagnostics import Diagnostic, RulecastError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("compile", help="compile rules to KQL, SPL or Python")
    parser.add_argument("paths", nargs="+", metavar="RULE_OR_DIR", help="rule files or folders of rule files")
    parser.add_argument(
        "-t", "--target", required=True,
        help="sentinel, defender, splunk, python, or all (every installed target)",
    )
    parser.add_argument("-f", "--format", default=None, help="output format; each target lists its own (default: query)")
    parser.add_argument("-o", "--output", metavar="DIR", help="write one file per rule, target and format under DIR")
    exclusion_option.add_argument(parser)
    parser.add_argument("--splunk-mapping", metavar="FILE", help="Splunk data mapping YAML (default: the shipped one)")
    parser.add_argument(
        "--splunk-join", choices=("join", "stats"), default="join",
        help="how Splunk output joins tables: the join command, or a stats-based join (see docs/targets.md)",
    )
    from translator.sigma.cli import add_arguments

    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from backends import CompileSettings, available_targets, get_target
    from translator.commands import sigma_support
    from translator.commands.paths import exit_status, expand
    from translator.compiler import analyze
    from translator.exclusions import apply_exclusions
    from translator.rule import load_rule

    installed = available_targets()
    if args.target == "all":
        targets = installed
    elif args.target in installed:
        targets = [args.target]
    else:
        print(f"rulecast: error: unknown target '{args.target}'; available: {', '.join(installed + ['all'])}", file=sys.stderr)
        return 2
    if args.format is not None and args.target == "all":
        print("rulecast: error: --format needs a single --target", file=sys.stderr)
        return 2
    if args.format is not None:
        formats = get_target(targets[0]).formats
        if args.format not in formats:
            print(f"rulecast: error: target '{targets[0]}' has no format '{args.format}'; formats: {', '.join(formats)}",
                  file=sys.stderr)
            return 2
    status = exclusion_option.selection_error(args.exclusions)
    if status is not None:
        return status
    settings = CompileSettings(exclusions=args.exclusions, splunk_mapping=args.splunk_mapping, splunk_join=args.splunk_join)
    failed = 0
    outputs: list[tuple[Path, str, str]] = []
    loaded_rules = []
    paths, missing = expand(args.paths)
    if not paths:
        if not missing:
            print("rulecast: error: no rule files found (looked for *.yaml and *.yml)", file=sys.stderr)
        return 2
    sigma_paths = set(_sigma_paths(paths))
    per_file: dict = {}
    if sigma_paths and not sigma_support.pysigma_installed():
        sigma_support.report_missing(p for p in paths if p in sigma_paths)
        failed += len(sigma_paths)
    elif sigma_paths:
        from translator.sigma.cli import compile_documents, load_set

        try:
            sigma_set, per_file, failures = load_set([p for p in paths if p in sigma_paths], args)
        except RulecastError as exc:
            print(exc.render(), file=sys.stderr)
            return 2
        for failure in failures:
            print(failure.render(), file=sys.stderr)
        failed += len(failures)
    for path in paths:
        if path in sigma_paths:
            if path in per_file:
                sigma_outputs, sigma_failed = compile_documents(path, per_file[path], targets, args.format, settings,
                                                                sigma_set)
                outputs.extend(sigma_outputs)
                failed += sigma_failed
            continue
        try:
            rule = load_rule(path)
        except RulecastError as exc:
            print(exc.render(), file=sys.stderr)
            failed += 1
            continue
        loaded_rules.append(rule)
        if len(paths) == 1:
            status = exclusion_option.selection_error(settings.exclusions, [rule])
            if status is not None:
                return status
        for name in targets:
            target = get_target(name)
            fmt = args.format or target.formats[0]
            try:
                analysis = analyze(rule, target.platform)
                analysis.node = apply_exclusions(analysis, settings.exclusions)
                for warning in analysis.warnings:
                    print(warning.render(), file=sys.stderr)
                artifacts = target.compile(analysis, fmt, settings)
            except RulecastError as exc:
                print(_with_target(exc, name).render(), file=sys.stderr)
                failed += 1
                continue
            for artifact in artifacts:
                outputs.append((Path(path), name, artifact))
    if len(paths) > 1:
        # With several rules a name needs to exist in one of them, not in each.
        status = exclusion_option.selection_error(settings.exclusions, loaded_rules)
        if status is not None:
            return status
    _emit(outputs, args.output)
    return exit_status(missing, failed)


def _sigma_paths(paths: list[Path]) -> list[Path]:
    """Return the files among `paths` that contain Sigma rules rather than rulecast rules."""
    from translator.sigma.rules import is_sigma_file

    return [Path(p) for p in paths if is_sigma_file(p)]


def _with_target(exc: RulecastError, target: str) -> RulecastError:
    """Prefix each message with the target, so that `--target all` says which one failed."""
    return RulecastError(
        [Diagnostic(d.severity, d.message if d.message.startswith(f"{target}:") else f"{target}: {d.message}",
                    d.location, d.hint) for d in exc.diagnostics]
    )


def _emit(outputs, directory: str | None) -> None:
    if directory is None:
        for index, (path, target, artifact) in enumerate(outputs):
            if len(outputs) > 1:
                if index:
                    sys.stdout.write("\n")
                sys.stdout.write(f"==> {path} [{target} {artifact.format}] <==\n")
            sys.stdout.write(artifact.text)
        return
    root = Path(directory)
    for path, target, artifact in outputs:
        out = root / target / f"{artifact.stem or path.stem}.{artifact.extension}"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(artifact.text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
