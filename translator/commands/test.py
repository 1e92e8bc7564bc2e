"""`rulecast test`: run the test cases written in rule files on the Python target.

Each case gives input events per table (inline, or a JSON Lines file next to
the rule) and the expected output as `rows`, `count` or both. Rows compare
on every output column: a column an expected row leaves out must be empty
("" for a string column, null otherwise), and a column name the output lacks
is an error. Rows compare in order when the rule sorts last (only where,
project or take after its sort) or the case sets `ordered: true`, and as a
multiset otherwise. The rule's enabled exclusions apply, as in `rulecast
compile`, unless `--exclusions` chooses others.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from dataclasses import dataclass, field

from translator.commands import exclusion_option
from translator.diagnostics import Diagnostic, Location, RulecastError

MAX_SHOWN_ROWS = 10  # rows printed per side of a failing comparison


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("test", help="run the tests written in rule files (python target)")
    parser.add_argument("paths", nargs="*", default=["rules"], metavar="RULE_OR_DIR",
                        help="rule files or folders of rule files (default: rules/)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only failures and the summary")
    exclusion_option.add_argument(parser)
    parser.set_defaults(func=run)


@dataclass
class Outcome:
    name: str
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def run(args) -> int:
    from translator.commands.paths import exit_status, expand
    from translator.rule import load_rule

    paths, missing = expand(args.paths)
    if not paths:
        if not missing:
            print("rulecast test: error: no rule files found (looked for *.yaml and *.yml)", file=sys.stderr)
        return 2
    status = exclusion_option.selection_error(args.exclusions)
    if status is not None:
        return status
    loaded: dict = {}
    for path in paths:
        try:
            loaded[path] = load_rule(path)
        except RulecastError as exc:
            loaded[path] = exc  # reported with the rule's tests below
    status = exclusion_option.selection_error(
        args.exclusions, [rule for rule in loaded.values() if not isinstance(rule, RulecastError)])
    if status is not None:
        return status
    passed = failed = 0
    for path in paths:
        try:
            if isinstance(loaded[path], RulecastError):
                raise loaded[path]
            outcomes = test_rule(loaded[path], args.exclusions)
        except RulecastError as exc:
            print(f"{path}")
            print("  ERROR  the rule does not compile")
            print(_indent(exc.render(), 9))
            failed += 1
            continue
        if not outcomes:
            continue
        if not args.quiet or any(not o.passed for o in outcomes):
            print(f"{path}")
        for outcome in outcomes:
            if outcome.passed:
                passed += 1
                if not args.quiet:
                    print(f"  PASS  {outcome.name}")
            else:
                failed += 1
                print(f"  FAIL  {outcome.name}")
                for problem in outcome.problems:
                    print(_indent(problem, 8))
    print(f"{passed} passed, {failed} failed")
    return exit_status(missing, failed)


def _indent(text: str, width: int) -> str:
    return "\n".join(" " * width + line for line in text.splitlines())


def test_rule(rule, exclusions: str = "all") -> list[Outcome]:
    """Run every test case of one rule with the `exclusions` selected; raise RulecastError if the rule is invalid.

    Warnings (an exclusion's unset placeholder) are printed on stderr.
    """
    from backends.python import is_ordered
    from translator.compiler import analyze, python_module
    from translator.exclusions import apply_exclusions

    if not rule.tests:
        return []
    analysis = analyze(rule, "defender")
    analysis.node = apply_exclusions(analysis, exclusions)
    for warning in analysis.warnings:
        print(warning.render(), file=sys.stderr)
    module = python_module(analysis)
    ordered_rule = is_ordered(analysis.node)
    return [run_case(rule, module, case, ordered_rule) for case in rule.tests]


def run_case(rule, module, case, ordered_rule: bool) -> Outcome:
    outcome = Outcome(case.name)
    inputs: dict[str, list] = {}
    for table, events in case.input.items():
        if table not in module.TABLES:
            outcome.problems.append(problem(
                rule, ("tests", case.index, "input", table),
                f"input table '{table}' is not read by the rule, which reads {', '.join(module.TABLES)}", key=True))
            continue
        if isinstance(events, str):
            inputs[table] = load_file_rows(rule, module, case, table, events, outcome)
        else:
            inputs[table] = convert_inline(rule, module, case, table, events, outcome)
    if outcome.problems:
        return outcome
    actual = list(module.run_rows(inputs))
    columns = list(module.COLUMNS)
    expect = case.expect
    expect_path = ("tests", case.index, "expect")
    # With rows of the same number, the comparison of rows below reports a wrong count.
    count_in_rows = "rows" in expect and len(expect["rows"]) == expect.get("count")
    if "count" in expect and len(actual) != expect["count"] and not count_in_rows:
        details = None if "rows" in expect else show_rows("actual rows", actual, columns)
        outcome.problems.append(problem(rule, expect_path + ("count",), f"expected {_rows(expect['count'])}, "
                                                                        f"got {len(actual)}", details=details))
    if "rows" in expect:
        expected = convert_expected(rule, case, columns, outcome)
        if expected is None:
            return outcome
        ordered = expect.get("ordered", ordered_rule)

        def locate(*path) -> Location:
            # The list itself is located at its key: a block list's own position is its first row.
            return rule.location(expect_path + ("rows",) + path, key=not path)

        outcome.problems.extend(compare(expected, actual, columns, ordered, locate))
    return outcome


def problem(rule, path: tuple, message: str, key: bool = False, details: str | None = None) -> str:
    """Render an error at the value (or key) `path` of the rule file, with optional indented detail lines."""
    return _error(rule.location(path, key=key), message, details)


def load_file_rows(rule, module, case, table: str, relative: str, outcome: Outcome) -> list:
    from translator.jsonl import ErrorLog, read_rows

    path = rule.directory / relative
    if not path.is_file():
        outcome.problems.append(problem(rule, ("tests", case.index, "input", table), f"input file {path} not found"))
        return []
    errors = ErrorLog()

    def diagnose(event):
        module.coerce(table, event)

    rows = list(read_rows(str(path), module.COERCE[table], diagnose, errors, validate_all=True))
    for error in errors.reported:
        outcome.problems.append(error.render("error"))
    return rows


def convert_inline(rule, module, case, table: str, events: list, outcome: Outcome) -> list:
    rows = []
    for index, event in enumerate(events):
        try:
            rows.append(module.coerce(table, event))
        except module.MalformedEvent as exc:
            outcome.problems.append(problem(rule, ("tests", case.index, "input", table, index, exc.column),
                                            f"{table} event {index + 1}: {exc}"))
    return rows


# ---------------------------------------------------------------- expected values


def convert_expected(rule, case, columns, outcome: Outcome) -> list | None:
    """Return the expected rows with typed values, or None after adding a problem for each value that is invalid."""
    from translator.diagnostics import did_you_mean

    types = dict(columns)
    converted = []
    invalid = False
    for index, row in enumerate(case.expect["rows"]):
        typed = {}
        for name, value in row.items():
            path = ("tests", case.index, "expect", "rows", index, name)
            if name not in types:
                hint = did_you_mean(str(name), types) or "output columns: " + ", ".join(types)
                outcome.problems.append(problem(rule, path, f"expected row {index + 1} names column '{name}', "
                                                            f"which the output does not have ({hint})"))
                invalid = True
                continue
            try:
                typed[name] = expected_value(value, types[name])
            except ValueError as exc:
                outcome.problems.append(problem(rule, path, f"expected row {index + 1}, column {name}: {exc}"))
                invalid = True
        for name, kind in columns:
            typed.setdefault(name, "" if kind == "string" else None)
        converted.append(typed)
    return None if invalid else converted


def expected_value(value, kind: str):
    """Convert a YAML value into the typed representation of a column of type `kind`."""
    from translator.values import LiteralError, parse_datetime, parse_timespan_text

    if kind == "string":
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}; quote it")
        return value
    if value is None or kind == "dynamic":
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if kind in ("int", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        return value
    if kind in ("real", "decimal"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if kind == "datetime":
        if isinstance(value, dt.datetime):
            value = value.replace(tzinfo=value.tzinfo or dt.timezone.utc).astimezone(dt.timezone.utc)
            value = value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif isinstance(value, dt.date):
            value = value.isoformat()
        if not isinstance(value, str):
            raise ValueError(f"expected an ISO 8601 datetime, got {value!r}")
        try:
            return parse_datetime(value)
        except LiteralError as exc:
            raise ValueError(str(exc)) from None
    if kind == "timespan":
        try:
            return parse_timespan_text(str(value))
        except LiteralError as exc:
            raise ValueError(str(exc)) from None
    if kind == "guid":
        return str(value).lower()
    raise ValueError(f"no expected-value form for type {kind}")


# ---------------------------------------------------------------- comparison


def same(a, b) -> bool:
    """Compare two typed values: NaN equals NaN, 1 equals 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def same_row(expected: dict, actual: dict, columns) -> bool:
    return all(same(expected[name], actual[name]) for name, _ in columns)


def compare(expected: list, actual: list, columns, ordered: bool, locate) -> list[str]:
    """Return the differences between expected and actual rows, each an error rendered at its place in the rule file.

    `locate(index, column)` returns the `Location` of an expected value,
    `locate(index)` that of an expected row and `locate()` that of the list.
    """
    if ordered:
        return _compare_in_order(expected, actual, columns, locate)
    remaining = list(actual)
    missing: list[int] = []
    for index, want in enumerate(expected):
        for position, got in enumerate(remaining):
            if same_row(want, got, columns):
                del remaining[position]
                break
        else:
            missing.append(index)
    problems: list[str] = []
    for index in missing:
        want = expected[index]
        closest = max(remaining, key=lambda got: _agreement(want, got, columns), default=None)
        if closest is None:
            problems.append(_error(locate(index), f"row {index + 1} is not in the output"))
            continue
        remaining.remove(closest)
        for name, kind in columns:
            if not same(want[name], closest[name]):
                problems.append(_error(locate(index, name),
                                       f"row {index + 1} is not in the output; in the closest output row, column "
                                       f"{name}: expected {display(want[name], kind)}, got {display(closest[name], kind)}"))
    if len(expected) != len(actual):
        # Each missing row took its closest actual row, so what remains is the surplus.
        details = show_rows("unexpected rows", remaining, columns) if remaining else None
        problems.insert(0, _error(locate(), f"expected {_rows(len(expected))}, got {len(actual)}", details))
    return problems


def _compare_in_order(expected: list, actual: list, columns, locate) -> list[str]:
    problems: list[str] = []
    if len(expected) != len(actual):
        extra = actual[len(expected):]
        details = show_rows("unexpected rows at the end", extra, columns) if extra else None
        problems.append(_error(locate(), f"expected {_rows(len(expected))}, got {len(actual)}", details))
    for index, (want, got) in enumerate(zip(expected, actual)):
        for name, kind in columns:
            if not same(want[name], got[name]):
                problems.append(_error(locate(index, name), f"row {index + 1}, column {name}: "
                                                            f"expected {display(want[name], kind)}, "
                                                            f"got {display(got[name], kind)}"))
    for index in range(len(actual), len(expected)):
        problems.append(_error(locate(index), f"row {index + 1} is missing at the end of the output"))
    if problems:
        problems[0] += "\n  hint: rows are compared in order because the rule sorts, or the case sets ordered: true"
    return problems


def _error(location: Location, message: str, details: str | None = None) -> str:
    text = Diagnostic("error", message, location).render()
    return text if details is None else text + "\n" + _indent(details, 2)


def _rows(count: int) -> str:
    return f"{count} row{'s' if count != 1 else ''}"


def _agreement(want: dict, got: dict, columns) -> int:
    return sum(1 for name, _ in columns if same(want[name], got[name]))


def show_rows(title: str, rows: list, columns) -> str:
    lines = [f"{title} ({len(rows)}):"]
    for row in rows[:MAX_SHOWN_ROWS]:
        lines.append(_indent(row_text(row, columns), 2))
    if len(rows) > MAX_SHOWN_ROWS:
        lines.append(f"  ... {len(rows) - MAX_SHOWN_ROWS} more")
    return "\n".join(lines)


def row_text(row: dict, columns) -> str:
    """One row as `{Column: value, ...}`, leaving out empty columns to stay readable."""
    cells = [f"{name}: {display(row[name], kind)}" for name, kind in columns if row[name] not in ("", None)]
    return "{" + ", ".join(cells) + "}" if cells else "{} (every column empty)"


def display(value, kind: str) -> str:
    from translator.values import format_datetime, format_timespan

    if value is None:
        return "null"
    if kind == "datetime":
        return format_datetime(value)
    if kind == "timespan":
        return format_timespan(value)
    return json.dumps(value, ensure_ascii=False)

