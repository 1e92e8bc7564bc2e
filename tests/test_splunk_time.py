"""Datetimes and timespans in the Splunk target's SPL, run by the reference interpreter.

The search's `now()` is pinned to 2024-05-20T12:00:00Z (a Monday); every
expected value below is worked out by hand from the rule language's meaning.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).with_name("spl")))

from harness import compile_spl, rule_for, run_spl  # noqa: E402
from translator.diagnostics import RulecastError  # noqa: E402

NOW = 1_716_206_400  # 2024-05-20T12:00:00Z in seconds since 1970


def run(query: str, events: list[dict]) -> list[dict]:
    return run_spl(compile_spl(rule_for(query)), {"DeviceProcessEvents": events}, now=NOW)


def names(rows):
    return [row["FileName"] for row in rows]


WINDOW = [
    {"FileName": "boundary", "Timestamp": "2024-05-13T12:00:00Z"},
    {"FileName": "one-tick-after", "Timestamp": "2024-05-13T12:00:00.0000001Z"},
    {"FileName": "one-tick-before", "Timestamp": "2024-05-13T11:59:59.9999999Z"},
    {"FileName": "recent", "Timestamp": "2024-05-20T11:59:59Z"},
    {"FileName": "no-time"},
]


def test_ago_keeps_tick_precision():
    rows = run("DeviceProcessEvents | where Timestamp > ago(7d) | project FileName", WINDOW)
    assert names(rows) == ["one-tick-after", "recent"]


def test_ago_inclusive_bound():
    rows = run("DeviceProcessEvents | where Timestamp >= ago(7d) | project FileName", WINDOW)
    assert names(rows) == ["boundary", "one-tick-after", "recent"]


def test_not_of_a_null_time_comparison():
    # not(null > x) is null, so the event without a Timestamp is dropped here too.
    rows = run("DeviceProcessEvents | where not(Timestamp > ago(7d)) | project FileName", WINDOW)
    assert names(rows) == ["boundary", "one-tick-before"]


def test_datetime_equality_and_null():
    query = 'DeviceProcessEvents | where Timestamp != datetime(2024-05-13T12:00:00) | project FileName'
    # null != value is true, so "no-time" stays.
    assert names(run(query, WINDOW)) == ["one-tick-after", "one-tick-before", "recent", "no-time"]


def test_between_datetimes_is_inclusive():
    query = """
        DeviceProcessEvents
        | where Timestamp between (datetime(2024-05-13T12:00:00Z) .. datetime(2024-05-20T11:59:59Z))
        | project FileName
    """
    assert names(run(query, WINDOW)) == ["boundary", "one-tick-after", "recent"]


def test_comparison_of_two_columns():
    events = [
        {"FileName": "later", "Timestamp": "2024-05-20T10:00:00.0000002Z",
         "ProcessCreationTime": "2024-05-20T10:00:00.0000001Z"},
        {"FileName": "same", "Timestamp": "2024-05-20T10:00:00.1Z", "ProcessCreationTime": "2024-05-20T10:00:00.1000000Z"},
        {"FileName": "earlier", "Timestamp": "2023-01-01T00:00:00Z", "ProcessCreationTime": "2024-01-01T00:00:00Z"},
    ]
    query = "DeviceProcessEvents | where Timestamp > ProcessCreationTime | project FileName"
    assert names(run(query, events)) == ["later"]
    query = "DeviceProcessEvents | where Timestamp == ProcessCreationTime | project FileName"
    assert names(run(query, events)) == ["same"]


SHIFTS = [
    {"FileName": "fraction", "Timestamp": "2024-05-20T10:15:00.5Z"},
    {"FileName": "earlier-month", "Timestamp": "2024-05-01T11:05:00Z"},
    {"FileName": "leap", "Timestamp": "2024-02-28T23:30:00Z"},
    {"FileName": "no-leap", "Timestamp": "2023-02-28T23:30:00Z"},
    {"FileName": "before-1970", "Timestamp": "1969-12-31T23:59:59.5Z"},
]


def test_datetime_plus_timespan():
    rows = run("DeviceProcessEvents | project FileName, Later = Timestamp + 90m", SHIFTS)
    assert [(r["FileName"], r["Later"]) for r in rows] == [
        ("fraction", "2024-05-20T11:45:00.5000000Z"),
        ("earlier-month", "2024-05-01T12:35:00.0000000Z"),
        ("leap", "2024-02-29T01:00:00.0000000Z"),
        ("no-leap", "2023-03-01T01:00:00.0000000Z"),
        ("before-1970", "1970-01-01T01:29:59.5000000Z"),
    ]


def test_datetime_minus_datetime():
    query = "DeviceProcessEvents | project FileName, Age = Timestamp - datetime(2024-05-20T10:00:00Z)"
    rows = run(query, SHIFTS[:2])
    # 2024-05-20T10:00 - 2024-05-01T11:05 is 18 days 22 hours 55 minutes, negated.
    assert [(r["FileName"], r["Age"]) for r in rows] == [("fraction", "00:15:00.5000000"),
                                                         ("earlier-month", "-18.22:55:00")]


def test_timespan_comparison_and_arithmetic():
    events = [
        {"FileName": "slow", "Timestamp": "2024-05-20T10:00:00Z", "ProcessCreationTime": "2024-05-20T08:59:59.9999999Z"},
        {"FileName": "quick", "Timestamp": "2024-05-20T10:00:00Z", "ProcessCreationTime": "2024-05-20T09:00:00Z"},
        {"FileName": "no-start", "Timestamp": "2024-05-20T10:00:00Z"},
    ]
    query = "DeviceProcessEvents | where Timestamp - ProcessCreationTime > 30m * 2 | project FileName"
    assert names(run(query, events)) == ["slow"]
    query = "DeviceProcessEvents | project FileName, Half = (Timestamp - ProcessCreationTime) / 2"
    rows = run(query, events)
    # 1:00:00.0000001 / 2 truncates to 0:30:00.0000000; a null difference stays null.
    assert [(r["FileName"], r["Half"]) for r in rows] == [("slow", "00:30:00"), ("quick", "00:30:00"),
                                                         ("no-start", None)]


def test_now_is_one_instant():
    rows = run("DeviceProcessEvents | project FileName, At = now(), Before = ago(1d), After = now(1h)", SHIFTS[:1])
    assert rows == [{"FileName": "fraction", "At": "2024-05-20T12:00:00.0000000Z",
                     "Before": "2024-05-19T12:00:00.0000000Z", "After": "2024-05-20T13:00:00.0000000Z"}]


@pytest.mark.parametrize("size, expected", [
    ("1h", ["2024-05-20T10:00:00.0000000Z", "2024-05-01T11:00:00.0000000Z", "1969-12-31T23:00:00.0000000Z"]),
    # 0001-01-01 was a Monday, so 7-day bins start on Mondays: 2024-05-20 and 2024-04-29.
    ("7d", ["2024-05-20T00:00:00.0000000Z", "2024-04-29T00:00:00.0000000Z", "1969-12-29T00:00:00.0000000Z"]),
    ("100ms", ["2024-05-20T10:15:00.5000000Z", "2024-05-01T11:05:00.0000000Z", "1969-12-31T23:59:59.5000000Z"]),
])
def test_bin_rounds_down(size, expected):
    events = [SHIFTS[0], SHIFTS[1], SHIFTS[4]]
    rows = run(f"DeviceProcessEvents | project FileName, Bin = bin(Timestamp, {size})", events)
    assert [r["Bin"] for r in rows] == expected


def test_bin_of_numbers():
    events = [{"FileName": "a", "FileSize": 17}, {"FileName": "b", "FileSize": -7}, {"FileName": "c"}]
    rows = run("DeviceProcessEvents | project FileName, Bucket = bin(FileSize, 5)", events)
    assert [r["Bucket"] for r in rows] == [15, -10, None]


def test_summarize_by_bin_counts_per_hour():
    events = [
        {"FileName": "a", "Timestamp": "2024-05-20T10:15:00Z"},
        {"FileName": "b", "Timestamp": "2024-05-20T10:59:59.9999999Z"},
        {"FileName": "c", "Timestamp": "2024-05-20T11:00:00Z"},
        {"FileName": "d"},
    ]
    rows = run("DeviceProcessEvents | summarize n = count() by bin(Timestamp, 1h)", events)
    # The event without a Timestamp forms its own group with a null key.
    assert sorted((r["Timestamp"] or "", r["n"]) for r in rows) == [
        ("", 1), ("2024-05-20T10:00:00.0000000Z", 2), ("2024-05-20T11:00:00.0000000Z", 1)]


def test_sort_by_computed_datetime():
    rows = run("DeviceProcessEvents | extend Later = Timestamp + 1d | sort by Later desc | project FileName", SHIFTS)
    assert names(rows) == ["fraction", "earlier-month", "leap", "no-leap", "before-1970"]


def test_bin_by_long_uneven_size_is_not_translated():
    # 100000000001 ticks share no factor with a second's 10**7, so the remainder needs numbers past 2**53.
    with pytest.raises(RulecastError) as info:
        compile_spl(rule_for("DeviceProcessEvents | project b = bin(Timestamp, 100000000001tick)"))
    message = info.value.diagnostics[0].render()
    assert "does not translate bin() of a datetime by 100000000001tick" in message
    assert message.startswith("<probe>:5:")
