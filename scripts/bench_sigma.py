#!/usr/bin/env python3
"""Coverage and speed of the Sigma importer on a SigmaHQ corpus.

    python scripts/bench_sigma.py CORPUS [--sigma PATH] [--json FILE]

CORPUS is a SigmaHQ checkout (the folders rules*, and regression_data/ if
present). The script reports, as Markdown:

- how many rules load (YAML with libyaml's C loader, then pySigma objects);
- for each target, how many rules compile and the reasons for the rest,
  grouped by kind (a crash, which must never happen, is its own kind);
- how many regression rules fire on their events in the Python target;
- the time to load the corpus and compile it to every installed target, in
  this process and as a whole `rulecast compile` process;
- next to it, `sigma convert` (sigma-cli) on the same folders in the same
  run, with the Kusto backend and its Defender XDR pipeline and with the
  Splunk backend, each as a whole process;
- the per-rule counts of the same pySigma backends, converting one rule at a
  time so that one failure does not stop the rest.

`--sigma` names the sigma-cli executable (default: `sigma` on PATH, else
/tmp/sigmacli/bin/sigma); its Python runs the per-rule pySigma counts. The
sigma-cli side is skipped, with a note, when it is not installed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import resource
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from backends import CompileSettings, available_targets, get_target  # noqa: E402
from translator.diagnostics import RulecastError  # noqa: E402
from translator.sigma.rules import SigmaSet, analysis_for, load_file, target_settings  # noqa: E402

RULE_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")

PYSIGMA_COUNT = r'''
import glob, sys, time
from sigma.collection import SigmaCollection
from sigma.backends.kusto import KustoBackend
from sigma.backends.splunk import SplunkBackend
from sigma.pipelines.microsoftxdr import microsoft_xdr_pipeline
from sigma.pipelines.splunk import splunk_windows_pipeline
files = sorted(f for d in sys.argv[2:] for f in glob.glob(d + "/**/*.yml", recursive=True))
which = sys.argv[1]
ok = empty = failed = 0
start = time.perf_counter()
for f in files:
    try:
        rules = SigmaCollection.load_ruleset([f])
        if which == "kusto":
            backend = KustoBackend(processing_pipeline=microsoft_xdr_pipeline())
        else:
            backend = SplunkBackend(processing_pipeline=splunk_windows_pipeline())
        if backend.convert(rules):
            ok += 1
        else:
            empty += 1
    except Exception:
        failed += 1
print(len(files), ok, empty, failed, time.perf_counter() - start)
'''


def corpus_files(corpus: Path) -> list[Path]:
    files: list[Path] = []
    for name in RULE_DIRS:
        folder = corpus / name
        if folder.is_dir():
            files.extend(sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file()))
    return files


def bench_rulecast(files: list[Path]) -> dict:
    targets = available_targets()
    settings = CompileSettings()
    cpu_start = time.process_time()
    start = time.perf_counter()
    documents = []
    load_failures = 0
    for path in files:
        try:
            documents.extend(load_file(path))
        except RulecastError:
            load_failures += 1
    loaded = time.perf_counter()
    sigma_set = SigmaSet(documents)
    rules = [d for d in documents if d.kind != "filter"]
    results = {t: {"ok": 0, "reasons": collections.Counter(), "examples": {}} for t in targets}
    target_objects = {t: get_target(t) for t in targets}
    for document in rules:
        for name, target in target_objects.items():
            result = results[name]
            try:
                analysis = analysis_for(document, name, target.platform, sigma_set)
                target.compile(analysis, target.formats[0], target_settings(settings, name))
                result["ok"] += 1
            except RulecastError as exc:
                kind = _kind(exc, document, name)
                result["reasons"][kind] += 1
                result["examples"].setdefault(kind, exc.diagnostics[0].message)
            except Exception as exc:  # noqa: BLE001 - a crash is counted and shown, never hidden
                result["reasons"]["crash"] += 1
                result["examples"].setdefault("crash", f"{document.path}: {type(exc).__name__}: {exc}")
                traceback.print_exc(file=sys.stderr)
    done = time.perf_counter()
    cpu = time.process_time() - cpu_start
    return {
        "cpu_seconds": cpu,
        "files": len(files),
        "documents": len(documents),
        "imported": sum(1 for d in rules if d.kind != "invalid"),
        "invalid": sum(1 for d in rules if d.kind == "invalid"),
        "load_failures": load_failures,
        "load_seconds": loaded - start,
        "compile_seconds": done - loaded,
        "total_seconds": done - start,
        "targets": results,
    }


def _kind(exc: RulecastError, document, target: str) -> str:
    """Group a refusal by its kind: the Sigma translation's, or the target backend's message."""
    kind = getattr(exc, "kind", None)
    if kind:
        return kind
    message = exc.diagnostics[0].message
    cannot = re.search(r"target cannot express (.+?): ", message)
    if cannot:
        return f"target backend cannot express {cannot.group(1)}"
    return "target backend: " + re.sub(r"'[^']*'", "'...'", exc.diagnostics[0].message.split(": ", 1)[-1])[:70]


def bench_rulecast_process(corpus: Path) -> dict:
    """Time `rulecast compile --target all` on the corpus as a whole process, its output in one stream."""
    folders = [str(corpus / d) for d in RULE_DIRS if (corpus / d).is_dir()]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "translator", "compile", "-t", "all", *folders],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    errors = sum(1 for line in proc.stderr.splitlines() if ": error: " in line)
    return {"seconds": seconds, "cpu_seconds": cpu, "exit": proc.returncode, "errors": errors}


def regression(corpus: Path) -> dict | None:
    folder = corpus / "regression_data"
    if not folder.is_dir() or "python" not in available_targets():
        return None
    sys.path.insert(0, str(REPO / "tests"))
    from test_sigma_regression import _rule_index, fires  # noqa: PLC0415

    os.environ.setdefault("RULECAST_SIGMA_CORPUS", str(corpus))
    index = _rule_index()
    outcome = collections.Counter()
    details = []
    for info in sorted(folder.glob("**/info.yml")):
        fired, detail = fires(info, index)
        if fired:
            kind = "fired"
        elif detail.startswith("refused"):
            kind = "refused"
        else:
            kind = "did not fire"
        outcome[kind] += 1
        if not fired:
            details.append(f"{info.parent.name}: {detail}")
    return {"cases": sum(outcome.values()), **outcome, "details": details}


def find_sigma(option: str | None) -> str | None:
    for candidate in (option, shutil.which("sigma"), "/tmp/sigmacli/bin/sigma"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def bench_sigma_cli(sigma: str, corpus: Path) -> dict:
    folders = [str(corpus / d) for d in RULE_DIRS if (corpus / d).is_dir()]
    runs = {}
    for label, args in (("kusto (microsoft_xdr)", ["-t", "kusto", "-p", "microsoft_xdr"]),
                        ("splunk (splunk_windows)", ["-t", "splunk", "-p", "splunk_windows"])):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.txt"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run([sigma, "convert", "-s", *args, *folders, "-o", str(out)],
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            error = next((line for line in proc.stderr.splitlines() if line.startswith("Error")), "")
            runs[label] = {"seconds": seconds, "cpu_seconds": cpu, "exit": proc.returncode, "error": error[:200]}
    python = str(Path(sigma).with_name("python"))
    counts = {}
    if Path(python).exists():
        for which in ("kusto", "splunk"):
            proc = subprocess.run([python, "-c", PYSIGMA_COUNT, which, *folders], capture_output=True, text=True)
            if proc.returncode == 0 and proc.stdout.strip():
                files, ok, empty, failed, seconds = proc.stdout.split()
                counts[which] = {"files": int(files), "ok": int(ok), "empty": int(empty), "failed": int(failed),
                                 "seconds": float(seconds)}
    version = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('pysigma'))"],
                             capture_output=True, text=True).stdout.strip() if Path(python).exists() else "?"
    return {"runs": runs, "counts": counts, "pysigma": version}


def report(corpus: Path, ours: dict, reg: dict | None, cli: dict | None, process: dict) -> str:
    lines = [f"Corpus: `{corpus}` ({ours['files']} files, {ours['documents']} YAML documents); "
             f"Python {platform.python_version()}, {platform.machine()}.", ""]
    rules = ours["imported"] + ours["invalid"]
    lines.append(f"- Rules read by pySigma: {ours['imported']} of {rules} "
                 f"({ours['invalid']} invalid, {ours['load_failures']} files unreadable).")
    lines += ["", "| target | compiled | refused | crashes |", "|---|---:|---:|---:|"]
    for name, result in ours["targets"].items():
        refused = sum(n for k, n in result["reasons"].items() if k != "crash")
        lines.append(f"| {name} | {result['ok']} of {rules} | {refused} | {result['reasons'].get('crash', 0)} |")
    lines += ["", "Reasons for the refusals, by kind:", "", "| target | kind | rules | example |", "|---|---|---:|---|"]
    for name, result in ours["targets"].items():
        for kind, count in result["reasons"].most_common():
            example = result["examples"][kind].replace("|", "\\|")[:110]
            lines.append(f"| {name} | {kind} | {count} | {example} |")
    if reg is not None:
        lines += ["", f"Regression events: {reg.get('fired', 0)} of {reg['cases']} rules fire in the Python target"
                      f" ({reg.get('refused', 0)} refused, {reg.get('did not fire', 0)} silent)."]
        lines.extend(f"- {d}" for d in reg["details"])
    load = os.getloadavg()[0]
    lines += ["", f"Load average when the report was written: {load:.2f}.", "",
              "| run | wall s | CPU s | result |", "|---|---:|---:|---|",
              f"| rulecast: load {rules} rules and compile to {', '.join(ours['targets'])} (in process) | "
              f"{ours['total_seconds']:.2f} | {ours['cpu_seconds']:.2f} | load {ours['load_seconds']:.2f} s, "
              f"compile {ours['compile_seconds']:.2f} s |",
              f"| `rulecast compile --target all`, whole process | {process['seconds']:.2f} | "
              f"{process['cpu_seconds']:.2f} | exit {process['exit']}, {process['errors']} refusals reported "
              "(rule and target pairs) |"]
    if cli is None:
        lines.append("| sigma convert | - | - | sigma-cli is not installed |")
    else:
        for label, run in cli["runs"].items():
            result = "completed" if run["exit"] == 0 else f"stopped (exit {run['exit']}): {run['error']}"
            lines.append(f"| `sigma convert -s` {label}, whole process | {run['seconds']:.2f} | {run['cpu_seconds']:.2f} "
                         f"| {result} |")
        for which, count in cli["counts"].items():
            lines.append(f"| pySigma {cli['pysigma']} {which}, one rule at a time (in process) | {count['seconds']:.2f} | - | "
                         f"{count['ok']} of {count['files']} converted, {count['failed']} failed, "
                         f"{count['empty']} empty |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a SigmaHQ checkout")
    parser.add_argument("--sigma", help="the sigma-cli executable")
    parser.add_argument("--json", type=Path, help="also write the raw numbers as JSON")
    args = parser.parse_args(argv)
    files = corpus_files(args.corpus)
    if not files:
        print(f"bench_sigma: no rule files under {args.corpus} ({', '.join(RULE_DIRS)})", file=sys.stderr)
        return 2
    ours = bench_rulecast(files)
    process = bench_rulecast_process(args.corpus)
    reg = regression(args.corpus)
    sigma = find_sigma(args.sigma)
    cli = bench_sigma_cli(sigma, args.corpus) if sigma else None
    sys.stdout.write(report(args.corpus, ours, reg, cli, process))
    if args.json:
        ours["targets"] = {k: {"ok": v["ok"], "reasons": dict(v["reasons"])} for k, v in ours["targets"].items()}
        args.json.write_text(json.dumps({"rulecast": ours, "rulecast_process": process, "regression": reg,
                                         "sigma_cli": cli}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
