"""Tests of the Kusto.Language harness in kustocheck.py against the real parser."""

from __future__ import annotations

import pytest

from kustocheck import InvalidStringLiteral, KustoChecker, KustoCheckerError, schema_tables

QUARANTINE_RELEASE_QUERY = """\
CloudAppEvents
| where ActionType == "QuarantineReleaseMessage"
| project ReleaseTime = Timestamp, ResultStatus = RawEventData.ResultStatus, ActionType, ReleasedBy = tostring(RawEventData.UserId), NetworkMessageId = tostring(RawEventData.NetworkMessageId), ReleaseTo = RawEventData.ReleaseTo
| join kind=inner (
EmailEvents
| where todynamic(ConfidenceLevel).Phish == "High"
| project-rename EmailTime = Timestamp
) on NetworkMessageId
| project-away NetworkMessageId1
| order by ReleaseTime asc
"""


@pytest.fixture(scope="module")
def defender() -> dict[str, list[list[str]]]:
    return schema_tables("defender", ["CloudAppEvents", "EmailEvents"])


def test_join_query_has_no_errors(kusto: KustoChecker, defender) -> None:
    analysis = kusto.analyze(QUARANTINE_RELEASE_QUERY, defender)

    assert analysis.errors == (), analysis.report()


def test_join_query_result_columns(kusto: KustoChecker, defender) -> None:
    analysis = kusto.analyze(QUARANTINE_RELEASE_QUERY, defender)

    assert analysis.columns is not None
    assert len(analysis.columns) == 44, analysis.columns
    assert analysis.columns[:8] == (
        ("ReleaseTime", "datetime"),
        ("ResultStatus", "dynamic"),
        ("ActionType", "string"),
        ("ReleasedBy", "string"),
        ("NetworkMessageId", "string"),
        ("ReleaseTo", "dynamic"),
        ("EmailTime", "datetime"),
        ("InternetMessageId", "string"),
    )
    assert "NetworkMessageId1" not in analysis.column_names


def test_join_keeps_suffixed_column(kusto: KustoChecker, defender) -> None:
    query = QUARANTINE_RELEASE_QUERY.replace("| project-away NetworkMessageId1\n", "")

    analysis = kusto.analyze(query, defender)

    assert analysis.errors == (), analysis.report()
    assert "NetworkMessageId1" in analysis.column_names


def test_unknown_column_is_ks142(kusto: KustoChecker, defender) -> None:
    query = "CloudAppEvents | where NoSuchColumn == 1"

    analysis = kusto.analyze(query, defender)

    assert [d.code for d in analysis.errors] == ["KS142"], analysis.report()
    error = analysis.errors[0]
    assert query[error.start : error.end] == "NoSuchColumn"


def test_unknown_table_is_an_error(kusto: KustoChecker, defender) -> None:
    analysis = kusto.analyze("DeviceEvents | take 1", {"CloudAppEvents": defender["CloudAppEvents"]})

    assert analysis.errors, analysis.report()


def test_offsets_count_code_points(kusto: KustoChecker) -> None:
    # The emoji is one code point but two UTF-16 units, so offsets from the
    # JavaScript side would be one higher here without the conversion.
    query = 'T | extend e = "\N{GRINNING FACE}" | where Missing == 1'

    analysis = kusto.analyze(query, {"T": [["A", "string"]]})

    assert len(analysis.errors) == 1, analysis.report()
    error = analysis.errors[0]
    assert query[error.start : error.end] == "Missing"


def test_syntax_error_is_reported_not_raised(kusto: KustoChecker, defender) -> None:
    analysis = kusto.analyze("CloudAppEvents | where (", defender)

    assert analysis.errors, analysis.report()
    assert all(d.code.startswith("KS") for d in analysis.errors)


def test_lint_reports_join_without_kind(kusto: KustoChecker, defender) -> None:
    query = "CloudAppEvents | join (EmailEvents) on ReportId"

    plain = kusto.analyze(query, defender)
    linted = kusto.analyze(query, defender, lint=True)

    assert plain.lint == ()
    assert "KS508" in [d.code for d in linted.lint], linted.report()


def test_sentinel_tables_use_sentinel_columns(kusto: KustoChecker) -> None:
    tables = schema_tables("sentinel", ["EmailEvents"])
    # TimeGenerated is the Log Analytics ingestion time column. Timestamp
    # exists in both schemas, so it cannot tell them apart.
    assert "TimeGenerated" in [name for name, _ in tables["EmailEvents"]]

    analysis = kusto.analyze("EmailEvents | project TimeGenerated", tables)

    assert analysis.errors == (), analysis.report()
    assert analysis.columns == (("TimeGenerated", "datetime"),)


def test_schema_tables_rejects_unknown_platform() -> None:
    with pytest.raises(ValueError, match="unknown platform"):
        schema_tables("splunk")


def test_unknown_column_type_is_a_request_error(kusto: KustoChecker) -> None:
    with pytest.raises(KustoCheckerError, match="unknown KQL type"):
        kusto.analyze("T", {"T": [["A", "strng"]]})


def test_checker_survives_failed_request(kusto: KustoChecker) -> None:
    with pytest.raises(KustoCheckerError):
        kusto.analyze("T", {"T": [["A"]]})

    analysis = kusto.analyze("T | project A", {"T": [["A", "long"]]})

    assert analysis.columns == (("A", "long"),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"a\\\\b"', "a\\b"),
        ("'it\\'s'", "it's"),
        ("@'it''s'", "it's"),
        ('@"C:\\temp"', "C:\\temp"),
        ('"a" "b"', "ab"),
    ],
)
def test_literal_value(kusto: KustoChecker, text: str, expected: str) -> None:
    assert kusto.literal_value(text) == expected


def test_unterminated_literal_is_invalid(kusto: KustoChecker) -> None:
    with pytest.raises(InvalidStringLiteral) as raised:
        kusto.literal_value('"abc')

    assert [d.code for d in raised.value.diagnostics] == ["KS001"]


@pytest.mark.parametrize("text", ["42", '"a", "b"', ' "a"', '"a" // comment', "tostring(1)"])
def test_literal_rejects_non_literal_text(kusto: KustoChecker, text: str) -> None:
    with pytest.raises(InvalidStringLiteral):
        kusto.literal_value(text)


def test_checker_restarts_after_timeout() -> None:
    # Kusto.Language took about 150 s (Node 20) to reject 50,000 nested
    # parentheses with KS245, so a 0.1 s timeout expires mid-analysis.
    deep_query = "print x = " + "(" * 50_000 + "1" + ")" * 50_000

    with KustoChecker(request_timeout=0.1) as checker:
        with pytest.raises(KustoCheckerError, match="timed out"):
            checker.analyze(deep_query)
        checker.request_timeout = 30.0
        analysis = checker.analyze("print x = 1")

    assert analysis.columns == (("x", "long"),)
