"""The catalogue of bad exclusion filters, each with its exact message and position.

Every case is a rule file with one exclusion, checked with `rulecast check`
in-process, so the first line asserted is exactly what the command prints:
`file:line:col: error: message`, positioned inside the filter string. The
full rendering of every case (source line, caret and hint) is kept in
`tests/snapshots/exclusion_errors.txt`; run with `RULECAST_UPDATE_SNAPSHOTS=1`
to rewrite it after an intended change of wording.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from translator.cli import main

SNAPSHOT = Path(__file__).parent / "snapshots" / "exclusion_errors.txt"
UPDATE = bool(os.environ.get("RULECAST_UPDATE_SNAPSHOTS"))

# The filter sits on line 14 and starts at column 14, so a problem at offset N
# of the filter text is reported at 14:(14 + N).
RULE = """\
id: 00000000-0000-4000-8000-00000000e1e1
name: Exclusion catalogue case
description: One bad exclusion filter.
query: |
  EmailEvents
  | extend Conf = todynamic(ConfidenceLevel)
  | project NetworkMessageId, Subject, BulkComplaintLevel, EmailTime = Timestamp, Conf
fields:
  subject: Subject
  ghost: SenderAddress
exclusions:
  - name: case
    description: The filter under test.
    filter: '{filter}'
{extra}"""

COLUMNS = "output columns: NetworkMessageId, Subject, BulkComplaintLevel, EmailTime, Conf"
INT = "column 'BulkComplaintLevel' (field 'BulkComplaintLevel') is int"

# name -> (filter, extra YAML under the exclusion, first line of the error without the file name)
CASES: dict[str, tuple[str, str, str]] = {
    "empty": ("", "", "14:13: error: 'filter' must not be empty"),
    "lucene_question_mark": ("Subject:ccm?exec", "",
                             "14:25: error: exclusion 'case': '?' is Lucene syntax, which exclusion filters do not "
                             "support"),
    "lucene_tilde": ("Subject:invoice~", "",
                     "14:29: error: exclusion 'case': '~' is Lucene syntax, which exclusion filters do not support"),
    "lucene_range": ("Subject:[a TO b]", "", "14:22: error: exclusion 'case': a Lucene range [a TO b] is not supported"),
    "lucene_plus": ("+Subject:x", "",
                    "14:14: error: exclusion 'case': '+' is Lucene syntax, which exclusion filters do not support"),
    "lucene_and": ("Subject:a && Subject:b", "",
                   "14:24: error: exclusion 'case': '&&' is Lucene syntax, which exclusion filters do not support"),
    "blank": ("   ", "", "14:13: error: 'filter' must not be empty"),
    "unknown_field": (
        "tool:*Defender*", "",
        f"14:14: error: exclusion 'case': field 'tool' is neither an output column nor an alias in 'fields'; "
        f"{COLUMNS}; aliases: ghost, subject",
    ),
    "field_case": (
        "networkmessageid:m1", "",
        f"14:14: error: exclusion 'case': field 'networkmessageid' is neither an output column nor an alias in "
        f"'fields'; {COLUMNS}; aliases: ghost, subject",
    ),
    "alias_to_missing_column": (
        "ghost:x", "",
        f"14:14: error: exclusion 'case': field 'ghost' is an alias of 'SenderAddress', which is not an output "
        f"column; {COLUMNS}",
    ),
    "range_on_string": (
        "Subject >= a", "",
        "14:14: error: exclusion 'case': range '>=' on string column 'Subject' (field 'Subject'); "
        "strings have no order in KQL",
    ),
    "range_on_dynamic": (
        "Conf > 1", "",
        "14:14: error: exclusion 'case': range '>' on dynamic column 'Conf' (field 'Conf'); "
        "ranges need a number, datetime or timespan column",
    ),
    "wildcard_on_number": (
        "BulkComplaintLevel:5*", "",
        "14:33: error: exclusion 'case': a wildcard cannot match int column 'BulkComplaintLevel' "
        "(field 'BulkComplaintLevel')",
    ),
    "not_a_number": ("BulkComplaintLevel:high", "", f"14:33: error: exclusion 'case': 'high' is not a whole number, and {INT}"),
    "fraction_on_int": ("BulkComplaintLevel:2.5", "", f"14:33: error: exclusion 'case': '2.5' is not a whole number, and {INT}"),
    "int_out_of_range": (
        "BulkComplaintLevel:99999999999", "",
        f"14:33: error: exclusion 'case': 99999999999 is out of range: {INT}",
    ),
    "bad_datetime": (
        "EmailTime < yesterday", "",
        "14:26: error: exclusion 'case': invalid datetime 'yesterday', and column 'EmailTime' (field 'EmailTime') "
        "is datetime",
    ),
    "wildcard_in_range": (
        "BulkComplaintLevel >= 5*", "",
        "14:37: error: exclusion 'case': a wildcard cannot be part of a range value ('5*')",
    ),
    "colon_in_value": (
        "EmailTime:2024-05-14T09:00:00Z", "",
        "14:37: error: exclusion 'case': unexpected ':'; a value that contains ':' must be quoted or escaped",
    ),
    "no_field": (
        "invoice", "",
        "14:14: error: exclusion 'case': the term 'invoice' names no field",
    ),
    "unterminated_quote": ('Subject:"abc', "", "14:22: error: exclusion 'case': unterminated quoted value"),
    "unclosed_parenthesis": (
        "Subject:(a or b", "",
        "14:28: error: exclusion 'case': the filter ends early; expected ')', 'and' or 'or'",
    ),
    "extra_parenthesis": ("Subject:a)", "", "14:23: error: exclusion 'case': unexpected ')'"),
    "dangling_or": ("Subject:a or", "", "14:25: error: exclusion 'case': the filter ends early; expected "
                    "'(', 'not', a field name or a value"),
    "leading_and": (
        "and Subject:a", "",
        "14:14: error: exclusion 'case': 'and' needs a term on each side",
    ),
    "not_without_term": (
        "Subject:a and not", "",
        "14:30: error: exclusion 'case': the filter ends early; expected '(', 'not', a field name or a value",
    ),
    "unknown_escape": (
        r"Subject:a\d", "",
        "14:23: error: exclusion 'case': unknown escape '\\d'",
    ),
    "short_unicode_escape": (
        r"Subject:\u12", "",
        "14:22: error: exclusion 'case': \\u must be followed by four hexadecimal digits",
    ),
    "nested_query": (
        "Subject:{a}", "",
        "14:22: error: exclusion 'case': unexpected '{'; nested field queries are not supported",
    ),
    "terms_without_operator": (
        'Subject:"a" BulkComplaintLevel:5', "",
        "14:26: error: exclusion 'case': unexpected 'BulkComplaintLevel'; join terms with 'and' or 'or'",
    ),
    "field_name_with_space": (
        "Sender Address:x", "",
        "14:28: error: exclusion 'case': unexpected ':'; a value that contains ':' must be quoted or escaped",
    ),
    "range_without_field": (
        ">= 5", "",
        "14:14: error: exclusion 'case': unexpected '>='; a range needs a field name before it",
    ),
    "undeclared_placeholder": (
        "Subject:${who}", "",
        "14:22: error: exclusion 'case': placeholder 'who' is not declared under 'placeholders' (declared: none)",
    ),
    "unused_placeholder": (
        "Subject:x", "    placeholders:\n      who:\n        description: An account.\n        value: null\n",
        "16:7: error: exclusion 'case': placeholder 'who' is declared but the filter does not use it",
    ),
    "placeholder_without_description": (
        "Subject:${who}", "    placeholders:\n      who:\n        value: a\n",
        "17:9: error: missing required key 'description'",
    ),
    "placeholder_in_range": (
        "BulkComplaintLevel >= ${n}", "",
        "14:36: error: exclusion 'case': a placeholder can stand only for text in a field:value term",
    ),
    "enabled_not_bool": ("Subject:x", "    enabled: no way\n", "15:14: error: 'enabled' must be true or false"),
}


def _run(name: str, tmp_path: Path, monkeypatch, capsys) -> str:
    filter_text, extra, _ = CASES[name]
    monkeypatch.chdir(tmp_path)
    path = Path(f"{name}.yaml")
    path.write_text(RULE.format(filter=filter_text.replace("'", "''"), extra=extra), encoding="utf-8")
    status = main(["check", str(path)])
    captured = capsys.readouterr()
    assert status == 1, captured.out
    assert "Traceback" not in captured.err
    return captured.err.split("\n1 rule checked")[0].rstrip("\n")


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_message_and_position(name, tmp_path, monkeypatch, capsys):
    rendered = _run(name, tmp_path, monkeypatch, capsys)
    assert rendered.splitlines()[0] == f"{name}.yaml:{CASES[name][2]}"


def test_catalogue_is_large_enough():
    assert len(CASES) >= 20


def test_snapshot(tmp_path_factory, monkeypatch, capsys):
    parts = []
    for name in sorted(CASES):
        rendered = _run(name, tmp_path_factory.mktemp(name), monkeypatch, capsys)
        parts.append(f"== {name}\n{rendered}\n")
    text = "\n".join(parts)
    if UPDATE:
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert SNAPSHOT.exists(), "no snapshot yet: run with RULECAST_UPDATE_SNAPSHOTS=1"
    assert text == SNAPSHOT.read_text(encoding="utf-8"), "run with RULECAST_UPDATE_SNAPSHOTS=1 and review the diff"
