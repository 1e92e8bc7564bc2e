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
from translator.diagnostics import RulecastError

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
    from translator.compiler import rule_files
    from translator.rule import load_rule

    paths = list(rule_files(args.paths))
    if not paths:
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
    return 1 if failed else 0


def _indent(text: str, width: int) -> str:
    return "\n".join(" " * width + line for line in text.splitlines())


def test_rule(rule, exclusions: str = "all") -> list[Outcome]:
    """Run every test case of one rule with the `exclusions` selected; raise RulecastError if the rule is invalid.

    Warnings (an exclusion's unset placeholder) are printed on stderr.
    """
    from backends.python import generate_module, is_ordered, load_module
    from translator.compiler import analyze
    from translator.exclusions import apply_exclusions

    if not rule.tests:
        return []
    analysis = analyze(rule, "defender")
    analysis.node = apply_exclusions(analysis, exclusions)
    for warning in analysis.warnings:
        print(warning.render(), file=sys.stderr)
    module = load_module(generate_module(analysis))
    ordered_rule = is_ordered(analysis.node)
    return [run_case(rule, module, case, ordered_rule) for case in rule.tests]


def run_case(rule, module, case, ordered_rule: bool) -> Outcome:
    outcome = Outcome(case.name)
    inputs: dict[str, list] = {}
    for table, events in case.input.items():
        if table not in module.TABLES:
            location = rule.location(("tests", case.index, "input", table), key=True)
            outcome.problems.append(f"{location.path}:{location.line}:{location.column}: input table '{table}' "
                                    f"is not read by the rule, which reads {', '.join(module.TABLES)}")
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
    if "count" in expect and len(actual) != expect["count"]:
        outcome.problems.append(f"expected {expect['count']} row{'s' if expect['count'] != 1 else ''}, got {len(actual)}")
        if "rows" not in expect:
            outcome.problems.append(show_rows("actual rows", actual, columns))
    if "rows" in expect:
        expected = convert_expected(rule, case, columns, outcome)
        if outcome.problems and expected is None:
            return outcome
        ordered = expect.get("ordered", ordered_rule)
        outcome.problems.extend(compare(expected, actual, columns, ordered))
    return outcome


def load_file_rows(rule, module, case, table: str, relative: str, outcome: Outcome) -> list:
    from translator.jsonl import ErrorLog, read_rows

    path = rule.directory / relative
    if not path.is_file():
        location = rule.location(("tests", case.index, "input", table))
        outcome.problems.append(f"{location.path}:{location.line}:{location.column}: input file {path} not found")
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
            location = rule.location(("tests", case.index, "input", table, index, exc.column))
            outcome.problems.append(f"{location.path}:{location.line}:{location.column}: "
                                    f"{table} event {index + 1}: {exc}")
    return rows


# ---------------------------------------------------------------- expected values


def convert_expected(rule, case, columns, outcome: Outcome) -> list | None:
    types = dict(columns)
    converted = []
    for index, row in enumerate(case.expect["rows"]):
        typed = {}
        for name, value in row.items():
            location = rule.location(("tests", case.index, "expect", "rows", index, name))
            where = f"{location.path}:{location.line}:{location.column}"
            if name not in types:
                from translator.diagnostics import did_you_mean

                hint = did_you_mean(str(name), types) or "output columns: " + ", ".join(types)
                outcome.problems.append(f"{where}: expected row {index + 1} names column '{name}', "
                                        f"which the output does not have ({hint})")
                continue
            try:
                typed[name] = expected_value(value, types[name])
            except ValueError as exc:
                outcome.problems.append(f"{where}: expected row {index + 1}, column {name}: {exc}")
        for name, kind in columns:
            typed.setdefault(name, "" if kind == "string" else None)
        converted.append(typed)
    return None if outcome.problems else converted


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


def compare(expected: list, actual: list, columns, ordered: bool) -> list[str]:
    """Return the differences between expected and actual rows, as printable lines."""
    problems: list[str] = []
    if ordered:
        for index, (want, got) in enumerate(zip(expected, actual), start=1):
            if not same_row(want, got, columns):
                problems.append(f"row {index} differs:\n" + column_diff(want, got, columns))
        if len(expected) != len(actual):
            problems.insert(0, f"expected {len(expected)} rows, got {len(actual)}")
            extra = actual[len(expected):]
            if extra:
                problems.append(show_rows("unexpected rows at the end", extra, columns))
            missing = expected[len(actual):]
            if missing:
                problems.append(show_rows("missing rows at the end", missing, columns))
        if problems:
            problems.insert(0, "rows compared in order (the rule sorts, or the case sets ordered: true)")
        return problems
    remaining = list(actual)
    missing = []
    for want in expected:
        for index, got in enumerate(remaining):
            if same_row(want, got, columns):
                del remaining[index]
                break
        else:
            missing.append(want)
    if not missing and not remaining:
        return []
    if len(expected) != len(actual):
        problems.append(f"expected {len(expected)} rows, got {len(actual)}")
    for want in missing:
        closest = max(remaining, key=lambda got: _agreement(want, got, columns), default=None)
        if closest is None:
            problems.append("missing row:\n" + _indent(row_text(want, columns), 2))
        else:
            remaining.remove(closest)
            problems.append("row differs from the closest actual row:\n" + column_diff(want, closest, columns))
    if remaining:
        problems.append(show_rows("unexpected rows", remaining, columns))
    return problems


def _agreement(want: dict, got: dict, columns) -> int:
    return sum(1 for name, _ in columns if same(want[name], got[name]))


def column_diff(want: dict, got: dict, columns) -> str:
    lines = []
    for name, kind in columns:
        if not same(want[name], got[name]):
            lines.append(f"  {name}: expected {display(want[name], kind)}, got {display(got[name], kind)}")
    return "\n".join(lines)


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

