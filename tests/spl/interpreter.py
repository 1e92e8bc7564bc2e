"""A reference interpreter for the SPL that rulecast's Splunk target emits.

No Splunk runs offline, so the generated SPL text is tested by running it
here. The grammar (`spl.lark` beside this file) accepts exactly the subset the
generator emits; anything else is a parse error, so a generator change that
emits a new construct fails loudly instead of being guessed at. The evaluator
follows Splunk's Search Reference and limits.conf.spec; where they are
silent, the choice is marked "model:" below.

Contract
--------

    run_spl(spl_text, events_by_table, mapping=None, now=None) -> list[dict]

- `spl_text`: one search as the `query` format prints it (comments allowed).
- `events_by_table`: table name -> list of rows, each a dict of Advanced
  Hunting column -> value (datetimes as ISO 8601 text, dynamic columns as JSON
  values). Each row is wrapped as the data mapping says the event arrives:
  with the default mapping, `{"sourcetype": "mscs:azure:eventhub",
  "category": "AdvancedHunting-<Table>", "properties": {<row>}}`. All events
  go into one index; the base search's macro selects them.
- `mapping`: a `backends.splunk_mapping.Mapping` (default: the shipped one).
- `now`: what eval's `now()` returns, in seconds since 1970 (default: the
  clock when the run starts). Splunk documents `now()` as the time the
  search started; model: the main search and its subsearches share it.
- Returns the rows of the final `table` command, in order, each a dict with
  exactly the table's fields in order; a missing field is None, a multivalue
  field a list. After `table` the search may go on with `where`, `eval` and
  `fields -` (a filter macro expanded in place): a new eval field joins the
  columns and `fields -` removes one. Field values are text, as Splunk extracts them, except numbers
  computed by eval or stats.

Model of events and values:
- Search-time extraction is Splunk's JSON auto-extraction: every leaf of the
  record becomes a field named by its dotted path, arrays as `name{}`
  multivalue fields; leaf values are text (`true`, `5`, ...); JSON null is a
  missing field. `_raw` is the record's JSON text.
- Search terms `field=value` compare the whole value case-insensitively with
  `*` as the only wildcard; an event missing the field never matches.
- eval/where are case-sensitive. Comparisons: two texts compare as text; a
  number against text that parses as a number compares numerically (model:
  the documentation does not pin this down); any null operand gives null.
  AND, OR and NOT use three-valued logic; `where` keeps only true rows.
- `join`: max=0 pairs every match; rows missing a join field never match;
  subsearch fields overwrite main fields; the subsearch stops at 50,000 rows.
- `append`: the subsearch's rows after the main rows, at most 50,000 of
  them (model: the documented limit of join's and union's subsearches).
- `eventstats`/`streamstats`: like stats, written onto each row; streamstats
  counts the rows up to and including the current one. Rows missing a by
  field get no value.
- `strptime(text, format)`: the directives %Y %m %d %H %M %S %z only; text
  that does not fit gives null. `replace()`: in the replacement, two
  backslashes are one backslash and a backslash before a digit N is the
  N-th group (model: Splunk documents the group references only).
- `sort 0`: all rows; a row missing the field sorts last in either direction;
  `num()` compares numbers, `str()` code points.
- `stats` without `by` always returns one row; with `by`, rows missing a group
  field are dropped and groups come out in ascending order of their values.
- `dedup` drops rows missing any of its fields and keeps the first of each
  combination.
"""

from __future__ import annotations

import json
import math
import re
import time as _time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree

GRAMMAR = Path(__file__).with_name("spl.lark")
JOIN_SUBSEARCH_MAXOUT = 50_000
APPEND_SUBSEARCH_MAXOUT = 50_000

_parser = Lark(GRAMMAR.read_text(encoding="utf-8"), start=["start", "base"], parser="lalr",
               lexer="contextual", maybe_placeholders=False)


class SplRuntimeError(Exception):
    """The search uses something the interpreter does not model (a generator bug, or a new construct)."""


# ---------------------------------------------------------------- public entry


def parse(spl_text: str) -> Tree:
    return _parser.parse(spl_text, start="start")


def run_spl(spl_text: str, events_by_table: dict[str, list[dict]], mapping=None, now=None) -> list[dict]:
    if mapping is None:
        from backends.splunk_mapping import load_mapping

        mapping = load_mapping()
    index = []
    for table, rows in events_by_table.items():
        for row in rows:
            index.append(make_event(event_record(table, row, mapping)))
    tree = parse(spl_text)
    run = _Run(index, mapping, _time.time() if now is None else now)
    rows, columns = run.search(tree.children[0])
    if columns is None:
        raise SplRuntimeError("the search does not end with a table command")
    return [{c: row.get(c) for c in columns} for row in rows]


