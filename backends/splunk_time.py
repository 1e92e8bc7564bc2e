"""SPL text for datetimes and timespans, exact to the 100-ns tick.

A datetime column arrives as ISO 8601 UTC text and stays text in the search.
For comparisons and arithmetic a datetime is split into two numbers:
whole seconds since 1970-01-01T00:00:00Z and the ticks within that second
(0 to 9,999,999). Splunk's eval numbers are IEEE doubles, which hold every
integer below 2**53 exactly but cannot hold ticks since 1970 (about 1.7e16)
in one number; the pair keeps tick precision for every year from 0001 to
9999. A timespan is one number of ticks, exact up to 2**53 ticks (about
28.5 years).

Formatting a second count back to text uses calendar arithmetic with
`floor()` rather than `strftime()`, because `strftime()` formats in the
time zone of the user running the search.
"""

from __future__ import annotations

import math

from translator.values import TICKS_PER_SECOND, UNIX_EPOCH_TICKS

# Seconds from 0001-01-01T00:00:00Z to 1970-01-01T00:00:00Z. bin() counts
# from 0001-01-01, as the rule language's evaluator does.
SECONDS_0001_TO_1970 = UNIX_EPOCH_TICKS // TICKS_PER_SECOND
TICKS = str(TICKS_PER_SECOND)

# An ISO datetime with up to seven fractional digits (more are cut), `T` and
# an optional `Z`, rewritten to `YYYY-MM-DDTHH:MM:SS.fffffff` by padding.
DATETIME_NORMAL = r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,7}))?\d*Z?\z"
DATETIME_REPLACEMENT = r"\1.\2"


def number(value: int) -> str:
    """An integer as an eval literal; the emitted grammar has no unary minus on literals."""
    return str(value) if value >= 0 else f"(0 - {-value})"


def split_ticks(ticks: int) -> tuple[int, int]:
    """Ticks since 0001-01-01 as (seconds since 1970, ticks within the second)."""
    seconds, fraction = divmod(ticks - UNIX_EPOCH_TICKS, TICKS_PER_SECOND)
    return seconds, fraction


def key_expression(text: str, quote) -> str:
    """The 27-character form of the datetime text `text`, whose text order is time order."""
    return f'substr(replace({text}, {quote(DATETIME_NORMAL)}, {quote(DATETIME_REPLACEMENT)}) . "0000000", 1, 27)'


def seconds_of_key(key: str) -> str:
    """Whole seconds since 1970 of a 27-character key; the explicit +0000 offset makes the time zone UTC."""
    return f'strptime(substr({key}, 1, 19) . "+0000", "%Y-%m-%dT%H:%M:%S%z")'


def fraction_of_key(key: str) -> str:
    return f"tonumber(substr({key}, 21, 7))"


def pad(value: str, width: int) -> str:
    """A non-negative integer as text with leading zeros to `width` digits."""
    return f'substr("{"0" * (width - 1)}" . {value}, -{width})'


def civil_fields(seconds: str, bind) -> dict[str, str]:
    """Year, month, day, hour, minute, second of a UTC second count, as helper fields.

    The day count to date conversion is Howard Hinnant's `civil_from_days`
    (proleptic Gregorian calendar), written with `floor()` so that it also
    holds before 1970. `bind(expression, stem)` stores an expression in a
    helper field and returns the field's name.
    """
    days = bind(f"floor({seconds} / 86400)", "days")
    clock = bind(f"{seconds} - {days} * 86400", "clock")
    shifted = bind(f"{days} + 719468", "z")
    era = bind(f"floor({shifted} / 146097)", "era")
    day_of_era = bind(f"{shifted} - {era} * 146097", "doe")
    year_of_era = bind(
        f"floor(({day_of_era} - floor({day_of_era} / 1460) + floor({day_of_era} / 36524) "
        f"- floor({day_of_era} / 146096)) / 365)", "yoe")
    day_of_year = bind(
        f"{day_of_era} - (365 * {year_of_era} + floor({year_of_era} / 4) - floor({year_of_era} / 100))", "doy")
    month_index = bind(f"floor((5 * {day_of_year} + 2) / 153)", "mp")
    day = bind(f"{day_of_year} - floor((153 * {month_index} + 2) / 5) + 1", "day")
    month = bind(f"if({month_index} < 10, {month_index} + 3, {month_index} - 9)", "month")
    year = bind(f"{year_of_era} + {era} * 400 + if({month} <= 2, 1, 0)", "year")
    hour = bind(f"floor({clock} / 3600)", "hour")
    minute = bind(f"floor({clock} / 60) - {hour} * 60", "minute")
    second = bind(f"{clock} - floor({clock} / 60) * 60", "second")
    return {"year": year, "month": month, "day": day, "hour": hour, "minute": minute, "second": second}


