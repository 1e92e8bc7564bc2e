#!/usr/bin/env python3
"""Benchmark `rulecast run` (the Python target) against DuckDB on the same JSON Lines files.

Generates N events per table with `translator.sampledata` (cached under
--data-dir), then runs, each in a fresh child process so that peak memory is
that run's own (`os.wait4` rusage, ru_maxrss):

- join: the seed rule (CloudAppEvents joined with EmailEvents);
- selective: rules/cloudapp/mailbox_full_access_granted.yaml on CloudAppEvents;
- the same two queries written by hand in SQL for DuckDB (`read_json`).

Prints a Markdown table; the numbers in docs/benchmarks.md come from it.
Usage: python scripts/bench_run.py [--events 1000000] [--data-dir DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED_RULE = ROOT / "rules/email/high_confidence_phish_released.yaml"
SELECTIVE_RULE = ROOT / "rules/cloudapp/mailbox_full_access_granted.yaml"

# DuckDB versions of the two rules. json_valid guards json_extract, which fails
# on invalid JSON where KQL's todynamic() keeps the string; COALESCE(..., '')
# is KQL's tostring() of a missing value.
DUCKDB_JOIN = """
WITH releases AS (
    SELECT Timestamp AS ReleaseTime,
           json_extract(RawEventData, '$.ResultStatus') AS ResultStatus,
           ActionType,
           COALESCE(json_extract_string(RawEventData, '$.UserId'), '') AS ReleasedBy,
           COALESCE(json_extract_string(RawEventData, '$.NetworkMessageId'), '') AS NetworkMessageId,
           json_extract(RawEventData, '$.ReleaseTo') AS ReleaseTo
    FROM read_json({cloudapp}, format='newline_delimited',
                   columns={{Timestamp: 'VARCHAR', ActionType: 'VARCHAR', RawEventData: 'JSON'}})
    WHERE ActionType = 'QuarantineReleaseMessage'
), phish AS (
    SELECT * EXCLUDE (Timestamp), Timestamp AS EmailTime
    FROM read_json({email}, format='newline_delimited')
    WHERE json_valid(ConfidenceLevel) AND json_extract_string(ConfidenceLevel, '$.Phish') = 'High'
)
SELECT releases.*, phish.* EXCLUDE (NetworkMessageId)
FROM releases JOIN phish ON releases.NetworkMessageId = COALESCE(CAST(phish.NetworkMessageId AS VARCHAR), '')
ORDER BY ReleaseTime
"""

DUCKDB_SELECTIVE = """
SELECT Timestamp,
       COALESCE(json_extract_string(RawEventData, '$.UserId'), '') AS GrantedBy,
       COALESCE(json_extract_string(RawEventData, '$.ObjectId'), '') AS Mailbox,
       json_extract(RawEventData, '$.Parameters') AS Parameters,
       AccountDisplayName, IPAddress, CountryCode, ReportId
FROM read_json({cloudapp}, format='newline_delimited',
               columns={{Timestamp: 'VARCHAR', ActionType: 'VARCHAR', AccountDisplayName: 'VARCHAR',
                         IPAddress: 'VARCHAR', CountryCode: 'VARCHAR', ReportId: 'VARCHAR', RawEventData: 'JSON'}})
WHERE ActionType = 'Add-MailboxPermission'
  AND regexp_matches(lower(CAST(json_extract(RawEventData, '$.Parameters') AS VARCHAR)), '(^|[^[:alnum:]])fullaccess($|[^[:alnum:]])')
  AND json_extract_string(RawEventData, '$.ResultStatus') = 'Succeeded'
