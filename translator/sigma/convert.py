r"""Translate pySigma's detection tree into rulecast IR predicates.

Sigma's matching rules, kept exactly:

- Strings match case-insensitively unless the value is `|cased`.
- `*` matches any run of characters (newlines included) and `?` exactly one,
  anywhere in a value. pySigma has already read Sigma's backslash escapes:
  `\\*` arrives as a backslash followed by a wildcard, and `\*` as a literal
  asterisk. A value with wildcards only at its ends becomes
  `contains`, `startswith` or `endswith`; any other wildcard becomes an
  anchored regex with `(?i)` (unless cased) and `(?s)`.
- Lists are OR, maps are AND; `all`, `windash`, `base64offset` and the other
  value modifiers arrive expanded from pySigma.
- `null` is an empty string column (KQL reads an absent string as empty) and
  a null value of any other type; `exists` is its negation.
- `re` is a regex search, case-sensitive unless `|i`; the `m` and `s` flags
  become inline flags.
- `cidr` is an exact anchored regex over the dotted-decimal text for IPv4,
  and `coalesce(ipv6_is_in_range(...), false)` for IPv6, so that text which
  is not an address is outside every network.
- `fieldref` compares two fields case-insensitively.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from translator import ir
from translator.regex import check as check_kql_regex
from translator.sigma.mapping import FieldSpec, LogSourceEntry, Mapping, NativeTable, Refusal
from translator.types import Type

TRUE = ir.Literal(True, Type.BOOL)
_REGEX_META = set("\\.+*?()|[]{}^$")
_COMPARE_OPS = {
    CompareOperators.LT: "<",
    CompareOperators.LTE: "<=",
    CompareOperators.GT: ">",
    CompareOperators.GTE: ">=",
    CompareOperators.NEQ: "!=",
}
_ROOT_SPELLINGS = re.compile(r"(?i)\b(hklm|hkcu|hkcr|hku)\\")
_REGISTRY_TYPE_SPELLINGS = re.compile(r"(?i)\b(dword|qword) \(0x|binary data|\(empty\)")


def escape_regex(text: str) -> str:
    """Escape `text` for a regex that KQL (RE2/Rust), PCRE and Python read alike."""
    return "".join("\\" + char if char in _REGEX_META else _escape_control(char) for char in text)


def _escape_control(char: str) -> str:
    code = ord(char)
    if code < 32 or code == 127:
        return f"\\x{code:02x}"
    return char


def string(value: str) -> ir.Literal:
    return ir.Literal(value, Type.STRING)


def call(name: str, *args: ir.Expr, type_: Type = Type.BOOL) -> ir.Call:
    return ir.Call(name, tuple(args), type_)


def logical(op: str, operands: list[ir.Expr]) -> ir.Expr:
    flat: list[ir.Expr] = []
    for operand in operands:
        if isinstance(operand, ir.Logical) and operand.op == op:
            flat.extend(operand.operands)
        else:
            flat.append(operand)
    if len(flat) == 1:
        return flat[0]
    return ir.Logical(op, tuple(flat))


class Translator:
    """Translates one rule's conditions for one target and log source."""

    def __init__(
        self,
        mapping: Mapping,
        entry: LogSourceEntry,
        table: NativeTable,
        placeholders: dict[str, list[str]] | None = None,
    ):
        self.mapping = mapping
        self.entry = entry
        self.table = table
        self.columns = {c.name: c for c in table.columns}
        self.placeholders = placeholders or {}
        self.open_fields: dict[str, ir.Column] = {}
        self.used: dict[str, Type] = {}  # every column read, with its type

    # ------------------------------------------------------------ tables

    def source(self) -> ir.Source:
        columns = tuple(self.table.columns) + tuple(c for n, c in sorted(self.open_fields.items()))
        return ir.Source(self.table.name, columns)

    def column(self, name: str) -> ir.ColumnRef:
        column = self.columns.get(name)
        if column is not None:
            self.used[column.name] = column.type
            return ir.ColumnRef(column.name, column.type)
        if self.table.open:
            column = self.open_fields.setdefault(name, ir.Column(name, Type.DYNAMIC))
            return ir.ColumnRef(column.name, column.type)
        raise Refusal(
            f"field '{name}' is not a column of {self.table.name} (log source {self.entry.describe()})",
            "unmapped field",
            field=name,
        )

    def field(self, name: str) -> tuple[ir.Expr, FieldSpec]:
        spec = self.mapping.field(self.entry, name)
        try:
            if spec.hashes:
                # The columns are chosen per value, by the algorithm the value names.
                return ir.Literal("", Type.STRING), spec
            if spec.column:
                return self.column(spec.column), spec
            if spec.concat:
                parts = [self.column(p[1:]) if p.startswith("$") else string(p) for p in spec.concat]
                return call("strcat", *parts, type_=Type.STRING), spec
            if spec.join:
                first, second = (self.column(p[1:]) for p in spec.join)
                joined = call("strcat", first, string(spec.separator), second, type_=Type.STRING)
                return call("iff", call("isempty", second), first, joined, type_=Type.STRING), spec
            if spec.json:
                return self.json_key(spec.json[0][1:], spec.json[1]), spec
        except Refusal as exc:
            if self.mapping.identity and spec.column == name:
                raise
            raise Refusal(f"field '{name}' maps to {exc.message}", exc.kind, field=name) from None
        raise Refusal(f"field '{name}' has an empty mapping in {self.mapping.path}", "unmapped field", field=name)

    def json_key(self, name: str, key: str) -> ir.Expr:
        """Return the text of `key` in the JSON object stored in column `name`.

        Defender XDR stores such a column as text, so it is parsed with
        `todynamic()` (KQL's `parse_json()`). Sentinel stores it as dynamic and
        reads the key directly. A missing key reads as the empty string, as an
        absent text column does.
        """
        column = self.column(name)
        if column.type is Type.STRING:
            base: ir.Expr = call("todynamic", column, type_=Type.DYNAMIC)
        elif column.type is Type.DYNAMIC:
            base = column
        else:
            raise Refusal(f"column '{name}' of {self.table.name} is {column.type}, not text or dynamic, "
                          "so it cannot contain a JSON object", "unmapped field", field=name)
        return call("tostring", ir.Path(base, (key,), Type.DYNAMIC), type_=Type.STRING)

    def where(self) -> list[ir.Expr]:
        """Return the conditions a log source adds to select its events from a shared table."""
        predicates: list[ir.Expr] = []
        for name, value in self.entry.where.items():
            column = self.column(name)
            values = value if isinstance(value, list) else [value]
            if column.type in (Type.LONG, Type.INT):
                literals = tuple(ir.Literal(int(v), Type.LONG) for v in values)
            else:
                literals = tuple(string(str(v)) for v in values)
            if len(literals) == 1:
                predicates.append(ir.Compare("==", column, literals[0]))
            else:
                predicates.append(ir.InList(column, literals, True))
        return predicates

    # ------------------------------------------------------------ conditions

    def condition(self, node: Any) -> ir.Expr:
        if isinstance(node, ConditionOR):
            return logical("or", [self.condition(a) for a in node.args])
        if isinstance(node, ConditionAND):
            return logical("and", [self.condition(a) for a in node.args])
        if isinstance(node, ConditionNOT):
            return ir.Not(self.condition(node.args[0]))
        if isinstance(node, ConditionFieldEqualsValueExpression):
            return self.field_match(node.field, node.value)
        if isinstance(node, ConditionValueExpression):
            return self.keyword(node.value)
        raise Refusal(f"unsupported condition element {type(node).__name__}", "unsupported construct")

    def field_match(self, name: str, value: Any) -> ir.Expr:
        if isinstance(value, SigmaExpansion):
            return logical("or", [self.field_match(name, v) for v in value.values])
        expr, spec = self.field(name)
        if spec.hashes:
            return self.hash_match(name, spec, value)
        return self.value_match(name, expr, spec, value)

    def hash_match(self, name: str, spec: FieldSpec, value: Any) -> ir.Expr:
        """Read a value of Sysmon's `Hashes` list (`ALGO=HEX`) as a test of one hash column."""
        if not isinstance(value, SigmaString):
            raise Refusal(f"field '{name}' translates only ALGORITHM=HASH text values", "value without a translation",
                          field=name)
        parts = [p for p in value.s if p != ""]
        while parts and parts[0] is SpecialChars.WILDCARD_MULTI:
            parts.pop(0)
        while parts and parts[-1] is SpecialChars.WILDCARD_MULTI:
            parts.pop()
        text = _plain(parts)
        match = re.fullmatch(r"([A-Za-z0-9]+)=([0-9A-Fa-f]+)", text or "")
        lengths = {"MD5": 32, "SHA1": 40, "SHA256": 64}
        if not match:
            raise Refusal(f"field '{name}': value '{_display(list(value.s))}' is not of the form ALGORITHM=HASH",
                          "value without a translation", field=name)
        algorithm, digest = match.group(1).upper(), match.group(2)
        column = {k.upper(): v for k, v in spec.hashes.items()}.get(algorithm)
        if column is None or len(digest) != lengths.get(algorithm, -1):
            raise Refusal(f"field '{name}': {algorithm} hashes have no {self.mapping.target} column",
                          "value without a translation", field=name)
        return ir.StringMatch("equals", self.column(column), string(digest), False)

    def value_match(self, name: str, expr: ir.Expr, spec: FieldSpec, value: Any) -> ir.Expr:
        if isinstance(value, SigmaString):
            return logical("or", [self.string_match(name, expr, spec, v, isinstance(value, SigmaCasedString))
                                  for v in self.expand(value)])
        if isinstance(value, SigmaTimestampPart):
            raise Refusal(f"field '{name}': the time-part modifiers (minute, hour, day, week, month, year) are not supported",
                          "unsupported modifier", field=name)
        if isinstance(value, SigmaNumber):
            return self.number_match(name, expr, spec, value.number)
        if isinstance(value, SigmaBool):
            if expr.type is Type.BOOL:
                return ir.Compare("==", expr, ir.Literal(bool(value), Type.BOOL))
            return self.text_equals(expr, "true" if value else "false", False)
        if isinstance(value, SigmaNull):
            return self.is_null(expr)
        if isinstance(value, SigmaExists):
            test = self.is_null(expr)
            return ir.Not(test) if value.exists else test
        if isinstance(value, SigmaRegularExpression):
            return self.regex_match(name, expr, spec, value)
        if isinstance(value, SigmaCIDRExpression):
            return self.cidr_match(name, expr, spec, value)
        if isinstance(value, SigmaCompareExpression):
            return self.compare(name, expr, value)
        if isinstance(value, SigmaFieldReference):
            return self.field_reference(name, expr, value)
        raise Refusal(f"field '{name}': unsupported value type {type(value).__name__}", "unsupported construct", field=name)

    # ------------------------------------------------------------ strings

    def expand(self, value: SigmaString) -> list[SigmaString]:
        if not value.contains_placeholder():
            return [value]
        missing = sorted({p.name for p in value.s if isinstance(p, Placeholder) and p.name not in self.placeholders})
        if missing:
            names = ", ".join(f"%{m}%" for m in missing)
            raise Refusal(
                f"placeholder {names} needs values",
                "expand placeholder without values",
                f"supply them with --sigma-placeholder {missing[0]}=VALUE1,VALUE2 or --sigma-placeholders FILE.yaml",
            )

        def values(placeholder: Placeholder):
            for item in self.placeholders[placeholder.name]:
                yield SigmaString(item)

        expanded = value.replace_placeholders(values)
        if isinstance(value, SigmaCasedString):
            expanded = [SigmaCasedString.from_sigma_string(v) for v in expanded]
        return expanded

    def string_match(self, name: str, expr: ir.Expr, spec: FieldSpec, value: SigmaString, cased: bool) -> ir.Expr:
        parts = list(value.s)
        parts = self.rewrite_parts(name, spec, parts)
        if len(parts) == 1 and isinstance(parts[0], _Dword):
            return logical("and", [ir.Compare("==", self.column(parts[0].type_column), string("Dword")),
                                   ir.Compare("==", expr, string(parts[0].text))])
        if spec.values is not None:
            return self.value_table(name, expr, spec, parts, cased)
        if expr.type is not Type.STRING:
            text = _plain(parts)
            if text is not None and expr.type in (Type.LONG, Type.INT) and re.fullmatch(r"-?\d+", text):
                return ir.Compare("==", expr, ir.Literal(int(text), Type.LONG))
            if text is not None and expr.type is Type.BOOL and text.lower() in ("true", "false"):
                return ir.Compare("==", expr, ir.Literal(text.lower() == "true", Type.BOOL))
            expr = call("tostring", expr, type_=Type.STRING)
        return pattern_match(expr, parts, cased)

    def rewrite_parts(self, name: str, spec: FieldSpec, parts: list) -> list:
        if spec.prepend:
            # The column contains the prefix followed by the Sigma value. Matching
            # prefix + pattern, anchored at the start, keeps a leading `*` from
            # matching text inside the prefix.
            parts = [spec.prepend + parts[0]] + parts[1:] if parts and isinstance(parts[0], str) \
                else [spec.prepend] + parts
        if spec.prefixes:
            first = next((i for i, p in enumerate(parts) if isinstance(p, str)), None)
            if first is not None and all(p is SpecialChars.WILDCARD_MULTI for p in parts[:first]):
                text = parts[first]
                for short, long in spec.prefixes.items():
                    if text.lower().startswith(short.lower()):
                        parts = parts[:first] + [long + text[len(short):]] + parts[first + 1:]
                        break
            for part in parts:
                if isinstance(part, str) and _ROOT_SPELLINGS.search(part):
                    raise Refusal(
                        f"field '{name}': value '{_display(parts)}' spells a registry root the way Sysmon does, "
                        f"and the {self.mapping.target} column spells it differently",
                        "value without a translation", field=name,
                    )
        if spec.dword:
            text = _plain(parts)
            core = _plain([p for p in parts if p is not SpecialChars.WILDCARD_MULTI])
            dword = re.fullmatch(r"(?i)DWORD \(0x([0-9a-f]{8})\)", core or "")
            if dword and int(dword.group(1), 16) < 0x80000000 and _ends_only(parts):
                # Sysmon writes the whole value this way, so any match of the full
                # spelling (exact, contains, starts or ends with) is an exact match.
                return [_Dword(spec.dword, str(int(dword.group(1), 16)))]
            if text is not None and text.lower() == "(empty)":
                return [""]
            for part in parts:
                if isinstance(part, str) and _REGISTRY_TYPE_SPELLINGS.search(part):
                    raise Refusal(
                        f"field '{name}': value '{_display(parts)}' uses Sysmon's spelling of registry data, "
                        f"which has no documented {self.mapping.target} equivalent",
                        "value without a translation", field=name,
                    )
        return parts

    def value_table(self, name: str, expr: ir.Expr, spec: FieldSpec, parts: list, cased: bool) -> ir.Expr:
        text = _plain(parts)
        if text is None:
            raise Refusal(f"field '{name}' translates only exact values, not '{_display(parts)}'",
                          "value without a translation", field=name)
        table = {str(k).lower(): v for k, v in spec.values.items()}
        if text.lower() not in table:
            raise Refusal(f"field '{name}': value '{text}' has no {self.mapping.target} translation",
                          "value without a translation", field=name)
        target = table[text.lower()]
        if isinstance(target, list):
            return ir.InList(expr, tuple(string(str(v)) for v in target), True)
        return ir.Compare("==", expr, string(str(target)))

    def text_equals(self, expr: ir.Expr, text: str, cased: bool) -> ir.Expr:
        if expr.type is not Type.STRING:
            expr = call("tostring", expr, type_=Type.STRING)
        return ir.StringMatch("equals", expr, string(text), cased)

    def number_match(self, name: str, expr: ir.Expr, spec: FieldSpec, number: int | float) -> ir.Expr:
        if spec.values is not None:
            return self.value_table(name, expr, spec, [str(number)], False)
        if expr.type in (Type.LONG, Type.INT, Type.REAL, Type.DECIMAL):
            literal = ir.Literal(number, Type.LONG if isinstance(number, int) else Type.REAL)
            return ir.Compare("==", expr, literal)
        return self.text_equals(expr, str(number), False)

    def is_null(self, expr: ir.Expr) -> ir.Expr:
        if expr.type is Type.STRING:
            return call("isempty", expr)
        return call("isnull", expr)

    # ------------------------------------------------------------ other value types

    def regex_match(self, name: str, expr: ir.Expr, spec: FieldSpec, value: SigmaRegularExpression) -> ir.Expr:
        if spec.values is not None or spec.prefixes or spec.dword or spec.prepend:
            raise Refusal(f"field '{name}': a regex cannot be translated through the value rewriting of its "
                          f"{self.mapping.target} mapping", "value without a translation", field=name)
        pattern = str(value.regexp)
        flags = "".join(sorted(SigmaRegularExpression.sigma_to_re_flag[f] for f in value.flags))
        if flags:
            pattern = f"(?{flags}){pattern}"
        problem = check_kql_regex(pattern)
        if problem is not None:
            raise Refusal(
                f"field '{name}': regex '{str(value.regexp)}' cannot be expressed in KQL's regex dialect: {problem.message}",
                "regex outside the RE2 dialect", problem.hint, field=name,
            )
        if expr.type is not Type.STRING:
            expr = call("tostring", expr, type_=Type.STRING)
        return ir.StringMatch("regex", expr, string(pattern), True)

    def cidr_match(self, name: str, expr: ir.Expr, spec: FieldSpec, value: SigmaCIDRExpression) -> ir.Expr:
        network = value.network
        if expr.type is not Type.STRING:
            expr = call("tostring", expr, type_=Type.STRING)
        if network.version == 4:
            return ir.StringMatch("regex", expr, string(ipv4_network_regex(network)), True)
        # ipv6_is_in_range() is null for text that is not an address (an empty field
        # too); Sigma reads such a value as outside the network, also under `not`.
        in_range = call("ipv6_is_in_range", expr, string(str(network)))
        return call("coalesce", in_range, ir.Literal(False, Type.BOOL))

    def compare(self, name: str, expr: ir.Expr, value: SigmaCompareExpression) -> ir.Expr:
        number = value.number.number
        literal = ir.Literal(number, Type.LONG if isinstance(number, int) else Type.REAL)
        if expr.type not in (Type.LONG, Type.INT, Type.REAL, Type.DECIMAL):
            converter = "tolong" if isinstance(number, int) else "todouble"
            expr = call(converter, expr, type_=Type.LONG if converter == "tolong" else Type.REAL)
        return ir.Compare(_COMPARE_OPS[value.op], expr, literal)

    def field_reference(self, name: str, expr: ir.Expr, value: SigmaFieldReference) -> ir.Expr:
        other, _ = self.field(value.field)
        if expr.type is Type.STRING and other.type is Type.STRING:
            if value.starts_with and value.ends_with:
                kind = "contains"
            elif value.starts_with:
                kind = "startswith"
            elif value.ends_with:
                kind = "endswith"
            else:
                kind = "equals"
            return ir.StringMatch(kind, expr, other, False)
        if value.starts_with or value.ends_with:
            raise Refusal(f"field '{name}': fieldref with contains/startswith/endswith needs string fields",
                          "unsupported construct", field=name)
        if expr.type is not other.type:
            expr, other = call("tostring", expr, type_=Type.STRING), call("tostring", other, type_=Type.STRING)
            return ir.StringMatch("equals", expr, other, False)
        return ir.Compare("==", expr, other)

    def keyword(self, value: Any) -> ir.Expr:
        if isinstance(value, SigmaExpansion):
            return logical("or", [self.keyword(v) for v in value.values])
        if not isinstance(value, (SigmaString, SigmaNumber)):
            raise Refusal(f"keyword search with a {type(value).__name__} value is not supported", "keyword search")
        if self.table.open:
            raise Refusal(
                f"keyword (full-text) search needs a fixed set of fields, and log source {self.entry.describe()} "
                "has fields that vary by event", "keyword search",
            )
        strings = [c for c in self.table.columns if c.type is Type.STRING]
        if not strings:
            raise Refusal("keyword (full-text) search: the table has no string columns", "keyword search")
        if isinstance(value, SigmaNumber):
            value = SigmaString(str(value.number))
        cased = isinstance(value, SigmaCasedString)
        alternatives = []
        for item in self.expand(value):
            parts = list(item.s)
            if not parts or parts[0] is not SpecialChars.WILDCARD_MULTI:
                parts.insert(0, SpecialChars.WILDCARD_MULTI)
            if parts[-1] is not SpecialChars.WILDCARD_MULTI:
                parts.append(SpecialChars.WILDCARD_MULTI)
            alternatives.extend(pattern_match(ir.ColumnRef(c.name, c.type), parts, cased) for c in strings)
        return logical("or", alternatives)


