"""The scalar function signature table: argument checks and result types.

Each function takes a list of argument types and returns the result type, or
raises `SignatureError` with a message naming what is wrong. Functions outside
this table are resolve errors; KQL functions known to exist but outside the
supported subset get a "not supported" message instead of "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from translator.types import Type, widest_numeric


class SignatureError(Exception):
    pass


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int
    result: Callable[[Sequence[Type]], Type]
    # Whether an unnamed `project f(c)` keeps the name of column `c`, as KQL does
    # for conversions and `bin`.
    keeps_name: bool = False
    # The prefix an unnamed `project f(c)` puts before the name of column `c`
    # (Kusto.Language names `strlen(Subject)` `strlen_Subject`); other functions
    # give a generated `ColumnN`.
    name_prefix: str | None = None


def _fixed(result: Type, *accepted: frozenset[Type] | None) -> Callable[[Sequence[Type]], Type]:
    def check(args: Sequence[Type]) -> Type:
        for position, (arg, allowed) in enumerate(zip(args, accepted), start=1):
            if allowed is not None and arg not in allowed:
                names = ", ".join(sorted(str(t) for t in allowed))
                raise SignatureError(f"argument {position} must be of type {names}, not {arg}")
        return result

    return check


ANY = None
STRINGISH = frozenset({Type.STRING, Type.DYNAMIC})


def _coalesce(args: Sequence[Type]) -> Type:
    return _common_type(args, "coalesce")


def _iff(args: Sequence[Type]) -> Type:
    if args[0] is not Type.BOOL:
        raise SignatureError(f"the condition of iff must be bool, not {args[0]}")
    return _common_type(args[1:], "iff")


def _common_type(types: Sequence[Type], name: str) -> Type:
    first = types[0]
    result = first
    for other in types[1:]:
        if result.is_numeric and other.is_numeric:
            result = widest_numeric(result, other) if result is not other else result
        elif other is not result:
            raise SignatureError(f"all arguments of {name} must have the same type; found {first} and {other}")
    return result


def _bin(args: Sequence[Type]) -> Type:
    value, size = args
    if value.is_numeric and size.is_numeric:
        return Type.LONG if value is Type.INT else value
    if value is Type.DATETIME and size is Type.TIMESPAN:
        return Type.DATETIME
    if value is Type.TIMESPAN and size is Type.TIMESPAN:
        return Type.TIMESPAN
    raise SignatureError(f"bin needs a number, datetime or timespan and a matching bin size, not {value} and {size}")


def _now(args: Sequence[Type]) -> Type:
    if args and args[0] is not Type.TIMESPAN:
        raise SignatureError(f"now takes a timespan offset, not {args[0]}")
    return Type.DATETIME


def _not_dynamic_convert(result: Type) -> Callable[[Sequence[Type]], Type]:
    return lambda args: result


FUNCTIONS: dict[str, Function] = {}


def _add(function: Function, *aliases: str) -> None:
    FUNCTIONS[function.name] = function
    for alias in aliases:
        FUNCTIONS[alias] = function


_add(Function("tostring", 1, 1, _not_dynamic_convert(Type.STRING), keeps_name=True))
_add(Function("toint", 1, 1, _not_dynamic_convert(Type.INT), keeps_name=True))
_add(Function("tolong", 1, 1, _not_dynamic_convert(Type.LONG), keeps_name=True))
_add(Function("todouble", 1, 1, _not_dynamic_convert(Type.REAL), keeps_name=True), "toreal")
_add(Function("tobool", 1, 1, _not_dynamic_convert(Type.BOOL), keeps_name=True), "toboolean")
_add(Function("todatetime", 1, 1, _not_dynamic_convert(Type.DATETIME), keeps_name=True))
_add(Function("totimespan", 1, 1, _not_dynamic_convert(Type.TIMESPAN), keeps_name=True), "totime")
_add(Function("todynamic", 1, 1, _fixed(Type.DYNAMIC, STRINGISH), keeps_name=True), "parse_json", "parsejson", "toobject")
_add(Function("tolower", 1, 1, _fixed(Type.STRING, STRINGISH)))
_add(Function("toupper", 1, 1, _fixed(Type.STRING, STRINGISH)))
_add(Function("strlen", 1, 1, _fixed(Type.LONG, STRINGISH), name_prefix="strlen_"))
_add(Function("isempty", 1, 1, _fixed(Type.BOOL, ANY)))
_add(Function("isnotempty", 1, 1, _fixed(Type.BOOL, ANY)))
_add(Function("isnull", 1, 1, _fixed(Type.BOOL, ANY)))
_add(Function("isnotnull", 1, 1, _fixed(Type.BOOL, ANY)))
_add(Function("coalesce", 2, 64, _coalesce))
_add(Function("iff", 3, 3, _iff), "iif")
_add(Function("strcat", 1, 64, lambda args: Type.STRING))
_add(Function("ago", 1, 1, _fixed(Type.DATETIME, frozenset({Type.TIMESPAN}))))
_add(Function("now", 0, 1, _now))
_add(Function("bin", 2, 2, _bin, keeps_name=True), "floor")
_add(Function("array_length", 1, 1, _fixed(Type.LONG, frozenset({Type.DYNAMIC}))))
# IPv6 network membership, for Sigma's `cidr` modifier (IPv4 networks compile to
# an exact regex, which every target has; IPv6 text has too many spellings).
# The splunk target rejects it (see backends/splunk_spl.py).
_add(Function("ipv6_is_in_range", 2, 2, _fixed(Type.BOOL, STRINGISH, frozenset({Type.STRING}))))

AGGREGATE_FUNCTIONS = {
    "count", "countif", "dcount", "min", "max", "sum", "avg", "make_set", "make_list", "arg_max", "arg_min",
}

# KQL functions that exist but that rulecast does not translate.
KNOWN_UNSUPPORTED = {
    "extract", "extract_all", "split", "substring", "trim", "trim_start", "trim_end", "replace_string", "replace_regex",
    "indexof", "countof", "parse_url", "parse_path", "parse_command_line", "base64_decode_tostring", "base64_encode_tostring",
    "format_datetime", "datetime_diff", "datetime_add", "startofday", "endofday", "dayofweek", "hourofday", "getmonth",
    "getyear", "round", "abs", "log", "pow", "sqrt", "hash", "hash_sha256", "ipv4_is_private", "ipv4_is_in_range",
    "ipv4_is_match", "ipv6_is_match", "geo_info_from_ip_address", "bag_keys", "bag_pack", "pack", "pack_array",
    "array_concat", "set_union", "set_intersect", "set_difference", "array_index_of", "tohex", "gettype", "strcat_delim",
    "make_bag", "make_datetime", "unixtime_seconds_todatetime", "todecimal", "toguid", "parse_xml", "url_decode",
    "dcountif", "sumif", "avgif", "maxif", "minif", "take_any", "any", "stdev", "variance", "percentile",
    "percentiles", "make_set_if", "make_list_if", "make_list_with_nulls", "count_distinct", "binary_and", "binary_or",
    "reverse", "strrep", "string_size", "case", "max_of", "min_of", "next", "prev", "row_number", "series_stats",
    "array_sort_asc", "array_sort_desc", "zip", "has_any_index", "column_ifexists", "materialize", "toscalar",
}