def event_record(table: str, row: dict, mapping) -> dict:
    """The record as the data mapping says the table's row arrives in Splunk."""
    table_mapping = mapping.table(table)
    record: dict = {}
    for name, value in table_mapping.search_terms():
        _set_path(record, name, value)
    for column, value in row.items():
        _set_path(record, table_mapping.field(column), value)
    return record


def _set_path(record: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = record
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def make_event(record: dict) -> dict:
    """Fields of one event under JSON auto-extraction, plus `_raw`."""
    event: dict = {"_raw": json.dumps(record, ensure_ascii=False)}

    def walk(value, name):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{name}.{key}" if name else key)
        elif isinstance(value, list):
            for item in value:
                walk(item, name + "{}")
        elif value is not None:
            text = _leaf_text(value)
            if name in event:
                existing = event[name]
                event[name] = (existing if isinstance(existing, list) else [existing]) + [text]
            else:
                event[name] = text

    walk(record, "")
    return event


def _leaf_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _json_text(value) -> str | None:
    """What spath returns for a JSON value: text for scalars, compact JSON for containers."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _leaf_text(value)


# ---------------------------------------------------------------- literals


def _string(token: Token) -> str:
    body = token[1:-1]
    return re.sub(r"\\([\\\"])", r"\1", body)


def _field(node) -> str:
    token = node.children[0] if isinstance(node, Tree) else node
    if token.type == "STRING":
        return _string(token)
    if token.type == "QUOTED_FIELD":
        return token[1:-1]
    return str(token)


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


def _as_number(value):
    """A number, or text that parses as one, as a number; otherwise None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*", value):
        return _number(value.strip())
    return None


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------- regexes


def python_regex(pcre: str) -> re.Pattern:
    """Translate the PCRE the generator emits to Python's `re`.

    PCRE's `\\z` is Python's `\\Z`; the term class `[\\p{L}\\p{N}]` (Unicode
    letters and digits) is Python's `[^\\W_]`. Any other `\\p` is refused.
    """
    text = pcre.replace(r"[\p{L}\p{N}]", r"[^\W_]")
    out = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            pair = text[i : i + 2]
            if pair in ("\\p", "\\P", "\\Q", "\\E", "\\G", "\\K", "\\R"):
                raise SplRuntimeError(f"regex escape {pair} is outside the modelled PCRE subset: {pcre}")
            out.append("\\Z" if pair == "\\z" else pair)
            i += 2
        else:
            out.append(text[i])
            i += 1
    try:
        return re.compile("".join(out))
    except re.error as exc:
        raise SplRuntimeError(f"invalid regex {pcre!r}: {exc}") from None


_regex_cache: dict[str, re.Pattern] = {}
_wildcard_cache: dict[str, re.Pattern] = {}


def _wildcard(pattern: str) -> re.Pattern:
    """A search-term value: `*` matches anything, the rest literally, ignoring case."""
    if pattern not in _wildcard_cache:
        body = "".join(".*" if c == "*" else re.escape(c) for c in pattern)
        _wildcard_cache[pattern] = re.compile(body, re.IGNORECASE | re.DOTALL)
    return _wildcard_cache[pattern]


def _regex(pcre: str) -> re.Pattern:
    if pcre not in _regex_cache:
        _regex_cache[pcre] = python_regex(pcre)
    return _regex_cache[pcre]


# ---------------------------------------------------------------- spath


def spath_path(path: str) -> list:
    """Split a spath path into keys and 0-based array indexes (spath counts from 1)."""
    steps: list = []
    for part in path.split("."):
        match = re.fullmatch(r"([^{}]*)((?:\{\d+\})*)", part)
        if match is None:
            raise SplRuntimeError(f"spath path step {part!r} is outside the modelled subset")
        if match.group(1):
            steps.append(match.group(1))
        for index in re.findall(r"\{(\d+)\}", match.group(2)):
            if int(index) < 1:
                raise SplRuntimeError("spath array indexes start at 1")
            steps.append(int(index) - 1)
    return steps


def spath_value(document, path: str):
    node = document
    for step in spath_path(path):
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return None
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return None
            node = node[step]
    return _json_text(node)


def _parse_json(text):
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


# ---------------------------------------------------------------- evaluation


_MISSING = object()
# Commands modelled after `table`: the ones a `<rule>_filter` macro contains.
_AFTER_TABLE = ("where", "eval", "fields_remove")


class _Run:
    def __init__(self, index: list[dict], mapping, now):
        self.index = index
        self.mapping = mapping
        self.now = now

    # ------------------------------------------------------------ searches

    def search(self, tree: Tree) -> tuple[list[dict], list[str] | None]:
        children = tree.children
        if children[0].data == "multisearch":
            rows = []
            for sub in children[0].children:
                sub_rows, _ = self.search(sub.children[0])
                rows.extend(sub_rows)
        else:
            rows = [dict(e) for e in self.index if self.base_matches(children[0], e)]
        columns = None
        for command in children[1:]:
            if columns is None:
                rows, columns = self.command(command, rows)
                continue
            # After table, only the commands of a filter macro: a new eval field
            # becomes a column, `fields -` removes one.
            if command.data not in _AFTER_TABLE:
                raise SplRuntimeError(f"{command.data} after table is outside the modelled subset")
            rows, _ = self.command(command, rows)
            if command.data == "eval":
                columns = columns + [str(a.children[0]) for a in command.children if str(a.children[0]) not in columns]
            elif command.data == "fields_remove":
                removed = {_field(f) for f in command.children}
                columns = [c for c in columns if c not in removed]
        return rows, columns

    def base_matches(self, base: Tree, event: dict) -> bool:
        for item in base.children:
            if item.data == "macro":
                name = item.children[0][1:-1]
                definition = self.macro(name)
                if not self.base_matches(_parser.parse(definition, start="base"), event):
                    return False
            elif not self.term_matches(item, event):
                return False
        return True

    def macro(self, name: str) -> str:
        for table in self.mapping.tables.values():
            if table.macro == name:
                return table.search
        # Tables outside `tables` take the default's templates.
        prefix, suffix = self.mapping.default["macro"].split("{table_lower}")
        if name.startswith(prefix) and name.endswith(suffix):
            lower = name[len(prefix) : len(name) - len(suffix) if suffix else None]
            for event in self.index:
                category = event.get("category", "")
                if isinstance(category, str) and category.lower().endswith(lower):
                    table = category[len(category) - len(lower):]
                    return self.mapping.table(table).search
            return self.mapping.table(lower).search
        raise SplRuntimeError(f"unknown macro `{name}`")

    def term_matches(self, term: Tree, event: dict) -> bool:
        name = str(term.children[0])
        token = term.children[1]
        pattern = _string(token) if token.type == "STRING" else str(token)
        value = event.get(name)
        if value is None:
            return False
        regex = _wildcard(pattern)
        values = value if isinstance(value, list) else [value]
        return any(regex.fullmatch(v) for v in values)

    # ------------------------------------------------------------ commands

    def command(self, tree: Tree, rows: list[dict]) -> tuple[list[dict], list[str] | None]:
        method = getattr(self, "cmd_" + tree.data)
        return method(tree, rows)

    def cmd_rename(self, tree, rows):
        pairs = [(_field(p.children[0]), _field(p.children[1])) for p in tree.children]
        for row in rows:
            for old, new in pairs:
                if old in row:
                    row[new] = row.pop(old)
        return rows, None

    def cmd_spath(self, tree, rows):
        output, path = _field(tree.children[1]), _field(tree.children[3])
        for row in rows:
            value = spath_value(_parse_json(row.get("_raw")), path)
            if value is None:
                row.pop(output, None)
            else:
                row[output] = value
        return rows, None

    def cmd_fillnull(self, tree, rows):
        value = _string(tree.children[1])
        names = [_field(f) for f in tree.children[2:]]
        for row in rows:
            for name in names:
                if row.get(name) is None:
                    row[name] = value
        return rows, None

    def cmd_where(self, tree, rows):
        expr = tree.children[0]
        return [row for row in rows if self.eval(expr, row) is True], None

    def cmd_eval(self, tree, rows):
        assignments = [(str(a.children[0]), a.children[1]) for a in tree.children]
        for row in rows:
            for name, expr in assignments:
                value = self.eval(expr, row)
                if isinstance(value, bool):
                    raise SplRuntimeError(f"eval cannot assign the boolean result to {name}")
                if value is None:
                    row.pop(name, None)
                else:
                    row[name] = value
        return rows, None

    def cmd_fields_keep(self, tree, rows):
        names = [_field(f) for f in tree.children]
        return [{k: v for k, v in row.items() if k in names or k.startswith("_")} for row in rows], None

    def cmd_fields_remove(self, tree, rows):
        names = {_field(f) for f in tree.children}
        return [{k: v for k, v in row.items() if k not in names} for row in rows], None

    def cmd_table(self, tree, rows):
        names = [_field(f) for f in tree.children]
        return [{n: row[n] for n in names if n in row} for row in rows], names

    def cmd_join(self, tree, rows):
        join_type = str(tree.children[1])
        keys = [_field(f) for f in tree.children[3:-1]]
        sub_rows, _ = self.search(tree.children[-1].children[0])
        sub_rows = sub_rows[:JOIN_SUBSEARCH_MAXOUT]
        lookup: dict[tuple, list[dict]] = {}
        for sub in sub_rows:
            key = self.join_key(sub, keys)
            if key is not None:
                lookup.setdefault(key, []).append(sub)
        out = []
        for row in rows:
            key = self.join_key(row, keys)
            matches = lookup.get(key, []) if key is not None else []
            if matches:
                for sub in matches:
                    merged = dict(row)
                    merged.update({k: v for k, v in sub.items() if not k.startswith("_")})
                    out.append(merged)
            elif join_type == "left":
                out.append(row)
        return out, None

    def cmd_append(self, tree, rows):
        sub_rows, _ = self.search(tree.children[0].children[0])
        return rows + sub_rows[:APPEND_SUBSEARCH_MAXOUT], None

    def cmd_streamstats(self, tree, rows):
        parts, by = self.aggregates(tree)
        for func, argument, _ in parts:
            if func != "count":
                raise SplRuntimeError(f"streamstats {func}() is outside the modelled subset")
        seen: dict[tuple, list[dict]] = {}
        for row in rows:
            key = self.join_key(row, by)
            if key is None:
                continue
            members = seen.setdefault(key, [])
            members.append(row)
            for func, argument, output in parts:
                row[output] = self.aggregate(func, argument, members)
        return rows, None

    @staticmethod
    def join_key(row: dict, keys: list[str]):
        values = []
        for key in keys:
            value = row.get(key)
            if value is None:
                return None
            if isinstance(value, list):
                raise SplRuntimeError(f"join on the multivalue field {key} is outside the modelled subset")
            values.append(_text(value))
        return tuple(values)

    def cmd_sort(self, tree, rows):
        keys = []
        for key in tree.children:
            sign = str(key.children[0])
            if len(key.children) == 3:
                mode, name = str(key.children[1]), _field(key.children[2])
            else:
                mode, name = "auto", _field(key.children[1])
            keys.append((sign == "-", mode, name))
        rows = list(rows)
        for descending, mode, name in reversed(keys):
            present = []
            missing = []
            for row in rows:
                value = row.get(name)
                sort_value = self.sort_value(value, mode)
                (missing if sort_value is None else present).append((sort_value, row))
            present.sort(key=lambda pair: pair[0], reverse=descending)
            rows = [row for _, row in present] + [row for _, row in missing]
        return rows, None

    @staticmethod
    def sort_value(value, mode):
        if value is None or isinstance(value, list):
            return None
        if mode == "num":
            number = _as_number(value)
            return None if number is None else number
        if mode == "str":
            return _text(value)
        raise SplRuntimeError("sort without num() or str() is outside the modelled subset")

    def cmd_head(self, tree, rows):
        return rows[: int(tree.children[0])], None

    def cmd_dedup(self, tree, rows):
        names = [_field(f) for f in tree.children]
        seen = set()
        out = []
        for row in rows:
            key = self.join_key(row, names)
            if key is None or key in seen:
                continue
            seen.add(key)
            out.append(row)
        return out, None

    def aggregates(self, tree):
        parts = []
        by = []
        for child in tree.children:
            if isinstance(child, Tree) and child.data == "aggregate":
                func = str(child.children[0])
                rest = child.children[1:]
                output = _field(rest[-1])
                argument = rest[0] if len(rest) == 2 else None
                parts.append((func, argument, output))
            else:
                by.append(_field(child))
        return parts, by

    def aggregate(self, func, argument, rows):
        if func == "count" and argument is None:
            return len(rows)
        if isinstance(argument, Tree) and argument.data != "field":
            if func != "count":
                raise SplRuntimeError(f"{func}(eval(...)) is outside the modelled subset")
            return sum(1 for row in rows if self.eval(argument, row) is True)
        name = _field(argument)
        values = []
        for row in rows:
            value = row.get(name)
            if value is None:
                continue
            values.extend(value if isinstance(value, list) else [value])
        if func == "count":
            return len(values)
        if func == "dc":
            return len({_text(v) for v in values})
        if func == "values":
            distinct = sorted({_text(v) for v in values})
            if not distinct:
                return None
            return distinct[0] if len(distinct) == 1 else distinct
        if not values:
            return None
        numbers = [_as_number(v) for v in values]
        if func in ("sum", "avg"):
            numbers = [n for n in numbers if n is not None]
            if not numbers:
                return None
            total = math.fsum(numbers) if any(isinstance(n, float) for n in numbers) else sum(numbers)
            return total if func == "sum" else total / len(numbers)
        if all(n is not None for n in numbers):
            return min(numbers) if func == "min" else max(numbers)
        texts = [_text(v) for v in values]
        return min(texts) if func == "min" else max(texts)

    def cmd_stats(self, tree, rows):
        parts, by = self.aggregates(tree)
        if not by:
            result = {}
            for func, argument, output in parts:
                value = self.aggregate(func, argument, rows)
                if value is not None:
                    result[output] = value
            return [result], None
        groups: dict[tuple, list[dict]] = {}
        for row in rows:
            key = self.join_key(row, by)
            if key is not None:
                groups.setdefault(key, []).append(row)
        out = []
        for key in sorted(groups):
            result = dict(zip(by, key))
            for func, argument, output in parts:
                value = self.aggregate(func, argument, groups[key])
                if value is not None:
                    result[output] = value
            out.append(result)
        return out, None

    def cmd_eventstats(self, tree, rows):
        parts, by = self.aggregates(tree)
        groups: dict[tuple, list[dict]] = {}
        for row in rows:
            key = self.join_key(row, by)
            if key is not None:
                groups.setdefault(key, []).append(row)
        results = {key: {output: self.aggregate(func, argument, members) for func, argument, output in parts}
                   for key, members in groups.items()}
        for row in rows:
            key = self.join_key(row, by)
            if key is None:
                continue
            for output, value in results[key].items():
                if value is None:
                    row.pop(output, None)
                else:
                    row[output] = value
        return rows, None

    # ------------------------------------------------------------ expressions

    def eval(self, node, row):
        if isinstance(node, Token):
            raise SplRuntimeError(f"unexpected token {node!r}")
        method = getattr(self, "ev_" + node.data, None)
        if method is None:
            raise SplRuntimeError(f"expression {node.data} is outside the modelled subset")
        return method(node, row)

    def ev_string(self, node, row):
        return _string(node.children[0])

    def ev_number(self, node, row):
        return _number(str(node.children[0]))

    def ev_field_ref(self, node, row):
        return row.get(_field(node.children[0]))

    def ev_or_expr(self, node, row):
        result = False
        for child in node.children:
            value = self.eval(child, row)
            if value is True:
                return True
            if value is None:
                result = None
            elif value is not False:
                raise SplRuntimeError("OR needs boolean operands")
        return result

    def ev_and_expr(self, node, row):
        result = True
        for child in node.children:
            value = self.eval(child, row)
            if value is False:
                return False
            if value is None:
                result = None
            elif value is not True:
                raise SplRuntimeError("AND needs boolean operands")
        return result

    def ev_not_(self, node, row):
        value = self.eval(node.children[0], row)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise SplRuntimeError("NOT needs a boolean operand")
        return not value

    def ev_comparison(self, node, row):
        left = self.eval(node.children[0], row)
        op = str(node.children[1])
        right = self.eval(node.children[2], row)
        return compare(left, op, right)

    def ev_concat(self, node, row):
        values = [self.eval(child, row) for child in node.children]
        if any(v is None for v in values):
            return None
        return "".join(_text(v) for v in values)

    def ev_sum(self, node, row):
        return self.arithmetic(node, row)

    def ev_product(self, node, row):
        return self.arithmetic(node, row)

    def arithmetic(self, node, row):
        value = self.eval(node.children[0], row)
        children = node.children[1:]
        for op_token, operand in zip(children[::2], children[1::2]):
            other = self.eval(operand, row)
            a, b = _as_number(value), _as_number(other)
            if value is None or other is None:
                value = None
                continue
            if a is None or b is None:
                raise SplRuntimeError(f"arithmetic on text: {value!r} {op_token} {other!r}")
            op = str(op_token)
            if op == "+":
                value = a + b
            elif op == "-":
                value = a - b
            elif op == "*":
                value = a * b
            else:
                value = None if b == 0 else a / b
        return value

    def ev_call(self, node, row):
        name = str(node.children[0])
        args = node.children[1:]
        if name == "now":
            return self.now
        if name == "if":
            condition = self.eval(args[0], row)
            return self.eval(args[1], row) if condition is True else self.eval(args[2], row)
        values = [self.eval(a, row) for a in args]
        return FUNCTIONS[name](*values)


def compare(left, op: str, right):
    if left is None or right is None:
        return None
    if isinstance(left, list) or isinstance(right, list):
        raise SplRuntimeError("comparison of a multivalue field is outside the modelled subset")
    if isinstance(left, str) and isinstance(right, str):
        a, b = left, right
    else:
        a, b = _as_number(left), _as_number(right)
        if a is None or b is None:
            a, b = _text(left), _text(right)
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def _null_safe(function):
    def wrapped(*args):
        if any(a is None for a in args):
            return None
        return function(*args)

    return wrapped


def _substr(text, start, length=None):
    text = _text(text)
    start = int(start)
    part = text[start:] if start < 0 else text[max(start - 1, 0):]
    return part if length is None else part[: int(length)]


def _tostring(value):
    return _text(value)


def _tonumber(value):
    return _as_number(value)


def _in(value, *candidates):
    return any(compare(value, "==", c) is True for c in candidates if c is not None)


def _spath(text, path):
    return spath_value(_parse_json(text), path)


def _replace(text, pattern, replacement):
    def expand(match: re.Match) -> str:
        out = []
        i = 0
        while i < len(replacement):
            char = replacement[i]
            if char == "\\" and i + 1 < len(replacement):
                following = replacement[i + 1]
                if following == "\\":
                    out.append("\\")
                elif following.isdigit():
                    out.append(match.group(int(following)) or "")
                else:
                    raise SplRuntimeError(f"replacement escape \\{following} is outside the modelled subset")
                i += 2
            else:
                out.append(char)
                i += 1
        return "".join(out)

    return _regex(pattern).sub(expand, _text(text))


_STRPTIME_DIRECTIVES = {"%Y", "%m", "%d", "%H", "%M", "%S", "%z"}


def _strptime(text, fmt):
    for directive in re.findall(r"%.", fmt):
        if directive not in _STRPTIME_DIRECTIVES:
            raise SplRuntimeError(f"strptime directive {directive} is outside the modelled subset")
    try:
        moment = datetime.strptime(_text(text), fmt)
    except ValueError:
        return None
    if moment.tzinfo is None:
        raise SplRuntimeError("strptime without %z depends on the user's time zone; the subset always gives +0000")
    return int((moment - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds())


def _floor(value):
    number = _as_number(value)
    if number is None:
        return None
    return math.floor(number)


def _values_of(value) -> list:
    return value if isinstance(value, list) else [value]


def _mvjoin(value, delimiter):
    return _text(delimiter).join(_text(v) for v in _values_of(value))


def _mvindex(value, start, end=None):
    values = _values_of(value)
    count = len(values)
    first = int(start) + count if int(start) < 0 else int(start)
    last = first if end is None else (int(end) + count if int(end) < 0 else int(end))
    if first < 0 or first >= count:
        return None
    picked = values[first : min(last, count - 1) + 1]
    if not picked:
        return None
    return picked[0] if len(picked) == 1 else picked


FUNCTIONS = {
    "isnull": lambda value: value is None,
    "isnotnull": lambda value: value is not None,
    "coalesce": lambda *values: next((v for v in values if v is not None), None),
    "null": lambda: None,
    "lower": _null_safe(lambda text: _text(text).lower()),
    "upper": _null_safe(lambda text: _text(text).upper()),
    "len": _null_safe(lambda text: len(_text(text))),
    "substr": _null_safe(_substr),
    "match": _null_safe(lambda text, pattern: _regex(pattern).search(_text(text)) is not None),
    "replace": _null_safe(_replace),
    "spath": _null_safe(_spath),
    "tostring": _null_safe(_tostring),
    "tonumber": _null_safe(_tonumber),
    "in": _null_safe(_in),
    "floor": _null_safe(_floor),
    "strptime": _null_safe(_strptime),
    "mvjoin": _null_safe(_mvjoin),
    "mvindex": _null_safe(_mvindex),
}
