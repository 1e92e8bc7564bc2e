"""Command-line plumbing shared by `rulecast import sigma`, `compile` and `check` for Sigma files."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from translator.diagnostics import Diagnostic, Location, RulecastError


def add_arguments(parser) -> None:
    parser.add_argument(
        "--sigma-placeholder", action="append", default=[], metavar="NAME=V1,V2",
        help="values for a Sigma `expand` placeholder %%NAME%% (repeatable)",
    )
    parser.add_argument(
        "--sigma-placeholders", metavar="FILE",
        help="YAML file mapping placeholder names to lists of values",
    )


def placeholders(args) -> dict[str, list[str]]:
    """Read placeholder values from the command line; raise `RulecastError` on an invalid one."""
    import yaml

    values: dict[str, list[str]] = {}
    if getattr(args, "sigma_placeholders", None):
        path = args.sigma_placeholders
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise RulecastError(Diagnostic("error", f"cannot read placeholder file: {exc}", Location(path, 0, 0))) from None
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise RulecastError(Diagnostic("error", "a placeholder file maps each name to a list of values",
                                           Location(path, 1, 1)))
        values.update({str(k): [str(v) for v in items] for k, items in data.items()})
    for item in getattr(args, "sigma_placeholder", None) or ():
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise RulecastError(Diagnostic("error", f"invalid --sigma-placeholder '{item}': expected NAME=V1,V2"))
        values[name.strip("%")] = [v for v in text.split(",")]
    return values


def load_set(paths: Iterable[Path], args=None):
    """Load every Sigma file in `paths` into one `SigmaSet`; return it with the files that failed to load."""
    from translator.sigma.rules import SigmaSet, load_file

    sigma_set = SigmaSet(placeholders=placeholders(args) if args is not None else {})
    failures: list[RulecastError] = []
    per_file: dict[Path, list] = {}
    for path in paths:
        try:
            documents = load_file(path)
        except RulecastError as exc:
            failures.append(exc)
            continue
        sigma_set.add(documents)
        per_file[path] = documents
    return sigma_set, per_file, failures


def output_stem(path: Path, document, count: int) -> str:
    return path.stem if count == 1 else f"{path.stem}.{document.index + 1}"


def compile_documents(path: Path, documents, targets, fmt: str | None, settings, sigma_set):
    """Compile each rule of a Sigma file for each target, printing each failure.

    Return the outputs as (path named after the rule, target, artifact) and
    the number of (rule, target) pairs that failed. A refusal for one target
    does not stop the others. Rules that only feed correlations with
    `generate: false` are not compiled on their own.
    """
    import sys

    from backends import get_target
    from translator.sigma.rules import analysis_for, target_settings

    outputs = []
    failed = 0
    rules = [d for d in documents if d.kind != "filter"]
    for document in rules:
        if not sigma_set.emitted_alone(document):
            continue
        stem = output_stem(path, document, len(rules))
        for name in targets:
            target = get_target(name)
            try:
                analysis = analysis_for(document, name, target.platform, sigma_set)
                artifacts = target.compile(analysis, fmt or target.formats[0], target_settings(settings, name))
            except RulecastError as exc:
                print(_prefixed(exc, name).render(), file=sys.stderr)
                failed += 1
                continue
            for artifact in artifacts:
                outputs.append((path.with_name(stem + path.suffix), name, artifact))
    return outputs, failed


def _prefixed(exc: RulecastError, target: str) -> RulecastError:
    return RulecastError([
        Diagnostic(d.severity, d.message if d.message.startswith(f"{target}:") else f"{target}: {d.message}",
                   d.location, d.hint)
        for d in exc.diagnostics
    ])
