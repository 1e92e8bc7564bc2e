"""Helpers for the KQL target tests: run the CLI in-process, pull the KQL out of
every packaged format, and check it with Kusto.Language against the target's
schemas."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from kustocheck import KustoChecker, schema_tables
from translator.cli import main

ROOT = Path(__file__).resolve().parents[1]

RULE_HEAD = """\
id: 0b6f0b8e-3c1a-4f7e-9d2b-5a4c3e2f1d00
name: Test rule
description: A rule written by the tests.
"""


def write_rule(tmp_path: Path, query: str, extra: str = "", head: str = RULE_HEAD) -> Path:
    """Write a rule file whose query is `query` (indented as a block) and return its path."""
    body = "".join("  " + line + "\n" if line else "\n" for line in query.strip("\n").split("\n"))
    path = tmp_path / "rule.yaml"
    path.write_text(head + "query: |\n" + body + extra, encoding="utf-8")
    return path


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run `rulecast ARGS` in this process; return the exit status, stdout and stderr."""
    capsys.readouterr()
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def query_text(text: str, fmt: str) -> str:
    """Return the KQL held by one compiled artifact of the given format."""
    if fmt == "query":
        return text
    if fmt in ("hunting", "analytic"):
        return yaml.safe_load(text)["query"]
    if fmt == "arm":
        return json.loads(text)["resources"][0]["properties"]["query"]
    if fmt == "custom-detection":
        return json.loads(text)["queryCondition"]["queryText"]
    raise ValueError(f"no KQL in format {fmt!r}")


def assert_valid_kql(kusto: KustoChecker, text: str, platform: str, columns=None) -> None:
    """Fail on any Kusto.Language error; with `columns` (IR columns), also compare the result schema."""
    analysis = kusto.analyze(text, schema_tables(platform))
    assert analysis.errors == (), f"Kusto.Language errors for {platform}:\n{analysis.report()}\n{text}"
    if columns is not None:
        expected = [(c.name, str(c.type)) for c in columns]
        assert list(analysis.columns or ()) == expected, f"result columns differ for {platform}:\n{text}"
