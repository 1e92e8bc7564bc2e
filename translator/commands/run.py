"""`rulecast run`: evaluate a rule and its exclusions on local JSON Lines files with the Python target."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

from translator.commands import exclusion_option
from translator.diagnostics import RulecastError

FORMATS = ("table", "jsonl", "csv")
MAX_CELL = 60  # characters per cell in the table format; longer values are cut with "…"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("run", help="run a rule on JSON Lines files with the python target")
    parser.add_argument("rule", metavar="RULE", help="the rule file")
    parser.add_argument(
        "--table", action="append", default=[], metavar="NAME=PATH",
        help="JSON Lines file (plain or gzip) holding the events of table NAME; repeat per table "
             "(no short form: -t is --target in rulecast compile)",
    )
    parser.add_argument("-f", "--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the result to FILE instead of stdout")
    parser.add_argument(
        "--strict", action="store_true",
        help="check every line and fail (exit 1, no result) if any is malformed",
    )
    parser.add_argument(
        "--no-prefilter", action="store_true",
        help="parse every line, even those that cannot match (slower; malformed lines are all found)",
    )
    parser.add_argument("--now", metavar="DATETIME", help="the time now() and ago() use (default: the current time)")
    exclusion_option.add_argument(parser)
    parser.set_defaults(func=run)


def usage_error(message: str) -> int:
    print(f"rulecast run: error: {message}", file=sys.stderr)
    return 2


def run(args) -> int:
    from translator.commands.paths import require_file
    from translator.compiler import analyze, python_module
    from translator.exclusions import apply_exclusions
    from translator.jsonl import ErrorLog, Progress, file_size, read_rows
    from translator.rule import load_rule
    from translator.values import LiteralError, parse_datetime

    status = exclusion_option.selection_error(args.exclusions)
    if status is not None:
        return status
    if not require_file(args.rule):
        return 2
    try:
        rule = load_rule(args.rule)
    except RulecastError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    status = exclusion_option.selection_error(args.exclusions, [rule])
    if status is not None:
        return status
    try:
        analysis = analyze(rule, "defender")
        analysis.node = apply_exclusions(analysis, args.exclusions)
        for warning in analysis.warnings:
            print(warning.render(), file=sys.stderr)
        module = python_module(analysis)
    except RulecastError as exc:
        print(exc.render(), file=sys.stderr)
        return 1

    paths: dict[str, str] = {}
    for spec in args.table:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            return usage_error(f"invalid --table '{spec}'; write it as NAME=PATH, e.g. CloudAppEvents=events.jsonl")
        if name not in module.TABLES:
            return usage_error(f"the rule does not read table '{name}'; it reads {', '.join(module.TABLES)}")
        if name in paths:
            return usage_error(f"table '{name}' is given twice")
        if not Path(path).is_file():
            return usage_error(f"{path}: file not found (given for table {name})")
        paths[name] = path
    missing = [t for t in module.TABLES if t not in paths]
    if missing:
        return usage_error("no input for table " + ", ".join(missing) + "; give each with --table NAME=PATH")
    now = None
    if args.now:
        try:
            now = parse_datetime(args.now)
        except LiteralError as exc:
            return usage_error(str(exc))

    errors = ErrorLog()
    progress = Progress(sum(file_size(p) for p in paths.values()))
    validate_all = args.strict or args.no_prefilter

    def table_reader(name: str):
        convert = module.COERCE[name]
        needles = module.PREFILTER.get(name, [])

        def diagnose(event):
            module.coerce(name, event)

        return lambda: read_rows(paths[name], convert, diagnose, errors, needles, validate_all, progress)

    tables = {name: table_reader(name) for name in module.TABLES}
    columns = [(name, kind) for name, kind in module.COLUMNS]
    rows = module.run_rows(tables, now)
    if args.strict:
        rows = list(rows)  # nothing is written unless every line is well-formed
        progress.finish()
        if errors.total:
            report(errors, "error")
            return 1
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
    try:
        count = write(out, args.format, columns, rows)
    finally:
        progress.finish()
        if out is not sys.stdout:
            out.close()
    report(errors, "warning")
    if args.output:
        print(f"rulecast run: wrote {count} row{'s' if count != 1 else ''} to {args.output}", file=sys.stderr)
    return 0


def report(errors, severity: str) -> None:
    for error in errors.reported:
        print(error.render(severity), file=sys.stderr)
    if errors.total > len(errors.reported):
        print(f"rulecast run: ... {errors.total - len(errors.reported)} more malformed lines not shown", file=sys.stderr)
    for path, count in errors.counts.items():
        verb = "rejected" if severity == "error" else "skipped"
        print(f"{path}: {count} malformed line{'s' if count != 1 else ''} {verb}", file=sys.stderr)


def write(out, fmt: str, columns, rows) -> int:
    """Write rows in the chosen format; return how many were written."""
    names = [name for name, _ in columns]
    count = 0
    if fmt == "jsonl":
        for row in rows:
            record = {name: json_value(row[name], kind) for name, kind in columns}
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
        return count
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            writer.writerow([cell_text(row[name], kind) for name, kind in columns])
            count += 1
        return count
    table = [[shorten(cell_text(row[name], kind)) for name, kind in columns] for row in rows]
    widths = [max([len(name)] + [len(r[i]) for r in table]) for i, name in enumerate(names)]
    out.write("  ".join(name.ljust(w) for name, w in zip(names, widths)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for cells in table:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(cells, widths)).rstrip() + "\n")
    out.write(f"({len(table)} row{'s' if len(table) != 1 else ''})\n")
    return len(table)


def shorten(text: str) -> str:
    text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def json_value(value, kind: str):
    """Return a value for JSON output: datetimes and timespans as KQL prints them."""
    from translator.values import format_datetime, format_timespan

    if value is None:
        return None
    if kind == "datetime":
        return format_datetime(value)
    if kind == "timespan":
        return format_timespan(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def cell_text(value, kind: str) -> str:
    """Return the text of one cell for csv and table output; null is empty."""
    from translator.values import format_datetime, format_timespan

    if value is None:
        return ""
    if kind == "datetime":
        return format_datetime(value)
    if kind == "timespan":
        return format_timespan(value)
    if kind == "dynamic":
        if isinstance(value, str):
            return value
        return json.dumps(_integral(value), ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return json_value(value, kind) if not math.isfinite(value) else repr(value)
    return str(value)


def _integral(value):
    """Write integral reals inside dynamic values without `.0`, as KQL does."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value
