"""Regenerate the golden files of every installed target.

Each target's golden tests produce its golden files. This script runs them
with RULECAST_REGEN_GOLDEN=1, which makes them write
tests/golden/<target>/<rule>.<extension>. The KQL golden tests also remove
files that no rule produces any more. Then it runs the tests again without
the variable to confirm the files match. Review the result with
`git diff tests/golden`.

    python scripts/regen_golden.py                 # every installed target
    python scripts/regen_golden.py sentinel splunk # only these
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backends import available_targets  # noqa: E402

# Target -> the test file whose tests named "golden" write its golden files.
GOLDEN_TESTS = {
    "sentinel": "tests/test_kql_golden.py",
    "defender": "tests/test_kql_golden.py",
    "splunk": "tests/test_splunk_target.py",
    "python": "tests/test_rule_tests.py",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help="targets to regenerate (default: every installed target)")
    args = parser.parse_args(argv)
    installed = available_targets()
    targets = args.targets or installed
    for target in targets:
        if target not in installed:
            print(f"regen_golden: error: target '{target}' is not installed; installed: {', '.join(installed)}",
                  file=sys.stderr)
            return 2
        if target not in GOLDEN_TESTS:
            print(f"regen_golden: error: no golden test is known for target '{target}'; add it to GOLDEN_TESTS in "
                  f"{Path(__file__).relative_to(ROOT)}", file=sys.stderr)
            return 2
    files = sorted({GOLDEN_TESTS[t] for t in targets})
    command = [sys.executable, "-m", "pytest", "-q", "-k", "golden", *files]
    environment = dict(os.environ, RULECAST_REGEN_GOLDEN="1")
    print("regenerating:", " ".join(files))
    if subprocess.run(command, cwd=ROOT, env=environment).returncode != 0:
        print("regen_golden: error: a golden test failed while writing; see above", file=sys.stderr)
        return 1
    environment.pop("RULECAST_REGEN_GOLDEN")
    print("checking the written files")
    if subprocess.run(command, cwd=ROOT, env=environment).returncode != 0:
        print("regen_golden: error: the golden tests fail on the files just written", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
