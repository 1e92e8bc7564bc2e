"""Runtime helpers of the Python target, inlined into every generated module.

The generator copies everything below the RUNTIME marker into each module it
writes, so the modules need only the standard library. The helpers implement
KQL's value semantics on the representation the generated code uses:

- `string` values are `str` and never null (an absent string is `""`);
- `long`/`int` are `int`, `real`/`decimal` are `float`, `bool` is `bool`;
- `datetime` is an `int` count of 100-ns ticks since 0001-01-01T00:00:00Z,
  `timespan` an `int` count of ticks;
- `dynamic` is a JSON value (`dict`, `list`, `str`, `int`, `float`, `bool`);
- `None` is the null of every type except `string`.

Predicates return `True`, `False` or `None` (KQL's null).
"""

import datetime as _dt
import ipaddress
import json
import math
import re
import time

# ---- RUNTIME ----------------------------------------------------------------

_TICKS_PER_SECOND = 10_000_000
_TICKS_PER_DAY = 86_400 * _TICKS_PER_SECOND
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_UNIX_EPOCH_TICKS = 621_355_968_000_000_000
_NOW = [None]  # the instant now() and ago() use, fixed for one run


class MalformedEvent(ValueError):
    """An input event whose value does not fit its column's type."""

    def __init__(self, column, message):
        super().__init__(f"column {column}: {message}")
        self.column = column
        self.message = message


# ---- input coercion: one JSON value to the column's type


def _describe(value):
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _in_string(value):
    if value is None:
        return ""
    if value.__class__ is str:
        return value
    raise TypeError(f"expected a string, got {_describe(value)}")


def _in_long(value):
    if value is None:
        return None
    cls = value.__class__
    if cls is int:
        if _LONG_MIN <= value <= _LONG_MAX:
            return value
        raise TypeError(f"{value} is out of the long range")
    if cls is float and value.is_integer() and _LONG_MIN <= value <= _LONG_MAX:
        return int(value)
    raise TypeError(f"expected an integer, got {_describe(value)}")


def _in_int(value):
    value = _in_long(value)
    if value is not None and not _INT_MIN <= value <= _INT_MAX:
        raise TypeError(f"{value} is out of the int range")
    return value


def _in_real(value):
    if value is None:
        return None
    cls = value.__class__
    if cls is float:
        return value
    if cls is int:
        return float(value)
    raise TypeError(f"expected a number, got {_describe(value)}")


def _in_bool(value):
    if value is None or value.__class__ is bool:
        return value
    raise TypeError(f"expected true or false, got {_describe(value)}")


def _in_datetime(value):
    if value is None:
        return None
    if value.__class__ is str:
        ticks = _parse_datetime(value)
        if ticks is not None:
            return ticks
    raise TypeError(f"expected a datetime such as 2024-05-01T12:34:56.1234567Z, got {_describe(value)}")


def _in_timespan(value):
    if value is None:
        return None
    if value.__class__ is str:
        ticks = _parse_timespan(value)
        if ticks is not None:
            return ticks
    raise TypeError(f"expected a timespan such as 1.02:03:04.5, got {_describe(value)}")


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _in_guid(value):
    if value is None:
        return None
    if value.__class__ is str and _GUID.match(value):
        return value.lower()
    raise TypeError(f"expected a GUID, got {_describe(value)}")


def _in_dynamic(value):
    return value


def _coerce_failure(event, converters):
    """Raise `MalformedEvent` for the first column whose value does not convert."""
    if not isinstance(event, dict):
        raise MalformedEvent("-", f"an event must be a JSON object, not {_describe(event)}")
    for column, convert in converters:
        try:
            convert(event.get(column))
        except TypeError as exc:
            raise MalformedEvent(column, str(exc)) from None
    raise AssertionError("conversion failed but no column fails on its own")


# ---- datetimes and timespans

_DATETIME = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r" ?(Z|z|[+-]\d{2}:?\d{2}|UTC|GMT)?"
)


