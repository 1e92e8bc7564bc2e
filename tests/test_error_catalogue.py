"""The error catalogue: bad rule files, each with its exact message and position.

Every case is a rule file written to a temporary folder and checked with
`rulecast check` in-process, so the first line asserted here is exactly what
the command prints: `file:line:col: error: message`. The full rendering of
every case (source line, caret and hint) is kept in
`tests/snapshots/errors.txt`, so that a change of wording shows up in review.
Run with `RULECAST_UPDATE_SNAPSHOTS=1` to rewrite that file after an
intended change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from translator import yamlload
from translator.cli import main

SNAPSHOT = Path(__file__).parent / "snapshots" / "errors.txt"
UPDATE = bool(os.environ.get("RULECAST_UPDATE_SNAPSHOTS"))

HEADER = """\
id: 9e8faa62-7222-48a5-a78f-ef2d22f866dc
name: Catalogue case
description: One bad input.
"""


def rule(query: str) -> str:
    """A rule whose query is a `|` block scalar: query line N is file line 4 + N, column 3 + col - 1."""
    body = "".join("  " + line + "\n" for line in query.strip("\n").split("\n"))
    return HEADER + "query: |\n" + body


SEED_QUERY = """\
EmailEvents
| where Subject has "invoice\""""

# name -> (file content (str or bytes), first line of the error without the file name)
CASES: dict[str, tuple[str | bytes, str]] = {
    # ---------------------------------------------------------------- YAML
    "yaml_unclosed_flow": (
        HEADER + "tactics: [InitialAccess\nquery: EmailEvents\n",
        "5:6: error: invalid YAML: did not find expected ',' or ']'",
    ),
    "yaml_bad_indent": (
        HEADER + "query: |\n  EmailEvents\n severity: High\n",
        "6:2: error: invalid YAML: did not find expected key",
    ),
    "yaml_duplicate_key": (
        HEADER + "name: Again\nquery: EmailEvents\n",
        "4:1: error: duplicate key 'name'",
    ),
    "yaml_not_a_mapping": (
        "- id: 9e8faa62-7222-48a5-a78f-ef2d22f866dc\n",
        "1:1: error: a rule file must be a YAML mapping",
    ),
    "yaml_empty_file": ("", "1:1: error: a rule file must be a YAML mapping"),
    "yaml_merge_key": (
        HEADER + "base: &b {severity: High}\nother:\n  <<: *b\nquery: EmailEvents\n",
        "6:3: error: merge keys ('<<') are not supported in rule files",
    ),
    "yaml_alias_bomb": (
        HEADER
        + "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(6)
        )
        + "query: EmailEvents\n",
        f"8:1: error: document expands to more than {yamlload.MAX_NODES} nodes (too large, or aliases that multiply)",
    ),
    "yaml_too_deep": (
        HEADER + "options:\n  python: " + "[" * 70 + "]" * 70 + "\nquery: EmailEvents\n",
        f"5:74: error: document is nested more than {yamlload.MAX_DEPTH} levels deep",
    ),
    "yaml_too_large": (
        HEADER + "query: EmailEvents\n" + "# padding\n" * (yamlload.MAX_BYTES // 10 + 1),
        f"error: file is larger than {yamlload.MAX_BYTES // (1024 * 1024)} MiB",
    ),
    "yaml_not_utf8": (
        HEADER.encode() + b"query: EmailEvents\n# caf\xe9\n",
        "5:6: error: file is not valid UTF-8 (byte 0xe9)",
    ),
    # ---------------------------------------------------------------- rule keys
    "key_unknown_top_level": (
        rule(SEED_QUERY) + "severty: High\n",
        "7:1: error: unknown key 'severty' in rule",
    ),
    "key_unknown_in_connector": (
        rule(SEED_QUERY) + "requiredDataConnectors:\n  - connectorID: MicrosoftThreatProtection\n",
        "8:5: error: unknown key 'connectorID' in data connector",
    ),
    "key_unknown_in_exclusion": (
        rule(SEED_QUERY) + "exclusions:\n  - name: n\n    description: d\n    filtre: 'Subject:x'\n",
        "10:5: error: unknown key 'filtre' in exclusion",
    ),
    "key_unknown_in_test": (
        rule(SEED_QUERY) + "tests:\n  - name: t\n    input: {EmailEvents: []}\n    expected: {count: 0}\n",
        "10:5: error: unknown key 'expected' in test",
    ),
    "key_unknown_in_expect": (
        rule(SEED_QUERY) + "tests:\n  - name: t\n    input: {EmailEvents: []}\n    expect: {row: []}\n",
        "10:14: error: unknown key 'row' in expect",
    ),
    "key_unknown_target_in_options": (
        rule(SEED_QUERY) + "options:\n  sentinal: {}\n",
        "8:3: error: unknown target 'sentinal' in options",
    ),
    "key_missing_id": (
        "name: n\ndescription: d\nquery: EmailEvents\n",
        "1:1: error: missing required key 'id'",
    ),
    "key_name_not_string": (
        rule(SEED_QUERY).replace("name: Catalogue case", "name: 42"),
        "2:7: error: 'name' must be a string, not a number",
    ),
    "key_empty_description": (
        rule(SEED_QUERY).replace("description: One bad input.", "description: ''"),
        "3:14: error: 'description' must not be empty",
    ),
    "value_bad_guid": (
        rule(SEED_QUERY).replace("9e8faa62-7222-48a5-a78f-ef2d22f866dc", "9e8faa62-7222-48a5-a78f"),
        "1:5: error: id '9e8faa62-7222-48a5-a78f' is not a GUID",
    ),
    "value_bad_tactic": (
        rule(SEED_QUERY) + "tactics:\n  - Initial Access\n",
        "8:5: error: unknown tactic 'Initial Access'",
    ),
    "value_tactics_not_list": (
        rule(SEED_QUERY) + "tactics: InitialAccess\n",
        "7:10: error: 'tactics' must be a list",
    ),
    "value_bad_technique": (
        rule(SEED_QUERY) + "relevantTechniques:\n  - T1566\n  - T1566.1\n",
        "9:5: error: technique id 'T1566.1' is not of the form T1234 or T1234.567",
    ),
    "value_bad_severity": (
        rule(SEED_QUERY) + "severity: medium\n",
        "7:11: error: unknown severity 'medium'",
    ),
    "value_bad_version": (
        rule(SEED_QUERY) + "version: v1\n",
        "7:10: error: version 'v1' is not of the form 1.0.0",
    ),
    "value_version_number": (
        rule(SEED_QUERY) + "version: 1.0\n",
        "7:10: error: 'version' must be a string, not a number",
    ),
    "value_exclusion_enabled": (
        rule(SEED_QUERY) + "exclusions:\n  - name: n\n    description: d\n    filter: 'Subject:x'\n    enabled: yes please\n",
        "11:14: error: 'enabled' must be true or false",
    ),
    "value_test_count_negative": (
        rule(SEED_QUERY) + "tests:\n  - name: t\n    input: {EmailEvents: []}\n    expect: {count: -1}\n",
        "10:21: error: 'count' must be a non-negative integer",
    ),
    "value_test_input_not_mapping": (
        rule(SEED_QUERY) + "tests:\n  - name: t\n    input: [EmailEvents]\n    expect: {count: 0}\n",
        "9:12: error: 'input' must map table names to a list of events or a file path",
    ),
    # ---------------------------------------------------------------- query syntax
    "syntax_unterminated_string": (
        rule('EmailEvents\n| where Subject == "invoice'),
        "6:22: error: unterminated string literal",
    ),
    "syntax_dangling_pipe": (
        rule("EmailEvents\n| where UrlCount > 1\n|"),
        "7:3: error: dangling '|' at the end of the query",
    ),
    "syntax_unsupported_parse": (
        rule('EmailEvents\n| parse Subject with "x" Rest'),
        "6:5: error: operator 'parse' is not supported",
    ),
    "syntax_unsupported_mv_expand": (
        rule("CloudAppEvents\n| mv-expand ActivityObjects"),
        "6:5: error: operator 'mv-expand' is not supported",
    ),
    "syntax_unknown_operator": (
        rule("EmailEvents\n| filterx UrlCount > 1"),
        "6:5: error: unknown tabular operator 'filterx'",
    ),
    "syntax_join_hint": (
        rule("EmailEvents\n| join kind=inner hint.strategy=broadcast (EmailEvents) on NetworkMessageId"),
        "6:21: error: join parameter 'hint.strategy' is not supported",
    ),
    "syntax_join_reversed_condition": (
        rule("EmailEvents\n| join kind=inner (EmailEvents) on $right.ReportId == $left.ReportId"),
        "6:38: error: a join condition must be written $left.<column> == $right.<column>",
    ),
    "syntax_bad_escape": (
        rule('EmailEvents\n| where Subject == "C:\\qtemp"'),
        "6:25: error: invalid escape sequence '\\q' in string literal",
    ),
    "syntax_unclosed_paren": (
        rule("EmailEvents\n| where (UrlCount > 1"),
        "6:23: error: the query ends unexpectedly",
    ),
    "syntax_empty_query": (
        HEADER + 'query: "// nothing but a comment"\n',
        "4:9: error: the query is empty",
    ),
    "syntax_nested_too_deeply": (
        # A thousand unary minus signs: with the query, its pipeline, the where and the comparison,
        # the 997th sign is the first expression past the 1000 levels a query may nest.
        rule("EmailEvents\n| where UrlCount > " + "-" * 1000 + "1"),
        "6:1018: error: the query nests too deeply (more than 1000 levels)",
    ),
    "syntax_leading_dot_number": (
        rule("EmailEvents\n| where UrlCount > .5"),
        "6:22: error: unexpected '.'",
    ),
    # ---------------------------------------------------------------- names
    "name_unknown_table": (
        rule("EmailEvent\n| take 1"),
        "5:3: error: unknown table 'EmailEvent' in the defender schema",
    ),
    "name_unknown_column": (
        rule('EmailEvents\n| where Subjet has "invoice"'),
        "6:11: error: unknown column 'Subjet'",
    ),
    "name_column_wrong_case": (
        rule('EmailEvents\n| where subject has "invoice"'),
        "6:11: error: unknown column 'subject'",
    ),
    "name_unknown_function": (
        rule("EmailEvents\n| extend S = tostrin(UrlCount)"),
        "6:16: error: unknown function 'tostrin'",
    ),
    "name_unsupported_function": (
        rule('EmailEvents\n| extend S = extract("x", 0, Subject)'),
        "6:16: error: function 'extract' is not supported",
    ),
    "name_project_away_missing": (
        rule("EmailEvents\n| project-away NetworkMessageId1"),
        "6:18: error: project-away: column 'NetworkMessageId1' does not exist",
    ),
    "name_join_key_missing_right": (
        rule("EmailEvents\n| join kind=inner (CloudAppEvents) on NetworkMessageId"),
        "6:41: error: join key 'NetworkMessageId' does not exist on the right side",
    ),
    "name_join_key_missing_left": (
        rule("CloudAppEvents\n| join kind=inner (EmailEvents) on $left.MessageId == $right.NetworkMessageId"),
        "6:38: error: join key 'MessageId' does not exist on the left side",
    ),
    "name_duplicate_project": (
        rule("EmailEvents\n| project Subject, Subject = SenderFromAddress"),
        "6:22: error: a column named 'Subject' is already declared in this project",
    ),
    "name_rename_onto_existing": (
        rule("EmailEvents\n| project-rename Subject = SenderFromAddress"),
        "6:20: error: a column named 'Subject' already exists",
    ),
    # ---------------------------------------------------------------- types
    "type_string_equals_number": (
        rule("EmailEvents\n| where Subject == 5"),
        "6:11: error: cannot compare string with long using '=='",
    ),
    "type_bool_equals_string": (
        rule('CloudAppEvents\n| where IsAdminOperation == "yes"'),
        "6:11: error: cannot compare bool with string using '=='",
    ),
    "type_string_less_than": (
        rule('EmailEvents\n| where Subject < "b"'),
        "6:11: error: '<' is not defined on strings",
    ),
    "type_where_not_bool": (
        rule("EmailEvents\n| where UrlCount"),
        "6:11: error: the where predicate must be bool, not int",
    ),
    "type_join_key_dynamic": (
        rule("CloudAppEvents\n| join kind=inner (CloudAppEvents) on RawEventData"),
        "6:41: error: join key 'RawEventData' is dynamic; join keys cannot be dynamic",
    ),
    "type_member_of_string": (
        rule('EmailEvents\n| where ConfidenceLevel.Phish == "High"'),
        "6:11: error: cannot access '.Phish' on a string value; only dynamic values have members",
    ),
    "type_function_arity": (
        rule("EmailEvents\n| extend S = tostring(Subject, 1)"),
        "6:16: error: tostring() takes 1 argument, not 2",
    ),
    "type_aggregate_outside_summarize": (
        rule("EmailEvents\n| where count() > 1"),
        "6:11: error: aggregate function 'count' can only be used in summarize",
    ),
    "type_take_not_constant": (
        rule("EmailEvents\n| take UrlCount"),
        "6:10: error: the row count must be a constant integer",
    ),
    "type_bad_datetime": (
        rule("EmailEvents\n| where Timestamp > datetime(2024-13-01)"),
        "6:23: error: invalid datetime '2024-13-01': month must be in 1..12",
    ),
    "type_unknown_join_kind": (
        rule("EmailEvents\n| join kind=outer (EmailEvents) on NetworkMessageId"),
        "6:10: error: unknown join kind 'outer'",
    ),
    # ---------------------------------------------------------------- regex
    "regex_lookahead": (
        rule('EmailEvents\n| where Subject matches regex @"invoice(?=\\d)"'),
        "6:42: error: look-around assertions are not supported by KQL's regex engine",
    ),
    "regex_backreference": (
        rule('EmailEvents\n| where Subject matches regex @"(a)\\1"'),
        "6:38: error: back-references are not supported by KQL's regex engine",
    ),
    # ---------------------------------------------------------------- positions in other scalar styles
    "position_plain_scalar": (
        HEADER + 'query: EmailEvents | where Subjet has "x"\n',
        "4:28: error: unknown column 'Subjet'",
    ),
    "position_double_quoted_scalar": (
        HEADER + 'query: "EmailEvents | where Subjet has \'x\'"\n',
        "4:29: error: unknown column 'Subjet'",
    ),
    "position_block_keep_chomp": (
        HEADER + "query: |+\n    EmailEvents\n    | where Subjet has 'x'\n\n",
        "6:13: error: unknown column 'Subjet'",
    ),
    "position_indented_block_indicator": (
        HEADER + "query: |2-\n    EmailEvents\n    | where Subjet has 'x'\n",
        "6:13: error: unknown column 'Subjet'",
    ),
}


