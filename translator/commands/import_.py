"""`rulecast import sigma`: turn Sigma rules into rulecast rule files."""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    from translator.sigma.cli import add_arguments

    parser = subparsers.add_parser("import", help="import rules written for other tools (Sigma)")
    formats = parser.add_subparsers(dest="format", metavar="FORMAT")
    formats.required = True
    sigma = formats.add_parser("sigma", help="import Sigma rules (files or folders of .yml/.yaml)")
    sigma.add_argument("paths", nargs="+", metavar="PATH", help="Sigma rule files or folders")
    sigma.add_argument("-o", "--output", metavar="DIR", help="write one rulecast rule file per Sigma rule under DIR")
    add_arguments(sigma)
    sigma.set_defaults(func=run)


def run(args) -> int:
    from translator.commands.paths import exit_status, expand
    from translator.commands.sigma_support import INSTALL_COMMAND, pysigma_installed
    from translator.diagnostics import RulecastError

    if not pysigma_installed():
        print(f"rulecast: error: importing Sigma rules needs pySigma, which is not installed; "
              f"install it with {INSTALL_COMMAND}", file=sys.stderr)
        return 2
    from translator.sigma.cli import load_set, output_stem
    from translator.sigma.importer import import_document
    from translator.sigma.mapping import Refusal

    paths, missing = expand(args.paths)
    if not paths:
        if not missing:
            print("rulecast: error: no Sigma files found (looked for *.yaml and *.yml)", file=sys.stderr)
        return 2
    try:
        sigma_set, per_file, failures = load_set(paths, args)
    except RulecastError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    for failure in failures:
        print(failure.render(), file=sys.stderr)
    failed = len(failures)
    written = 0
    outputs: list[tuple[str, str]] = []
    for path, documents in per_file.items():
        rules = [d for d in documents if d.kind in ("rule", "correlation", "invalid")]
        for document in rules:
            if not sigma_set.emitted_alone(document):
                continue
            try:
                text = import_document(document, sigma_set)
            except Refusal as exc:
                print(document.refusal(exc, "import").render(), file=sys.stderr)
                failed += 1
                continue
            outputs.append((output_stem(path, document, len(rules)), text))
    if args.output:
        root = Path(args.output)
        root.mkdir(parents=True, exist_ok=True)
        for stem, text in outputs:
            target = root / f"{stem}.yaml"
            target.write_text(text, encoding="utf-8")
            written += 1
        print(f"{written} rule{'s' if written != 1 else ''} written to {root}, {failed} not imported",
              file=sys.stderr)
    else:
        for index, (stem, text) in enumerate(outputs):
            if len(outputs) > 1:
                sys.stdout.write(("\n" if index else "") + f"# ==> {stem}.yaml <==\n")
            sys.stdout.write(text)
    return exit_status(missing, failed)