def _parse_datetime(text):
    """Return the ticks (UTC) of an ISO 8601 datetime text, or None when it is not one.

    Offsets such as `+02:00` convert to UTC; a text without a zone is UTC.
    """
    match = _DATETIME.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        days = _dt.date(int(year), int(month), int(day)).toordinal() - 1
    except ValueError:
        return None
    hour, minute, second = int(hour or 0), int(minute or 0), int(second or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    ticks = days * _TICKS_PER_DAY + (hour * 3600 + minute * 60 + second) * _TICKS_PER_SECOND
    if fraction:
        ticks += int((fraction + "000000")[:7])
    if zone and zone not in ("Z", "z", "UTC", "GMT"):
        digits = zone[1:].replace(":", "")
        offset = (int(digits[:2]) * 60 + int(digits[2:])) * 60 * _TICKS_PER_SECOND
        ticks += -offset if zone[0] == "+" else offset
    return ticks


def _format_datetime(ticks):
    """Format ticks as KQL prints a datetime: `2024-05-01T12:34:56.1234567Z`."""
    if ticks is None:
        return None
    days, rest = divmod(ticks, _TICKS_PER_DAY)
    seconds, fraction = divmod(rest, _TICKS_PER_SECOND)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    date = _dt.date.fromordinal(days + 1).isoformat()
    return f"{date}T{hours:02d}:{minutes:02d}:{seconds:02d}.{fraction:07d}Z"


_TIMESPAN = re.compile(r"(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?")


def _parse_timespan(text):
    """Return the ticks of a `[-][d.]hh:mm[:ss[.fffffff]]` text, or None."""
    match = _TIMESPAN.fullmatch(text.strip())
    if match is None:
        return None
    sign, days, hours, minutes, seconds, fraction = match.groups()
    ticks = int(days or 0) * _TICKS_PER_DAY
    ticks += (int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)) * _TICKS_PER_SECOND
    ticks += int(((fraction or "") + "0000000")[:7])
    return -ticks if sign else ticks


def _format_timespan(ticks):
    """Format ticks as KQL prints a timespan: `[-][d.]hh:mm:ss[.fffffff]`."""
    if ticks is None:
        return None
    sign = "-" if ticks < 0 else ""
    days, rest = divmod(abs(ticks), _TICKS_PER_DAY)
    seconds, fraction = divmod(rest, _TICKS_PER_SECOND)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if days:
        text = f"{days}.{text}"
    if fraction:
        text += f".{fraction:07d}"
    return sign + text


def _now():
    if _NOW[0] is None:
        _NOW[0] = time.time_ns() // 100 + _UNIX_EPOCH_TICKS
    return _NOW[0]


# ---- text forms


def _real_text(value):
    # NOTE: KQL's formatting of reals is not documented; integral values print
    # without a fraction (as in parse_json's {"value":118}), others as Python's
    # shortest round-trip form.
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _json_ready(value):
    if value.__class__ is float:
        if value.is_integer() and abs(value) < 1e15:
            return int(value)
        return value
    if value.__class__ is list:
        return [_json_ready(v) for v in value]
    if value.__class__ is dict:
        return {k: _json_ready(v) for k, v in value.items()}
    return value


def _json_text(value):
    """Return compact JSON as KQL writes dynamic values (integral reals without `.0`)."""
    return json.dumps(_json_ready(value), ensure_ascii=False, separators=(",", ":"))


def _dyn_text(value):
    """Return the text string operators see for a dynamic value (None for null)."""
    if value is None or value.__class__ is str:
        return value
    if value.__class__ is bool:
        return "true" if value else "false"
    if value.__class__ is float:
        return _real_text(value)
    if value.__class__ is int:
        return str(value)
    return _json_text(value)


def _tostring_bool(value):
    return "" if value is None else ("True" if value else "False")


def _tostring_long(value):
    return "" if value is None else str(value)


def _tostring_real(value):
    return "" if value is None else _real_text(value)


def _tostring_datetime(value):
    return "" if value is None else _format_datetime(value)


def _tostring_timespan(value):
    return "" if value is None else _format_timespan(value)


def _tostring_dynamic(value):
    return "" if value is None else _dyn_text(value)


# ---- dynamic access and conversion


def _key(value, key):
    """`value.key` / `value["key"]`: null unless `value` is an object with that key."""
    if value.__class__ is dict:
        return value.get(key)
    return None


def _index(value, index):
    """`value[i]`, counting from the end when negative: null when out of range."""
    if value.__class__ is list and -len(value) <= index < len(value):
        return value[index]
    return None


_JSON = json.JSONDecoder(parse_constant=lambda name: _raise_value_error(name))


def _raise_value_error(name):
    raise ValueError(f"{name} is not JSON")