def _run_case(name: str, content: str | bytes, tmp_path: Path, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.chdir(tmp_path)
    path = Path(f"{name}.yaml")
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    status = main(["check", "-q", str(path)])
    err = capsys.readouterr().err
    return status, err


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_message_and_position(name, tmp_path, monkeypatch, capsys):
    content, expected = CASES[name]
    status, err = _run_case(name, content, tmp_path, monkeypatch, capsys)
    assert status == 1
    assert "Traceback" not in err
    first = err.splitlines()[0]
    separator = ":" if expected[0].isdigit() else ": "
    assert first.startswith(f"{name}.yaml{separator}"), first
    assert first == f"{name}.yaml{separator}{expected}"


def test_catalogue_is_large_enough():
    assert len(CASES) >= 40


def _render_all(tmp_path_factory) -> str:
    """Render every case as `rulecast check` prints it, in name order."""
    import contextlib
    import io

    blocks = []
    folder = tmp_path_factory.mktemp("catalogue")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        for name in sorted(CASES):
            content = CASES[name][0]
            path = Path(f"{name}.yaml")
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                main(["check", "-q", str(path)])
            lines = [line for line in err.getvalue().splitlines() if not line.endswith(" invalid")]
            blocks.append(f"== {name}\n" + "\n".join(lines) + "\n")
    finally:
        os.chdir(cwd)
    return "\n".join(blocks)


def test_snapshot(tmp_path_factory):
    rendered = _render_all(tmp_path_factory)
    if UPDATE:
        SNAPSHOT.write_text(rendered, encoding="utf-8")
    assert SNAPSHOT.exists(), "no snapshot yet: run with RULECAST_UPDATE_SNAPSHOTS=1"
    assert rendered == SNAPSHOT.read_text(encoding="utf-8"), (
        "rendered errors differ from tests/snapshots/errors.txt; review the change and rerun "
        "with RULECAST_UPDATE_SNAPSHOTS=1 to accept it"
    )


def test_every_error_has_a_caret_on_a_real_line(tmp_path_factory):
    """Each error with a position shows the source line and a caret under a character of it."""
    for block in _render_all(tmp_path_factory).split("\n== "):
        lines = block.strip("\n").split("\n")[1:]
        head = lines[0]
        if head.split(":")[1].strip().isdigit() and len(lines) > 1:
            source, caret = lines[1], lines[2]
            assert caret.strip().startswith("^"), block
            column = int(head.split(":")[2])
            assert caret.index("^") == column + 1, block
            assert len(source) >= caret.index("^"), block
