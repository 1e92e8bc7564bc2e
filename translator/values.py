"""Literal values: datetimes and timespans as 100-ns ticks, and their text forms.

KQL datetimes are UTC with 100-ns resolution from 0001-01-01 to 9999-12-31.
Python's `datetime` stops at microseconds, so values are carried as integer
ticks since 0001-01-01T00:00:00Z and formatted here.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

TICKS_PER_SECOND = 10_000_000
TICKS_PER_DAY = 86_400 * TICKS_PER_SECOND
_EPOCH_0001 = datetime(1, 1, 1, tzinfo=timezone.utc)
# Ticks at 1970-01-01T00:00:00Z.
UNIX_EPOCH_TICKS = 621_355_968_000_000_000
MAX_TICKS = 3_155_378_975_999_999_999  # 9999-12-31T23:59:59.9999999Z

_ISO = re.compile(
    r"""^\s*(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})
    (?:[T\s](?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?)?
    \s*(?P<tz>Z|z|[+-]\d{2}:?\d{2}|UTC|GMT)?\s*$""",
    re.VERBOSE,
)
_US_DATE = re.compile(r"^\s*(?P<mo>\d{1,2})-(?P<d>\d{1,2})-(?P<y>\d{4})\s*$")


class LiteralError(ValueError):
    """An invalid literal; the message says what is wrong."""


def parse_datetime(text: str) -> int:
    """Parse the datetime text forms KQL accepts in rules and return ticks (UTC).

    Accepted: `2024-01-31`, `2024-01-31 13:45`, `2024-01-31T13:45:56.1234567Z`,
    with an optional `Z` or `+hh:mm` offset (converted to UTC), and the
    month-first `12-02-2022`. Raises `LiteralError` for anything else.
    """
    match = _ISO.match(text)
    if match is None:
        us = _US_DATE.match(text)
        if us is None:
            raise LiteralError(f"invalid datetime '{text}'; write it as ISO 8601, e.g. 2024-01-31T13:45:00Z")
        year, month, day = int(us["y"]), int(us["mo"]), int(us["d"])
        hour = minute = second = 0
        fraction = ""
        tz = None
    else:
        year, month, day = int(match["y"]), int(match["mo"]), int(match["d"])
        hour = int(match["h"] or 0)
        minute = int(match["mi"] or 0)
        second = int(match["s"] or 0)
        fraction = match["f"] or ""
        tz = match["tz"]
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError as exc:
        raise LiteralError(f"invalid datetime '{text}': {exc}") from None
    ticks = (moment - _EPOCH_0001) // timedelta(microseconds=1) * 10
    ticks += int((fraction + "0000000")[:7]) if fraction else 0
    if tz and tz not in ("Z", "z", "UTC", "GMT"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = (int(digits[:2]) * 60 + int(digits[2:])) * 60 * TICKS_PER_SECOND
        ticks -= sign * offset
    return ticks


def format_datetime(ticks: int) -> str:
    """Format ticks as ISO 8601 UTC with seven fractional digits, as KQL prints datetimes."""
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    return _format_seconds(seconds) + f".{fraction:07d}Z"


def _format_seconds(seconds: int) -> str:
    """Format whole seconds since 0001-01-01 as `YYYY-MM-DDTHH:MM:SS`.

    The year is written with four digits by hand: strftime("%Y") does not pad
    years below 1000 on every C library (glibc writes year 1 as `1`).
    """
    moment = _EPOCH_0001 + timedelta(seconds=seconds)
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"


def format_datetime_short(ticks: int) -> str:
    """Format ticks as the shortest exact ISO 8601 UTC text (no fraction when whole seconds)."""
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    text = _format_seconds(seconds)
    if fraction:
        text += "." + f"{fraction:07d}".rstrip("0")
    return text + "Z"


_TIMESPAN_UNITS = [
    (("days", "day", "d"), TICKS_PER_DAY),
    (("hours", "hour", "hrs", "hr", "h"), 3600 * TICKS_PER_SECOND),
    (("minutes", "minute", "min", "m"), 60 * TICKS_PER_SECOND),
    (("seconds", "second", "secs", "sec", "s"), TICKS_PER_SECOND),
    (("milliseconds", "millisecond", "millisec", "millis", "milli", "ms"), 10_000),
    (("microseconds", "microsecond", "microsec", "micros", "micro"), 10),
    (("ticks", "tick"), 1),
]
UNIT_TICKS = {name: ticks for names, ticks in _TIMESPAN_UNITS for name in names}
_TIMESPAN_LITERAL = re.compile(r"^(?P<n>\d+(?:\.\d+)?|\.\d+)(?P<unit>[A-Za-z]+)$")
_NANO_UNITS = ("nanoseconds", "nanosecond", "nanosec", "nanos", "nano")


def parse_timespan_literal(text: str) -> int:
    """Parse `1d`, `1.5h`, `30min`, `100ms`, `5tick` and friends into ticks."""
    match = _TIMESPAN_LITERAL.match(text)
    if match is None:
        raise LiteralError(f"invalid timespan '{text}'")
    number, unit = match["n"], match["unit"]
    if unit in _NANO_UNITS:
        # 100 nanoseconds make a tick, so only multiples of 100 are exact.
        value = float(number) / 100
    else:
        if unit not in UNIT_TICKS:
            raise LiteralError(f"invalid timespan unit '{unit}' in '{text}'")
        value = float(number) * UNIT_TICKS[unit] if "." in number else int(number) * UNIT_TICKS[unit]
    if isinstance(value, float) and value != int(value):
        raise LiteralError(f"timespan '{text}' is not a whole number of 100-ns ticks")
    return int(value)


_CLOCK = re.compile(r"^(?P<sign>-)?(?:(?P<d>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,7}))?)?$")


def parse_timespan_text(text: str) -> int:
    """Parse the argument of `timespan(...)`: `2d`, `1.5h`, `0.12:34:56.7`, or a number of days."""
    text = text.strip()
    clock = _CLOCK.match(text)
    if clock:
        ticks = int(clock["d"] or 0) * TICKS_PER_DAY
        ticks += int(clock["h"]) * 3600 * TICKS_PER_SECOND + int(clock["m"]) * 60 * TICKS_PER_SECOND
        ticks += int(clock["s"] or 0) * TICKS_PER_SECOND
        ticks += int(((clock["f"] or "") + "0000000")[:7])
        return -ticks if clock["sign"] else ticks
    if re.fullmatch(r"\d+", text):
        return int(text) * TICKS_PER_DAY
    return parse_timespan_literal(text)


def format_timespan_literal(ticks: int) -> str:
    """Format ticks as the shortest KQL timespan literal that is exact, e.g. `1d`, `90m`, `1500ms`."""
    if ticks == 0:
        return "0s"
    sign = "-" if ticks < 0 else ""
    magnitude = abs(ticks)
    for unit, size in (("d", TICKS_PER_DAY), ("h", 3600 * TICKS_PER_SECOND), ("m", 60 * TICKS_PER_SECOND),
                       ("s", TICKS_PER_SECOND), ("ms", 10_000), ("microsecond", 10), ("tick", 1)):
        if magnitude % size == 0:
            return f"{sign}{magnitude // size}{unit}"
    raise AssertionError("unreachable: every tick count divides by 1")


def format_timespan(ticks: int) -> str:
    """Format ticks as KQL prints a timespan: `[-][d.]hh:mm:ss[.fffffff]`."""
    sign = "-" if ticks < 0 else ""
    magnitude = abs(ticks)
    days, rest = divmod(magnitude, TICKS_PER_DAY)
    seconds, fraction = divmod(rest, TICKS_PER_SECOND)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if days:
        text = f"{days}.{text}"
    if fraction:
        text += f".{fraction:07d}"
    return sign + text