def format_datetime(seconds: str, fraction: str, bind) -> str:
    """ISO 8601 UTC text with seven fractional digits, as the rule language prints a datetime."""
    parts = civil_fields(seconds, bind)
    return (f'{pad(parts["year"], 4)} . "-" . {pad(parts["month"], 2)} . "-" . {pad(parts["day"], 2)} . "T" . '
            f'{pad(parts["hour"], 2)} . ":" . {pad(parts["minute"], 2)} . ":" . {pad(parts["second"], 2)} . "." . '
            f'{pad(fraction, 7)} . "Z"')


def format_timespan(ticks: str, bind) -> str:
    """A tick count as `[-][d.]hh:mm:ss[.fffffff]`, the rule language's printed form."""
    size = bind(f"if({ticks} < 0, 0 - {ticks}, {ticks})", "span")
    seconds = bind(f"floor({size} / {TICKS})", "spans")
    fraction = bind(f"{size} - {seconds} * {TICKS}", "spanf")
    days = bind(f"floor({seconds} / 86400)", "spand")
    clock = bind(f"{seconds} - {days} * 86400", "spanc")
    hours = f"floor({clock} / 3600)"
    minutes = f"floor({clock} / 60) - floor({clock} / 3600) * 60"
    secs = f"{clock} - floor({clock} / 60) * 60"
    return (f'if({ticks} < 0, "-", "") . if({days} > 0, {days} . ".", "") . {pad(hours, 2)} . ":" . '
            f'{pad(minutes, 2)} . ":" . {pad(secs, 2)} . if({fraction} > 0, "." . {pad(fraction, 7)}, "")')


def add_ticks(seconds: str, fraction: str, ticks: str, bind) -> tuple[str, str]:
    """A datetime pair plus a tick count (either sign), carried into whole seconds."""
    total = bind(f"{fraction} + {ticks}", "total")
    carry = bind(f"floor({total} / {TICKS})", "carry")
    return f"({seconds} + {carry})", f"({total} - {carry} * {TICKS})"


def bin_datetime(seconds: str, fraction: str, size: int, bind) -> tuple[str, str] | None:
    """Round a datetime pair down to a multiple of `size` ticks counted from 0001-01-01.

    Returns None when the remainder of a size that is not whole seconds needs
    numbers past 2**53, which eval's doubles do not hold exactly.
    """
    if size % TICKS_PER_SECOND == 0:
        step = size // TICKS_PER_SECOND
        since_0001 = f"{seconds} + {SECONDS_0001_TO_1970}"
        return f"(floor(({since_0001}) / {step}) * {step} - {SECONDS_0001_TO_1970})", "0"
    if TICKS_PER_SECOND % size == 0:
        return seconds, f"(floor({fraction} / {size}) * {size})"
    # The datetime is A * 10**7 + f ticks, with A whole seconds since 0001. With common = gcd(size, 10**7),
    # period = size / common and step = 10**7 / common, A * 10**7 mod size is
    # common * ((A mod period) * step mod period). Adding f and taking the remainder by size gives the
    # ticks to subtract.
    common = math.gcd(size, TICKS_PER_SECOND)
    period, step = size // common, TICKS_PER_SECOND // common
    if (period - 1) * step >= 2**53 or size + TICKS_PER_SECOND >= 2**53:
        return None
    since_0001 = bind(f"{seconds} + {SECONDS_0001_TO_1970}", "dts0")
    phase = bind(f"({since_0001} - floor({since_0001} / {period}) * {period}) * {step}", "phase")
    rest = bind(f"{common} * ({phase} - floor({phase} / {period}) * {period}) + {fraction}", "rest")
    remainder = bind(f"{rest} - floor({rest} / {size}) * {size}", "rem")
    return add_ticks(seconds, fraction, f"(0 - {remainder})", bind)


def difference_ticks(left: tuple[str, str], right: tuple[str, str]) -> str:
    """`left - right` in ticks.

    Exact while the difference is under 2**53 ticks (about 28.5 years); its
    sign is exact at any distance, since a nonzero second difference
    outweighs any fraction difference.
    """
    return f"(({left[0]} - ({right[0]})) * {TICKS} + ({left[1]} - ({right[1]})))"
