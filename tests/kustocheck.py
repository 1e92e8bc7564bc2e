"""Check KQL with Microsoft's own parser, Kusto.Language, from the tests.

Kusto.Language is Microsoft's C# parser and semantic analyzer for KQL.
The npm package @kusto/language-service-next ships it compiled to JavaScript,
and tests/kusto/checker.js serves it over JSON lines. `KustoChecker` starts
that Node process once. Measured on Node 20, loading the library and
analysing the first query take about 1.5 s and the process grows to about
250 MB, after which a query takes a few milliseconds. The session-scoped
`kusto` fixture therefore shares one checker across the whole test run.

Setup, from the repository root: install Node.js, then
`npm install --prefix tests/kusto`.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import pytest

TESTS_DIR = Path(__file__).resolve().parent
CHECKER_DIR = TESTS_DIR / "kusto"
CHECKER_SCRIPT = CHECKER_DIR / "checker.js"
PACKAGE_FILE = CHECKER_DIR / "node_modules" / "@kusto" / "language-service-next" / "Kusto.Language.Bridge.js"
SCHEMA_DIR = TESTS_DIR.parent / "translator" / "schemas"

INSTALL_HINT = (
    "Install Node.js (tested with Node 20) so that `node` is on PATH, then run "
    "`npm install --prefix tests/kusto` from the repository root."
)

# Seconds to wait for the library to load, and for one request.
STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0

Tables = Mapping[str, Sequence[Sequence[str]]]


class KustoCheckerUnavailable(RuntimeError):
    """Node.js or the Kusto.Language npm package is missing, or the checker failed to start."""


class KustoCheckerError(RuntimeError):
    """The checker rejected a request, or its process stopped or timed out."""


class InvalidStringLiteral(ValueError):
    """Kusto.Language does not parse the text as exactly one string literal."""

    def __init__(self, message: str, diagnostics: tuple[Diagnostic, ...]):
        super().__init__(message)
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class Diagnostic:
    """A Kusto.Language diagnostic. Offsets count code points of the query text."""

    severity: str
    code: str
    category: str
    message: str
    start: int
    length: int

    @property
    def end(self) -> int:
        return self.start + self.length

    def describe(self, text: str) -> str:
        excerpt = text[self.start : self.end]
        return f"{self.severity} {self.code} at {self.start}: {self.message} [{excerpt!r}]"


@dataclass(frozen=True)
class Analysis:
    """Diagnostics and result schema of one query.

    `columns` is None when the query has no tabular result. `lint` contains the
    analyzer diagnostics (KS5xx, such as KS508 for a join without `kind`) and
    is empty unless the request asked for them.
    """

    query: str
    diagnostics: tuple[Diagnostic, ...]
    columns: tuple[tuple[str, str], ...] | None
    lint: tuple[Diagnostic, ...] = field(default=())

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "Error")

    @property
    def codes(self) -> list[str]:
        return [d.code for d in self.diagnostics]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns or ()]

    def report(self) -> str:
        """Format every diagnostic with its query excerpt, for assertion messages."""
        lines = [d.describe(self.query) for d in self.diagnostics + self.lint]
        return "\n".join(lines) or "no diagnostics"


def _diagnostics(items: Iterable[Mapping[str, Any]]) -> tuple[Diagnostic, ...]:
    return tuple(
        Diagnostic(
            severity=item["severity"],
            code=item["code"],
            category=item["category"],
            message=item["message"],
            start=item["start"],
            length=item["length"],
        )
        for item in items
    )


def schema_tables(platform: str, names: Iterable[str] | None = None) -> dict[str, list[list[str]]]:
    """Build the `tables` argument of `KustoChecker.analyze` from translator/schemas.

    `platform` is "defender" for the Defender XDR Advanced Hunting columns
    (the schema's top-level `columns`) or "sentinel" for the Microsoft
    Sentinel columns (`sentinel.columns`). Without `names`, every schema file
    that has columns for the platform is included.
    """
    if platform not in ("defender", "sentinel"):
        raise ValueError(f"unknown platform {platform!r}; expected 'defender' or 'sentinel'")
    if names is None:
        paths = sorted(SCHEMA_DIR.glob("*.json"))
        required = False
    else:
        paths = [SCHEMA_DIR / f"{name}.json" for name in names]
        required = True

    tables: dict[str, list[list[str]]] = {}
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"no schema file for table {path.stem!r} in {SCHEMA_DIR}")
        schema = json.loads(path.read_text(encoding="utf-8"))
        section = schema if platform == "defender" else schema.get("sentinel")
        if section is None or "columns" not in section:
            if required:
                raise KeyError(f"{path} has no {platform} columns")
            continue
        table_name = schema.get("name", path.stem)
        tables[table_name] = [[column["name"], column["type"]] for column in section["columns"]]
    return tables


class _CheckerProcess:
    """One running checker.js process, with a thread that reads its stdout."""

    def __init__(self, node_path: str):
        # stderr goes to a file, because a pipe that is not read could fill up
        # and block Node. Its content is shown when the process fails.
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self._process = subprocess.Popen(
            [node_path, str(CHECKER_SCRIPT)],
            cwd=CHECKER_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            encoding="utf-8",
            bufsize=1,
        )
        # A reader thread makes response timeouts possible without select(),
        # which does not see lines already buffered by the text wrapper.
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, name="kusto-checker-stdout", daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put("")  # end of output: the process has exited

    def _stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().strip()

    def is_running(self) -> bool:
        return self._process.poll() is None

    def send(self, message: Mapping[str, Any]) -> None:
        if not self.is_running():
            raise KustoCheckerError(
                f"the checker is not running (exit status {self._process.returncode}); "
                f"stderr: {self._stderr_text() or '(empty)'}"
            )
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(message) + "\n")
        self._process.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise KustoCheckerError(f"timed out after {timeout} s waiting for a response from the checker") from None
        if line == "":
            status = self._process.wait()
            raise KustoCheckerError(f"the checker exited with status {status}; stderr: {self._stderr_text() or '(empty)'}")
        return json.loads(line)

    def stop(self, kill: bool = False) -> None:
        if self.is_running():
            if kill:
                self._process.kill()
            else:
                assert self._process.stdin is not None
                self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        # The reader thread stops at end of output. Joining it first means
        # stdout is not closed while the thread is still reading from it.
        self._reader.join(timeout=5)
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None and not stream.closed:
                stream.close()
        self._stderr.close()


class KustoChecker:
    """Client of one long-running tests/kusto/checker.js process.

    Requests are sent one at a time, so a checker must not be shared between
    threads. A request that times out kills the process and starts a new one,
    so that later requests still get responses. Use it as a context manager or
    call `close`. `request_timeout` is in seconds.
    """

    def __init__(self, node: str | None = None, request_timeout: float = REQUEST_TIMEOUT):
        node_path = node or shutil.which("node")
        if node_path is None:
            raise KustoCheckerUnavailable(f"`node` was not found on PATH. {INSTALL_HINT}")
        if not PACKAGE_FILE.is_file():
            raise KustoCheckerUnavailable(
                f"the npm package @kusto/language-service-next is not installed ({PACKAGE_FILE} is missing). {INSTALL_HINT}"
            )
        self._node_path = node_path
        self.request_timeout = request_timeout
        self._next_id = 0
        self._process = self._start()

    def _start(self) -> _CheckerProcess:
        process = _CheckerProcess(self._node_path)
        try:
            ready = process.receive(STARTUP_TIMEOUT)
        except KustoCheckerError as error:
            process.stop(kill=True)
            raise KustoCheckerUnavailable(f"the Kusto.Language checker failed to start: {error}. {INSTALL_HINT}") from error
        if not ready.get("ready"):
            process.stop(kill=True)
            raise KustoCheckerUnavailable(
                f"the Kusto.Language checker failed to load the library: {ready.get('error')}. {INSTALL_HINT}"
            )
        self.version: str = ready["version"]
        return process

    def _request(self, op: str, **fields: Any) -> dict[str, Any]:
        self._next_id += 1
        request_id = self._next_id
        try:
            self._process.send({"id": request_id, "op": op, **fields})
            response = self._process.receive(self.request_timeout)
        except KustoCheckerError:
            # After a timeout, a late response would be taken as the response
            # to the next request, and after a crash there is no process at all.
            self._process.stop(kill=True)
            self._process = self._start()
            raise
        if response.get("id") != request_id:
            raise KustoCheckerError(f"response id {response.get('id')!r} does not match request id {request_id}")
        return response

    def analyze(self, query: str, tables: Tables | None = None, *, lint: bool = False) -> Analysis:
        """Parse and analyze `query` against `tables` ({name: [[column, type], ...]}).

        Syntax and semantic diagnostics both come back in `diagnostics`. With
        `lint`, the analyzer diagnostics of KustoCodeService come back in `lint`.
        """
        response = self._request("analyze", query=query, tables=dict(tables or {}), lint=lint)
        if not response["ok"]:
            raise KustoCheckerError(f"analyze request failed: {response['error']}")
        columns = response["columns"]
        return Analysis(
            query=query,
            diagnostics=_diagnostics(response["diagnostics"]),
            columns=None if columns is None else tuple((name, type_name) for name, type_name in columns),
            lint=_diagnostics(response.get("lint", ())),
        )

    def literal_value(self, text: str) -> str:
        """Return the string value Kusto.Language gives the KQL string literal `text`.

        `text` is source text such as `"a\\\\b"` or `@'x'`. Adjacent literals
        such as `"a" "b"` parse as one compound literal and are accepted.
        Raises InvalidStringLiteral if the text has any error diagnostic, is
        not a string literal, or has whitespace or comments around the literal.

        NOTE: the value is what Kusto.Language 12.4.1 computes, which can differ
        from the Kusto engine. For example it accepts `"\\U0001F600"` without a
        diagnostic but returns `U0001F600`.
        """
        response = self._request("literal", text=text)
        if not response["ok"]:
            diagnostics = _diagnostics(response.get("diagnostics", ()))
            if "diagnostics" not in response:
                raise KustoCheckerError(f"literal request failed: {response['error']}")
            raise InvalidStringLiteral(response["error"], diagnostics)
        return response["value"]

    def close(self) -> None:
        self._process.stop()

    def __enter__(self) -> KustoChecker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@pytest.fixture(scope="session")
def kusto() -> Iterator[KustoChecker]:
    """One Kusto.Language checker shared by the whole test session."""
    checker = KustoChecker()
    try:
        yield checker
    finally:
        checker.close()