def _todynamic(value):
    """`todynamic(s)`: JSON parsed; invalid JSON stays the original string; `""` is null."""
    if value.__class__ is not str:
        return value
    if value == "":
        return None
    try:
        return _JSON.decode(value)
    except ValueError:
        return value


def _dyn_as_str(value):
    if value.__class__ is str:
        return value
    if value.__class__ in (dict, list):
        return _json_text(value)
    return None


def _dyn_as_number(value):
    if value.__class__ in (int, float):
        return value
    return None


def _dyn_as_bool(value):
    return value if value.__class__ is bool else None


def _dyn_as_datetime(value):
    return _parse_datetime(value) if value.__class__ is str else None


def _dyn_as_timespan(value):
    return _parse_timespan(value) if value.__class__ is str else None


# ---- comparison with KQL's null rules: `==` on one null operand is false, on two null;
# `!=` on one null operand is true, on two null; ordering with a null operand is null.


def _eq(a, b):
    if a is None or b is None:
        return None if a is None and b is None else False
    return a == b


def _ne(a, b):
    if a is None or b is None:
        return None if a is None and b is None else True
    return a != b


def _lt(a, b):
    return None if a is None or b is None else a < b


def _le(a, b):
    return None if a is None or b is None else a <= b


def _gt(a, b):
    return None if a is None or b is None else a > b


def _ge(a, b):
    return None if a is None or b is None else a >= b


def _between(value, low, high):
    if value is None or low is None or high is None:
        return None
    return low <= value <= high


def _in_list(value, candidates):
    """`value in (...)`: an OR of `==` over the candidates, with three-valued logic."""
    unknown = False
    for candidate in candidates:
        result = _eq(value, candidate)
        if result:
            return True
        unknown = unknown or result is None
    return None if unknown else False


# ---- three-valued logic


def _and3(*values):
    if False in values:
        return False
    return None if None in values else True


def _or3(*values):
    if True in values:
        return True
    return None if None in values else False


def _not3(value):
    return None if value is None else not value


# ---- string operators; a null (dynamic) operand makes them false


def _contains(text, needle):
    return text is not None and needle in text


def _contains_ci(text, needle_lower):
    return text is not None and needle_lower in text.lower()


def _startswith(text, needle):
    return text is not None and text.startswith(needle)


def _startswith_ci(text, needle_lower):
    return text is not None and text.lower().startswith(needle_lower)


def _endswith(text, needle):
    return text is not None and text.endswith(needle)


def _endswith_ci(text, needle_lower):
    return text is not None and text.lower().endswith(needle_lower)


def _equals(text, needle):
    return text is not None and text == needle


def _equals_ci(text, needle_lower):
    return text is not None and text.lower() == needle_lower


def _search(pattern, text):
    return text is not None and pattern.search(text) is not None


def _search_ci(pattern, text):
    return text is not None and pattern.search(text.lower()) is not None


_TERM_PATTERNS = {}


def _term_pattern(needle, leading=True, trailing=True):
    """Compile the `has` test for `needle`: an occurrence not inside a longer term.

    A term is a run of letters and digits. The edge test applies only on a side
    where the needle itself starts or ends with a term character.
    """
    key = (needle, leading, trailing)
    pattern = _TERM_PATTERNS.get(key)
    if pattern is None:
        text = re.escape(needle)
        if leading and needle[:1].isalnum():
            text = r"(?<![^\W_])" + text
        if trailing and needle[-1:].isalnum():
            text += r"(?![^\W_])"
        pattern = _TERM_PATTERNS[key] = re.compile(text)
    return pattern


def _string_match(kind, case_sensitive, text, needle):
    """Evaluate a string operator whose right-hand side is not a constant."""
    if text is None:
        return False
    if not case_sensitive:
        text, needle = text.lower(), needle.lower()
    if kind == "equals":
        return text == needle
    if kind == "contains":
        return needle in text
    if kind == "startswith":
        return text.startswith(needle)
    if kind == "endswith":
        return text.endswith(needle)
    leading = kind in ("has", "hasprefix")
    trailing = kind in ("has", "hassuffix")
    return _term_pattern(needle, leading, trailing).search(text) is not None


def _has_any(text, needles):
    if text is None:
        return False
    text = text.lower()
    return any(_term_pattern(n.lower()).search(text) for n in needles)


def _has_all(text, needles):
    if text is None:
        return not needles
    text = text.lower()
    return all(_term_pattern(n.lower()).search(text) for n in needles)


# ---- scalar functions


