"""`rulecast check`: validate rule files without compiling them."""

from __future__ import annotations

import sys

from translator.diagnostics import RulecastError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("check", help="validate rule files and their queries")
    parser.add_argument("paths", nargs="+", metavar="RULE_OR_DIR", help="rule files or folders of rule files")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors and warnings")
    from translator.sigma.cli import add_arguments

    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from translator.commands.paths import exit_status, expand
    from translator.compiler import analyze
    from translator.exclusions import describe_exclusions
    from translator.rule import load_rule

    checked = failed = 0
    paths, missing = expand(args.paths)
    sigma = _check_sigma(paths, args)
    for path in paths:
        checked += 1
        if path in sigma:
            failed += sigma[path]
            continue
        try:
            rule = load_rule(path)
            analysis = analyze(rule)
            exclusion_lines = describe_exclusions(analysis)
            check_packaging(analysis)
        except RulecastError as exc:
            failed += 1
            print(exc.render(), file=sys.stderr)
            continue
        for warning in analysis.warnings + check_extensions(analysis):
            print(warning.render(), file=sys.stderr)
        if not args.quiet:
            print(f"{path}: ok ({len(analysis.columns)} output columns)")
            for line in exclusion_lines:
                print(line)
    if checked == 0:
        if not missing:
            print("rulecast: error: no rule files found (looked for *.yaml and *.yml)", file=sys.stderr)
        return 2
    summary = f"{checked} rule{'s' if checked != 1 else ''} checked, {failed} invalid"
    print(summary, file=sys.stderr if failed else sys.stdout)
    return exit_status(missing, failed)


def _check_sigma(paths, args) -> dict:
    """Check the Sigma files among `paths`; return path -> number of invalid rules.

    A Sigma rule is valid when it compiles for at least one target; the
    targets that refuse it are listed as warnings with their reasons.
    """
    from backends import available_targets, get_target
    from translator.commands.sigma_support import pysigma_installed
    from translator.commands.sigma_support import report_missing as report_sigma_missing
    from translator.sigma.cli import load_set
    from translator.sigma.rules import analysis_for, is_sigma_file

    sigma_paths = [p for p in paths if is_sigma_file(p)]
    if not sigma_paths:
        return {}
    if not pysigma_installed():
        report_sigma_missing(sigma_paths)
        return {p: 1 for p in sigma_paths}
    try:
        sigma_set, per_file, failures = load_set(sigma_paths, args)
    except RulecastError as exc:
        print(exc.render(), file=sys.stderr)
        return {p: 1 for p in sigma_paths}
    for failure in failures:
        print(failure.render(), file=sys.stderr)
    result = {p: (0 if p in per_file else 1) for p in sigma_paths}
    targets = available_targets()
    for path, documents in per_file.items():
        for document in documents:
            if document.kind == "filter":
                continue
            compiled, refusals = [], []
            for name in targets:
                try:
                    analysis_for(document, name, get_target(name).platform, sigma_set)
                    compiled.append(name)
                except RulecastError as exc:
                    refusals.append((name, exc))
            if not compiled:
                result[path] += 1
                for name, exc in refusals:
                    print(exc.diagnostics[0].render().replace(": error: ", f": error: {name}: ", 1), file=sys.stderr)
                continue
            for name, exc in refusals:
                print(exc.diagnostics[0].render().replace(": error: ", f": warning: {name}: ", 1), file=sys.stderr)
            if not args.quiet:
                print(f"{path}: ok: Sigma rule '{document.title}' compiles for {', '.join(compiled)}")
    return result


def check_extensions(analysis) -> list:
    """Run the checks that later stages add (exclusions, target options); return their warnings."""
    from translator.exclusions import exclusion_warnings

    warnings = []
    warnings.extend(exclusion_warnings(analysis))
    return warnings


def packaging_formats(rule) -> list[tuple[str, str]]:
    """Return the (target, format) pairs whose options the rule sets, which `check` validates.

    A rule that sets Sentinel analytics settings (under options.sentinel or at
    its top level), Defender XDR custom-detection options or Splunk options is
    meant for that packaging, so their mistakes are reported by `check`, not
    only when that format is compiled. contentctl's required date is left to
    `compile --format contentctl`.
    """
    from translator.rule import SENTINEL_PASSTHROUGH_KEYS

    pairs = []
    if rule.options.get("sentinel") or any(key in rule.data for key in SENTINEL_PASSTHROUGH_KEYS):
        pairs.append(("sentinel", "analytic"))
    if "custom_detection" in rule.options.get("defender", {}):
        pairs.append(("defender", "custom-detection"))
    if rule.options.get("splunk"):
        pairs.append(("splunk", "savedsearch"))
    return pairs


def check_packaging(analysis) -> None:
    """Compile the packaging formats whose options the rule sets; raise the errors they find."""
    from backends import CompileSettings, get_target
    from translator.compiler import analyze
    from translator.exclusions import apply_exclusions

    errors = []
    settings = CompileSettings()
    for name, fmt in packaging_formats(analysis.rule):
        target = get_target(name)
        try:
            compiled = analyze(analysis.rule, target.platform)
            compiled.node = apply_exclusions(compiled, settings.exclusions)
            target.compile(compiled, fmt, settings)
        except RulecastError as exc:
            errors.extend(d if d.message.startswith(f"{name}:") else
                          type(d)(d.severity, f"{name}: {d.message}", d.location, d.hint) for d in exc.diagnostics)
    if errors:
        raise RulecastError(errors)
