#!/usr/bin/env python3
"""Time `rulecast check` as a whole process: 1,000 rules in one folder, and one rule cold.

Makes a temporary folder of copies of the seed rule, each with its own id,
runs `rulecast check -q FOLDER` several times and reports the minimum and the
median wall-clock and CPU time (CPU time is steadier on a busy machine); then does the same for `rulecast check` on the seed
alone (the cold start: interpreter, imports, grammar, schemas).

    python scripts/bench_check.py [--rules 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "email" / "high_confidence_phish_released.yaml"
SEED_ID = "9e8faa62-7222-48a5-a78f-ef2d22f866dc"


def command() -> list[str]:
    found = shutil.which("rulecast")
    return [found] if found else [sys.executable, "-m", "translator"]


def make_copies(folder: Path, count: int) -> None:
    text = SEED.read_text(encoding="utf-8")
    assert SEED_ID in text
    for i in range(count):
        rule_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"rulecast-bench-{i}"))
        (folder / f"rule_{i:04d}.yaml").write_text(text.replace(SEED_ID, rule_id), encoding="utf-8")


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_runs(args: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Run `args` `runs` times; return the wall-clock and the CPU (user + system) seconds of each run."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu = _child_cpu()
        start = time.perf_counter()
        result = subprocess.run(args, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        cpus.append(_child_cpu() - cpu)
        if result.returncode != 0:
            sys.exit(f"bench_check: {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return walls, cpus


def report(label: str, measured: tuple[list[float], list[float]]) -> None:
    walls, cpus = measured
    print(
        f"{label}: wall min {min(walls):.3f} s, median {statistics.median(walls):.3f} s; "
        f"CPU min {min(cpus):.3f} s, median {statistics.median(cpus):.3f} s ({len(walls)} runs)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, default=1000, help="number of rule copies (default 1000)")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (default 5)")
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}")
    print(f"python: {platform.python_version()}; command: {' '.join(command())}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="rulecast-bench-") as tmp:
        folder = Path(tmp)
        make_copies(folder, args.rules)
        time_runs(command() + ["check", "-q", str(folder)], 1)  # warm the file cache and the grammar cache
        report(f"check {args.rules} rules", time_runs(command() + ["check", "-q", str(folder)], args.runs))
    report("check 1 rule (cold start)", time_runs(command() + ["check", "-q", str(SEED)], args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