def _isempty(value):
    return value is None or value == ""


def _coalesce_string(*values):
    for value in values:
        if value != "":
            return value
    return ""


def _coalesce(*values):
    for value in values:
        if value is not None:
            return value
    return None


def _strcat(*texts):
    return "".join(texts)


def _strlen(text):
    return None if text is None else len(text)


def _lower(text):
    return "" if text is None else text.lower()


def _lower_or_null(text):
    return None if text is None else text.lower()


def _upper(text):
    return "" if text is None else text.upper()


def _array_length(value):
    return len(value) if value.__class__ is list else None


def _ipv6_value(text):
    """Parse IPv6 text, or IPv4 text as its IPv4-mapped IPv6 address (::ffff:a.b.c.d); None when neither.

    KQL's documentation compares IPv4 text as IPv4-mapped IPv6 in ipv6_compare();
    NOTE: ipv6_is_in_range() is documented for IPv6 text only, so IPv4 input follows ipv6_compare().
    """
    if text.__class__ is not str or "%" in text:  # a zone index (fe80::1%eth0) is not part of KQL's address syntax
        return None
    try:
        return int(ipaddress.IPv6Address(text))
    except ValueError:
        pass
    try:
        return 0xFFFF_0000_0000 | int(ipaddress.IPv4Address(text))
    except ValueError:
        return None


_IPV6_RANGES = {}


def _ipv6_range(text):
    """Return (prefix length, masked address) for `address/prefix` or a bare address; None when invalid."""
    if text.__class__ is not str:
        return None
    if text in _IPV6_RANGES:
        return _IPV6_RANGES[text]
    base, slash, prefix_text = text.partition("/")
    parsed = None
    address = _ipv6_value(base)
    if address is not None:
        ipv4 = ":" not in base
        limit = 32 if ipv4 else 128
        if not slash:
            prefix = limit
        elif prefix_text.isascii() and prefix_text.isdigit() and int(prefix_text) <= limit:
            prefix = int(prefix_text)
        else:
            prefix = None
        if prefix is not None:
            prefix += 96 if ipv4 else 0
            parsed = (prefix, address >> (128 - prefix))
    _IPV6_RANGES[text] = parsed
    return parsed


def _ipv6_is_in_range(address, network):
    """KQL ipv6_is_in_range(): whether the address is in the IP-prefix range; null when either text is invalid."""
    candidate = _ipv6_value(address)
    parsed = _ipv6_range(network)
    if candidate is None or parsed is None:
        return None
    prefix, masked = parsed
    return candidate >> (128 - prefix) == masked


_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_REAL_TEXT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _wrap_long(value):
    return (value - _LONG_MIN) % 2**64 + _LONG_MIN


def _tolong(value):
    """`tolong`: integers pass, reals truncate (saturating), integer text parses; else null."""
    cls = value.__class__
    if cls is int:
        return value
    if cls is bool:
        return int(value)
    if cls is float:
        if math.isnan(value) or math.isinf(value):
            return None
        return max(_LONG_MIN, min(_LONG_MAX, int(value)))
    if cls is str and _INTEGER_TEXT.fullmatch(value):
        return _wrap_long(int(value))
    return None


def _toint(value):
    """`toint`: as `tolong`, then integers wrap to 32 bits and reals saturate."""
    if value.__class__ is float:
        if math.isnan(value) or math.isinf(value):
            return None
        return max(_INT_MIN, min(_INT_MAX, int(value)))
    result = _tolong(value)
    if result is None:
        return None
    return (result - _INT_MIN) % 2**32 + _INT_MIN


def _todouble(value):
    cls = value.__class__
    if cls is float:
        return value
    if cls in (int, bool):
        return float(value)
    if cls is str and _REAL_TEXT.fullmatch(value):
        return float(value)
    return None


def _tobool(value):
    cls = value.__class__
    if cls is bool:
        return value
    if cls is int or cls is float:
        return None if cls is float and math.isnan(value) else value != 0
    if cls is str:
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
    return None


def _todatetime(value):
    if value.__class__ is str:
        return _parse_datetime(value)
    return None


def _totimespan(value):
    if value.__class__ is str:
        return _parse_timespan(value)
    return None


def _iff(condition, then, otherwise):
    return then if condition is True else otherwise


def _bin_long(value, size):
    if value is None or size is None or size <= 0:
        return None
    return value // size * size


