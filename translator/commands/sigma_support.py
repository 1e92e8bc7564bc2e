"""Sigma files when pySigma, the optional extra `rulecast[sigma]`, is not installed.

`check` and `compile` then report each Sigma file as invalid, with the
command that installs the extra, and go on with the rulecast rules beside it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from translator.diagnostics import Diagnostic, Location

INSTALL_COMMAND = "pip install 'rulecast[sigma]'"

# The top-level keys that make a file Sigma, as `translator.sigma.rules.is_sigma_file` reads them.
_SIGMA_KEY = re.compile(r"(?m)^(detection|correlation|filter)\s*:")


def pysigma_installed() -> bool:
    """Return whether pySigma can be imported."""
    try:
        import sigma  # noqa: F401
    except ImportError:
        return False
    return True


def missing_error(path: str | Path) -> Diagnostic:
    """Return the one-line error for a Sigma file that cannot be read without pySigma.

    The position is the file's first Sigma key (`detection:` and the like).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    match = _SIGMA_KEY.search(text)
    line = text.count("\n", 0, match.start()) + 1 if match else 1
    return Diagnostic(
        "error",
        f"Sigma rules need pySigma, which is not installed; install it with {INSTALL_COMMAND}",
        Location(str(path), line, 1),
    )


def report_missing(paths) -> None:
    """Print the error of `missing_error` for each Sigma file in `paths`."""
    for path in paths:
        print(missing_error(path).render(), file=sys.stderr)
