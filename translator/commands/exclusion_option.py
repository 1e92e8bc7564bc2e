"""The `--exclusions all|none|NAME,...` option of compile, test and run.

One spelling, one default and one set of usage errors for every command that
evaluates or emits a rule: the selection rules themselves live in
`translator.exclusions` (`Selection`, `check_selection`).
"""

from __future__ import annotations

import sys

EXIT_USAGE = 2


def add_argument(parser) -> None:
    parser.add_argument(
        "--exclusions", default="all", metavar="all|none|NAME,...",
        help="which of the rule's enabled exclusions to apply (default: all)",
    )


def selection_error(text: str, rules=None) -> int | None:
    """Check an `--exclusions` value, and its names against `rules` when given.

    Print the usage error and return the exit status 2, or return None when
    the value is fine. With several rules, a name must be an enabled
    exclusion of at least one of them.
    """
    from translator.exclusions import Selection, SelectionError, check_selection

    try:
        Selection.parse(text)
        if rules is not None:
            check_selection(rules, text)
    except SelectionError as exc:
        print(f"rulecast: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return None