def _bin_real(value, size):
    if value is None or size is None or size < 0:
        return None
    if size == 0:
        return math.nan
    return math.floor(value / size) * size


# ---- arithmetic: null in, null out; long results wrap at 64 bits


def _add(a, b):
    return None if a is None or b is None else _wrap_long(a + b)


def _sub(a, b):
    return None if a is None or b is None else _wrap_long(a - b)


def _mul(a, b):
    return None if a is None or b is None else _wrap_long(a * b)


def _div(a, b):
    """Integer division truncating toward zero; division by zero is null."""
    if a is None or b is None or b == 0:
        return None
    quotient = abs(a) // abs(b)
    return _wrap_long(-quotient if (a < 0) != (b < 0) else quotient)


def _mod(a, b):
    """KQL's `%` is never negative: `0 <= a % b < abs(b)`; modulo zero is null."""
    if a is None or b is None or b == 0:
        return None
    return a % abs(b)


def _add_real(a, b):
    return None if a is None or b is None else a + b


def _sub_real(a, b):
    return None if a is None or b is None else a - b


def _mul_real(a, b):
    return None if a is None or b is None else a * b


def _div_real(a, b):
    if a is None or b is None:
        return None
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _mod_real(a, b):
    if a is None or b is None:
        return None
    if b == 0:
        return math.nan
    return a % abs(b)


def _scale_timespan(ticks, factor):
    return None if ticks is None or factor is None else int(ticks * factor)


def _shrink_timespan(ticks, divisor):
    if ticks is None or divisor is None or divisor == 0:
        return None
    return int(ticks / divisor) if divisor.__class__ is float else _div(ticks, divisor)


def _neg(value):
    return None if value is None else -value


# ---- sorting: KQL puts nulls first when ascending and last when descending by
# default, and NaN next to null. Each key function ranks null, NaN and values so
# that a plain ascending sort (or reverse=True for descending) gives that order.


def _rank_nulls_low(value):
    if value is None:
        return (0,)
    if value != value:
        return (1,)
    return (2, value)


def _rank_nulls_high(value):
    if value is None:
        return (2,)
    if value != value:
        return (1,)
    return (0, value)


# ---- summarize: one accumulator object per aggregate and group


class _Count:
    def __init__(self):
        self.n = 0

    def add(self):
        self.n += 1

    def result(self):
        return self.n


class _CountIf(_Count):
    def add(self, condition):
        if condition is True:
            self.n += 1


class _DCount:
    def __init__(self):
        self.seen = set()

    def add(self, value):
        if value is not None:
            self.seen.add(_hashable(value))

    def result(self):
        return len(self.seen)


class _Sum:
    def __init__(self, zero):
        self.total = zero

    def add(self, value):
        if value is not None:
            self.total += value

    def result(self):
        return _wrap_long(self.total) if self.total.__class__ is int else self.total


class _Avg:
    def __init__(self, kind):
        self.kind = kind  # "real", or "ticks" for datetime and timespan
        self.total = 0
        self.n = 0

    def add(self, value):
        if value is not None:
            self.total += value
            self.n += 1

    def result(self):
        if self.n == 0:
            return math.nan if self.kind == "real" else None
        if self.kind == "ticks":
            return self.total // self.n
        return self.total / self.n


class _Min:
    def __init__(self, empty=None):
        self.value = None
        self.empty = empty

    def add(self, value):
        if value is not None and value == value and (self.value is None or value < self.value):
            self.value = value

    def result(self):
        return self.empty if self.value is None else self.value


class _Max(_Min):
    def add(self, value):
        if value is not None and value == value and (self.value is None or value > self.value):
            self.value = value


class _MakeSet:
    def __init__(self, limit):
        self.limit = limit
        self.seen = set()
        self.values = []

    def add(self, value):
        if value is None or len(self.values) >= self.limit:
            return
        key = _hashable(value)
        if key not in self.seen:
            self.seen.add(key)
            self.values.append(value)

    def result(self):
        return self.values


class _MakeList:
    def __init__(self, limit):
        self.limit = limit
        self.values = []

    def add(self, value):
        if value is not None and len(self.values) < self.limit:
            self.values.append(value)

    def result(self):
        return self.values


