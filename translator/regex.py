"""Regular expressions in `matches regex`: checking KQL's dialect and translating it.

KQL's engine (RE2 syntax, now the Rust `regex` crate) has no look-around, no
back-references, no atomic groups and no possessive quantifiers, and `$`
matches only at the end of the text. Python's `re` accepts patterns KQL
rejects and reads some of KQL's differently, so patterns are checked here and
translated for the Python target with `to_python`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class RegexProblem:
    message: str
    offset: int  # index into the pattern
    hint: str | None = None


_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}


def check(pattern: str) -> RegexProblem | None:
    """Return the first construct in `pattern` that KQL's regex engine rejects, or None."""
    try:
        to_python(pattern)
    except _Unsupported as exc:
        return RegexProblem(exc.message, exc.offset, exc.hint)
    return None


class _Unsupported(Exception):
    def __init__(self, message: str, offset: int, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.hint = hint


_INLINE_FLAGS = re.compile(r"\(\?([imsxU-]+)\)")
_SCOPED_FLAGS = re.compile(r"\(\?([imsxU-]*):")


def to_python(pattern: str) -> str:
    """Translate a KQL regex into an equivalent Python `re` pattern.

    Raises `_Unsupported` (through `check`) for constructs KQL rejects:
    look-around, back-references, atomic groups, possessive quantifiers,
    conditionals, and class set operations.
    """
    out: list[str] = []
    i = 0
    n = len(pattern)
    multiline = False
    open_groups: list[int] = []  # output indexes where the open groups' bodies start
    pending_closers: list[int] = []  # group depths at which an inserted "(?flags:" must be closed
    while i < n:
        char = pattern[i]
        if char == "\\":
            i, text = _escape(pattern, i)
            out.append(text)
            continue
        if char == "[":
            i, text = _char_class(pattern, i)
            out.append(text)
            continue
        if char == "(":
            if pattern.startswith("(?", i):
                inline = _INLINE_FLAGS.match(pattern, i)
                if inline:
                    flags = inline.group(1)
                    if "U" in flags or "x" in flags:
                        raise _Unsupported(f"regex flag in '{inline.group(0)}' is not supported", i)
                    on = flags.split("-")[0]
                    if "m" in on:
                        multiline = True
                    if i == 0 or not out:
                        out.append(inline.group(0))
                    else:
                        # Python allows global flags only at the start, so scope them
                        # to the rest of the enclosing group.
                        out.append(f"(?{flags}:")
                        pending_closers.append(len(open_groups))
                    i = inline.end()
                    continue
                scoped = _SCOPED_FLAGS.match(pattern, i)
                if scoped:
                    if "U" in scoped.group(1) or "x" in scoped.group(1):
                        raise _Unsupported(f"regex flag in '{scoped.group(0)}' is not supported", i)
                    out.append(scoped.group(0))
                    open_groups.append(len(out))
                    i = scoped.end()
                    continue
                if pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
                    raise _Unsupported("look-around assertions are not supported by KQL's regex engine", i,
                                       "rewrite the pattern without (?=, (?!, (?<= or (?<!")
                if pattern.startswith("(?>", i):
                    raise _Unsupported("atomic groups '(?>...)' are not supported by KQL's regex engine", i)
                if pattern.startswith("(?(", i):
                    raise _Unsupported("conditional groups are not supported by KQL's regex engine", i)
                named = re.compile(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>").match(pattern, i)
                if named:
                    out.append(f"(?P<{named.group(1)}>")
                    open_groups.append(len(out))
                    i = named.end()
                    continue
                raise _Unsupported(f"unsupported group syntax '{pattern[i:i + 3]}'", i)
            out.append("(")
            open_groups.append(len(out))
            i += 1
            continue
        if char == ")":
            while pending_closers and pending_closers[-1] == len(open_groups):
                pending_closers.pop()
                out.append(")")
            if not open_groups:
                raise _Unsupported("unbalanced ')' in regex", i)
            open_groups.pop()
            out.append(")")
            i += 1
            continue
        if char in "*+?}" and i + 1 < n and pattern[i + 1] == "+":
            raise _Unsupported("possessive quantifiers are not supported by KQL's regex engine", i + 1)
        if char == "$":
            out.append("$" if multiline else r"\Z")
            i += 1
            continue
        out.append(char)
        i += 1
    if open_groups:
        raise _Unsupported("missing ')' in regex", n)
    out.extend(")" for _ in pending_closers)
    translated = "".join(out)
    try:
        re.compile(translated)
    except re.error as exc:
        raise _Unsupported(f"invalid regex: {exc.msg}", exc.pos or 0) from None
    return translated


def _escape(pattern: str, i: int) -> tuple[int, str]:
    if i + 1 >= len(pattern):
        raise _Unsupported("regex ends with a lone backslash", i)
    nxt = pattern[i + 1]
    if nxt.isdigit() and nxt != "0":
        raise _Unsupported("back-references are not supported by KQL's regex engine", i)
    if nxt == "k" or nxt == "g":
        raise _Unsupported("back-references are not supported by KQL's regex engine", i)
    if nxt == "z":
        return i + 2, r"\Z"
    if nxt == "Z":
        raise _Unsupported("'\\Z' is not supported by KQL's regex engine", i, "use '\\z' or '$' for the end of the text")
    if nxt in "pP":
        raise _Unsupported("Unicode property classes '\\p{...}' are not supported by rulecast", i)
    if nxt == "x" and i + 2 < len(pattern) and pattern[i + 2] == "{":
        end = pattern.find("}", i)
        if end < 0:
            raise _Unsupported("unterminated '\\x{...}' escape", i)
        code = int(pattern[i + 3 : end], 16)
        return end + 1, re.escape(chr(code))
    if nxt in "CQE":
        raise _Unsupported(f"'\\{nxt}' is not supported by KQL's regex engine", i)
    return i + 2, pattern[i : i + 2]


def _char_class(pattern: str, i: int) -> tuple[int, str]:
    """Copy a bracket expression, translating POSIX classes and rejecting set operations."""
    out = ["["]
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        out.append("^")
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        out.append("\\]")
        j += 1
    while j < len(pattern):
        char = pattern[j]
        if char == "]":
            out.append("]")
            return j + 1, "".join(out)
        if char == "\\":
            j, text = _escape(pattern, j)
            out.append(text)
            continue
        if pattern.startswith("[:", j):
            end = pattern.find(":]", j)
            name = pattern[j + 2 : end] if end > 0 else ""
            negate = name.startswith("^")
            if negate or name not in _POSIX_CLASSES:
                raise _Unsupported(f"unsupported character class '[:{name}:]'", j)
            out.append(_POSIX_CLASSES[name])
            j = end + 2
            continue
        if char == "[":
            raise _Unsupported("nested character classes are not supported by rulecast", j)
        if pattern.startswith(("&&", "--", "~~"), j):
            raise _Unsupported("character class set operations are not supported by rulecast", j)
        out.append(char)
        j += 1
    raise _Unsupported("missing ']' in regex", i)
