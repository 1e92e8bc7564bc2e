"""Reading JSON Lines input (plain or gzip) into typed rows, line by line.

Each line contains one event, a JSON object. A line that is not valid UTF-8 or
JSON, is not an object, or has a value of the wrong type for its column is
malformed: it is recorded in an `ErrorLog` with its file, line and column and
skipped, and the rest of the file is still read.

When the rule gives literals that every matching line must contain (the
module's `PREFILTER`), lines without any of them are skipped without being
parsed; `validate_all=True` turns that off so that every line is checked.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from backends.python_prefilter import encode_needle

CHUNK_SIZE = 8 * 1024 * 1024
MAX_REPORTED = 20  # malformed lines printed per run; the rest are only counted

# A JSON encoder may spell any character as \uXXXX and "/" as \/, and two
# non-ASCII characters lowercase to ASCII (U+0130 to "i" plus a dot, U+212A to
# "k"), so lines containing these are parsed even without a needle.
_ESCAPE_TRIGGERS = (b"\\u", b"\\/")
_CASE_TRIGGERS = ("\u0130".encode("utf-8"), "\u212a".encode("utf-8"))


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


@dataclass(frozen=True)
class LineError:
    path: str
    line: int
    column: int
    message: str

    def render(self, severity: str) -> str:
        return f"{self.path}:{self.line}:{self.column}: {severity}: {self.message}"


@dataclass
class ErrorLog:
    """Malformed lines: all counted per file, the first `MAX_REPORTED` kept for printing."""

    reported: list[LineError] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, error: LineError) -> None:
        self.counts[error.path] = self.counts.get(error.path, 0) + 1
        if len(self.reported) < MAX_REPORTED:
            self.reported.append(error)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Progress:
    """Reports bytes read on stderr once reading has taken more than two seconds.

    On a terminal the line is redrawn at most twice a second; otherwise one
    line is written every ten seconds, so logs stay short.
    """

    def __init__(self, total_bytes: int, stream=None):
        self.total = max(total_bytes, 1)
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()
        self.last = self.started
        self.shown = False

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        interval = 0.5 if self.tty else 10.0
        if now - self.started < 2.0 or now - self.last < interval:
            return
        self.last = now
        rate = self.done / (now - self.started) / 1e6
        text = f"rulecast: read {self.done / 1e6:,.0f} of {self.total / 1e6:,.0f} MB ({100 * self.done / self.total:.0f}%, {rate:.0f} MB/s)"
        if self.tty:
            self.stream.write("\r" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown and self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def open_binary(path: str | Path):
    """Open a file for reading bytes, decompressing it when it starts with the gzip magic."""
    raw = open(path, "rb")
    if raw.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw), raw
    return raw, raw


class Needles:
    """Finds the lines of a buffer worth parsing: those containing a needle or an escape."""

    def __init__(self, needles: Sequence[tuple[str, bool]]):
        self.exact = [encode_needle(text) for text, case_sensitive in needles if case_sensitive]
        self.folded = [encode_needle(text).lower() for text, case_sensitive in needles if not case_sensitive]
        if self.folded:
            self.exact.extend(_CASE_TRIGGERS)
        # After a backslash, "u" can spell any character and "/" spells "/"; the
        # other escapes spell characters that encode_needle writes escaped already.
        slash = any("/" in text for text, _ in needles)
        self.escape_letters = {ord("u")} | ({ord("/")} if slash else set())
        self.escape_pattern = re.compile(rb"\\[u/]" if slash else rb"\\u")

    def candidate_lines(self, buffer: bytearray, end: int) -> list[tuple[int, int]]:
        """Return sorted (start, end) offsets of the lines in buffer[:end] worth parsing."""
        spans: dict[int, int] = {}

        def add_line(position: int) -> int:
            start = buffer.rfind(b"\n", 0, position) + 1
            stop = buffer.find(b"\n", position, end)
            if stop < 0:
                stop = end
            spans[start] = stop
            return stop

        for haystack, needles in ((buffer, self.exact), (buffer[:end].lower() if self.folded else b"", self.folded)):
            for needle in needles:
                position = haystack.find(needle, 0, end)
                while position >= 0:
                    position = haystack.find(needle, add_line(position), end)
        # Backslashes are found with a one-byte search (memchr), much faster than
        # searching for two-byte escapes; escaped backslashes are stepped over.
        # Where backslashes are dense (JSON held in strings), a regex scan of the
        # rest of the buffer is cheaper than a Python step per backslash.
        position = buffer.find(b"\\", 0, end)
        letters = self.escape_letters
        budget = max(64, end >> 12)
        while position >= 0:
            budget -= 1
            if budget < 0:
                for match in self.escape_pattern.finditer(buffer, position, end):
                    if match.start() >= position:
                        position = add_line(match.start())
                break
            following = buffer[position + 1] if position + 1 < end else 0
            if following in letters:
                position = add_line(position)
            else:
                position += 2
            position = buffer.find(b"\\", position, end)
        return sorted(spans.items())


class _LineCounter:
    """Line numbers of byte offsets in a plain file, counted only when an error needs one.

    Errors arrive in increasing offset order, so the file is counted at most once.
    """

    def __init__(self, path: str):
        self.path = path
        self.offset = 0
        self.lines = 0

    def line_at(self, offset: int) -> int:
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            while self.offset < offset:
                piece = handle.read(min(CHUNK_SIZE, offset - self.offset))
                if not piece:
                    break
                self.lines += piece.count(b"\n")
                self.offset += len(piece)
        return self.lines + 1


def read_rows(
    path: str,
    convert: Callable[[dict], dict],
    diagnose: Callable[[dict], None],
    errors: ErrorLog,
    needles: Sequence[tuple[str, bool]] = (),
    validate_all: bool = False,
    progress: Progress | None = None,
) -> Iterator[dict]:
    """Yield the typed rows of a JSON Lines file.

    `convert` turns an event into a row and raises TypeError or AttributeError
    when a value does not fit; `diagnose(event)` then raises the module's
    `MalformedEvent`, which names the column.
    """
    scan = Needles(needles) if needles and not validate_all else None
    stream, raw = open_binary(path)
    compressed = stream is not raw
    counter = _LineCounter(path) if scan is not None and not compressed else None
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    carry = 0  # bytes of an unfinished line kept at the front of the buffer
    chunk_offset = 0  # file offset of buffer[0] (decompressed offset for gzip)
    line_number = 0  # lines before buffer[0], when counted eagerly
    consumed = 0
    try:
        while True:
            if carry == len(buffer):  # a line longer than the buffer: grow it
                view.release()
                buffer.extend(bytes(len(buffer)))
                view = memoryview(buffer)
            count = stream.readinto(view[carry:])
            if progress is not None:
                position = raw.tell()
                progress.advance(position - consumed)
                consumed = position
            end = carry + count
            if count:
                cut = buffer.rfind(b"\n", carry, end)
                if cut < 0:
                    carry = end
                    continue
                end_of_lines = cut + 1
            else:
                end_of_lines = end
                if end == 0:
                    break
            if chunk_offset == 0 and buffer.startswith(b"\xef\xbb\xbf"):
                buffer[0:3] = b"   "  # a UTF-8 byte order mark; blanks keep columns right
            if scan is None:
                lines = buffer[:end_of_lines].split(b"\n")
                if lines and not lines[-1]:
                    lines.pop()
                for number, line in enumerate(lines, start=line_number + 1):
                    row = _parse(line, path, number, convert, diagnose, errors)
                    if row is not None:
                        yield row
                line_number += len(lines)
            else:
                counted_to, counted_lines = 0, line_number
                for start, stop in scan.candidate_lines(buffer, end_of_lines):
                    if counter is None:
                        counted_lines += buffer.count(b"\n", counted_to, start)
                        counted_to = start
                        number = counted_lines + 1
                    else:
                        number = _Lazy(counter, chunk_offset + start)
                    row = _parse(buffer[start:stop], path, number, convert, diagnose, errors)
                    if row is not None:
                        yield row
                if counter is None:
                    line_number += buffer.count(b"\n", 0, end_of_lines)
            if not count:
                break
            carry = end - end_of_lines
            buffer[:carry] = buffer[end_of_lines:end]
            chunk_offset += end_of_lines
    finally:
        view.release()
        stream.close()
        if raw is not stream:
            raw.close()


class _Lazy:
    """A line number that is counted only if it is printed."""

    def __init__(self, counter: _LineCounter, offset: int):
        self.counter = counter
        self.offset = offset

    def __int__(self) -> int:
        return self.counter.line_at(self.offset)


def _parse(line: bytes, path: str, number, convert, diagnose, errors: ErrorLog) -> dict | None:
    if not line.strip():
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        errors.add(LineError(path, int(number), exc.start + 1, "invalid UTF-8 in the line"))
        return None
    try:
        event = _DECODER.decode(text)
    except ValueError as exc:
        column = getattr(exc, "colno", 1)
        message = getattr(exc, "msg", str(exc))
        errors.add(LineError(path, int(number), column, f"invalid JSON: {message}"))
        return None
    if not isinstance(event, dict):
        kind = "an array" if isinstance(event, list) else "a " + type(event).__name__.replace("str", "string")
        errors.add(LineError(path, int(number), 1, f"an event must be a JSON object, not {kind}"))
        return None
    try:
        return convert(event)
    except (TypeError, AttributeError):
        pass
    try:
        diagnose(event)
    except ValueError as exc:
        column_name = getattr(exc, "column", None)
        message = getattr(exc, "message", str(exc))
        column = 1
        if column_name:
            found = text.find(json.dumps(column_name, ensure_ascii=False))
            column = found + 1 if found >= 0 else 1
        errors.add(LineError(path, int(number), column, f"{column_name}: {message}" if column_name else message))
        return None
    raise AssertionError("an event failed to convert but passed the column checks")


def file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0