class _ArgExtreme:
    """`arg_max`/`arg_min`: the first row with the largest/smallest non-null value.

    Rows whose value is null count only when every row's value is null.
    """

    def __init__(self, largest, empty):
        self.largest = largest
        self.empty = empty  # the result for no rows: a null per column
        self.best = None
        self.carried = None

    def add(self, value, carried):
        if self.carried is None:
            self.best, self.carried = value, carried
            return
        if value is None or value != value:
            return
        if self.best is None or (value > self.best if self.largest else value < self.best):
            self.best, self.carried = value, carried

    def result(self):
        if self.carried is None:
            return self.empty
        return (self.best,) + self.carried


def _hashable(value):
    if value.__class__ in (dict, list):
        return (value.__class__.__name__, _json_text(value))
    if value.__class__ is bool:
        return ("bool", value)
    return value


# ---- joins


def _hash_join(kind, left, right, left_key, right_key, combine, null_left, null_right):
    """Join two row streams with KQL's join kinds; null keys match null keys.

    Both inputs are read in turn until one ends; the hash table is built on
    that one (the smaller) and the other is streamed, so memory is bounded by
    about twice the smaller side. `innerunique` keeps the first left row of
    each key. The output order follows the streamed side.
    """
    left_rows, right_rows = [], []
    left_iter, right_iter = iter(left), iter(right)
    build_left = None
    while build_left is None:
        row = next(left_iter, _END)
        if row is _END:
            build_left = True
            break
        left_rows.append(row)
        row = next(right_iter, _END)
        if row is _END:
            build_left = False
            break
        right_rows.append(row)
    if build_left:
        return _join_build_left(kind, left_rows, _chain(right_rows, right_iter), left_key, right_key,
                                combine, null_left, null_right)
    return _join_build_right(kind, _chain(left_rows, left_iter), right_rows, left_key, right_key,
                             combine, null_left, null_right)


_END = object()


def _chain(rows, rest):
    yield from rows
    rows.clear()
    yield from rest


def _group(rows, key_of, first_only=False):
    table = {}
    for row in rows:
        key = key_of(row)
        bucket = table.get(key)
        if bucket is None:
            table[key] = [row]
        elif not first_only:
            bucket.append(row)
    return table


def _join_build_left(kind, left_rows, right_stream, left_key, right_key, combine, null_left, null_right):
    table = _group(left_rows, left_key, first_only=kind == "innerunique")
    matched = set()
    for right_row in right_stream:
        key = right_key(right_row)
        bucket = table.get(key)
        if bucket is None:
            if kind in ("rightouter", "fullouter"):
                yield combine(null_left, right_row)
            elif kind == "rightanti":
                yield right_row
            continue
        matched.add(key)
        if kind in ("inner", "innerunique", "leftouter", "rightouter", "fullouter"):
            for left_row in bucket:
                yield combine(left_row, right_row)
        elif kind == "rightsemi":
            yield right_row
    if kind in ("leftouter", "fullouter", "leftsemi", "leftanti"):
        for left_row in left_rows:
            hit = left_key(left_row) in matched
            if kind == "leftsemi" and hit or kind == "leftanti" and not hit:
                yield left_row
            elif kind in ("leftouter", "fullouter") and not hit:
                yield combine(left_row, null_right)


def _join_build_right(kind, left_stream, right_rows, left_key, right_key, combine, null_left, null_right):
    table = _group(right_rows, right_key)
    matched = set()
    seen_left = set()
    for left_row in left_stream:
        key = left_key(left_row)
        bucket = table.get(key)
        if bucket is None:
            if kind in ("leftouter", "fullouter"):
                yield combine(left_row, null_right)
            elif kind == "leftanti":
                yield left_row
            continue
        if kind == "innerunique":
            # Only keys present on the right are tracked, so this set stays
            # within the size of the hash table.
            if key in seen_left:
                continue
            seen_left.add(key)
        matched.add(key)
        if kind in ("inner", "innerunique", "leftouter", "rightouter", "fullouter"):
            for right_row in bucket:
                yield combine(left_row, right_row)
        elif kind == "leftsemi":
            yield left_row
    if kind in ("rightouter", "fullouter", "rightsemi", "rightanti"):
        for right_row in right_rows:
            hit = right_key(right_row) in matched
            if kind == "rightsemi" and hit or kind == "rightanti" and not hit:
                yield right_row
            elif kind in ("rightouter", "fullouter") and not hit:
                yield combine(null_left, right_row)


def _source(tables, name):
    """Return a fresh iterable of the rows of table `name` (a callable is called)."""
    rows = tables.get(name, ())
    return rows() if callable(rows) else rows