"""

DUCKDB_CHILD = """
import sys, duckdb
threads, query = int(sys.argv[1]), sys.argv[2]
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute("SET enable_progress_bar = false")
rows = con.execute(query).fetchall()
print(len(rows))
"""


def measure_wait4(command: list[str]) -> tuple[float, float, str]:
    """Run `command` as a child; return wall seconds, its own peak RSS in MiB, and stdout."""
    read_end, write_end = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.dup2(write_end, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.chdir(ROOT)
        os.execvp(command[0], command)
    os.close(write_end)
    chunks = []
    while True:
        data = os.read(read_end, 65536)
        if not data:
            break
        chunks.append(data)
    os.close(read_end)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed ({os.waitstatus_to_exitcode(status)}): {' '.join(command)}")
    return elapsed, usage.ru_maxrss / 1024, b"".join(chunks).decode()


def best_of(repeat: int, command: list[str]) -> tuple[float, float, str]:
    runs = [measure_wait4(command) for _ in range(repeat)]
    fastest = min(runs, key=lambda r: r[0])
    return fastest[0], max(r[1] for r in runs), fastest[2]


def ensure_data(directory: Path, events: int, seed: int) -> dict[str, Path]:
    from translator.sampledata import write_sample

    paths = {t: directory / f"{t}.jsonl" for t in ("CloudAppEvents", "EmailEvents")}
    marker = directory / f".complete-{events}-{seed}"
    if not marker.exists():
        print(f"generating {events:,} events per table in {directory} ...", file=sys.stderr)
        started = time.perf_counter()
        write_sample(directory, events, events, seed)
        marker.write_text("")
        print(f"  done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return paths


def sql_literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events per table (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1, help="sample data seed (default 1)")
    parser.add_argument("--data-dir", type=Path, help="where generated data is cached (default /tmp/rulecast-bench-N)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest is reported")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    directory = args.data_dir or Path(f"/tmp/rulecast-bench-{args.events}")
    paths = ensure_data(directory, args.events, args.seed)
    sizes = {t: p.stat().st_size for t, p in paths.items()}
    rulecast = [sys.executable, "-m", "translator"]
    output = directory / "out.jsonl"
    cases = [
        ("join (seed rule)", 2 * args.events,
         rulecast + ["run", str(SEED_RULE), "--table", f"CloudAppEvents={paths['CloudAppEvents']}",
                     "--table", f"EmailEvents={paths['EmailEvents']}", "-f", "jsonl", "-o", str(output)],
         DUCKDB_JOIN.format(cloudapp=sql_literal(paths["CloudAppEvents"]), email=sql_literal(paths["EmailEvents"]))),
        ("selective single table", args.events,
         rulecast + ["run", str(SELECTIVE_RULE), "--table", f"CloudAppEvents={paths['CloudAppEvents']}",
                     "-f", "jsonl", "-o", str(output)],
         DUCKDB_SELECTIVE.format(cloudapp=sql_literal(paths["CloudAppEvents"]))),
    ]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, {platform.platform()}")
    print(f"data: {args.events:,} events per table, CloudAppEvents {sizes['CloudAppEvents'] / 1e6:,.0f} MB, "
          f"EmailEvents {sizes['EmailEvents'] / 1e6:,.0f} MB (page cache warm after the first run)")
    print()
    print("| rule | engine | rows | seconds | events/s | peak RSS MiB |")
    print("|---|---|---:|---:|---:|---:|")
    for name, events, command, sql in cases:
        seconds, rss, _ = best_of(args.repeat, command)
        rows = sum(1 for _ in output.open(encoding="utf-8"))
        print(f"| {name} | rulecast run (1 process) | {rows} | {seconds:.2f} | {events / seconds:,.0f} | {rss:.0f} |")
        for threads in (1, os.cpu_count() or 1):
            child = [sys.executable, "-c", DUCKDB_CHILD, str(threads), sql]
            seconds, rss, stdout = best_of(args.repeat, child)
            duck_rows = int(stdout.strip())
            note = "" if duck_rows == rows else f" (differs from rulecast's {rows})"
            print(f"| {name} | DuckDB, {threads} thread{'s' if threads != 1 else ''} | {duck_rows}{note} | "
                  f"{seconds:.2f} | {events / seconds:,.0f} | {rss:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