# ---------------------------------------------------------------- patterns


class _Dword:
    """A Sysmon `DWORD (0x...)` value read as Defender's value type and decimal text."""

    def __init__(self, type_column: str, text: str):
        self.type_column = type_column
        self.text = text


def _plain(parts: list) -> str | None:
    """Return the text of a value without wildcards, or None."""
    if all(isinstance(p, str) for p in parts):
        return "".join(parts)
    return None


def _ends_only(parts: list) -> bool:
    """Return whether the value's wildcards (if any) are `*` at its ends only."""
    inner = [p for p in parts]
    while inner and inner[0] is SpecialChars.WILDCARD_MULTI:
        inner.pop(0)
    while inner and inner[-1] is SpecialChars.WILDCARD_MULTI:
        inner.pop()
    return all(isinstance(p, str) for p in inner)


def _display(parts: list) -> str:
    out = []
    for part in parts:
        if part is SpecialChars.WILDCARD_MULTI:
            out.append("*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append("?")
        else:
            out.append(str(part).replace("*", "\\*").replace("?", "\\?"))
    return "".join(out)


def pattern_match(expr: ir.Expr, parts: list, cased: bool) -> ir.Expr:
    """Match a Sigma string (literal text and wildcards) against a string expression."""
    parts = [p for p in parts if p != ""]
    start = 0
    while start < len(parts) and parts[start] is SpecialChars.WILDCARD_MULTI:
        start += 1
    end = len(parts)
    while end > start and parts[end - 1] is SpecialChars.WILDCARD_MULTI:
        end -= 1
    core = parts[start:end]
    leading, trailing = start > 0, end < len(parts)
    if not core:
        if leading or trailing:
            # `*` alone: any value at all, which in KQL means a non-empty string.
            return call("isnotempty", expr)
        return ir.StringMatch("equals", expr, string(""), cased)
    if all(isinstance(p, str) for p in core):
        text = "".join(core)
        if leading and trailing:
            kind = "contains"
        elif leading:
            kind = "endswith"
        elif trailing:
            kind = "startswith"
        else:
            kind = "equals"
        return ir.StringMatch(kind, expr, string(text), cased)
    return ir.StringMatch("regex", expr, string(wildcard_regex(parts, cased)), True)


def wildcard_regex(parts: list, cased: bool) -> str:
    """Return an anchored regex equivalent to a Sigma string with wildcards."""
    out = ["(?s)" if cased else "(?is)", "^"]
    for part in parts:
        if part is SpecialChars.WILDCARD_MULTI:
            out.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append(".")
        else:
            out.append(escape_regex(part))
    out.append("$")
    return "".join(out)


_OCTET_ANY = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


def ipv4_network_regex(network: ipaddress.IPv4Network) -> str:
    """Return an anchored regex that matches exactly the dotted-decimal addresses in `network`."""
    first = int(network.network_address)
    last = int(network.broadcast_address)
    octets = []
    for shift in (24, 16, 8, 0):
        low, high = (first >> shift) & 255, (last >> shift) & 255
        if low == high:
            octets.append(str(low))
        elif (low, high) == (0, 255):
            octets.append(_OCTET_ANY)
        else:
            octets.append("(?:" + "|".join(str(n) for n in range(low, high + 1)) + ")")
    return "^" + "\\.".join(octets) + "$"

