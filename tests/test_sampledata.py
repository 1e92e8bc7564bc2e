"""Tests of the sample data generator in `translator.sampledata`.

The checks parse the written JSON Lines files with `json`, as a consumer of
the files would, and take the column list from the schema files rather than
from the generator.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from translator import sampledata

REPO = Path(__file__).resolve().parents[1]
SCHEMA_DIR = REPO / "translator" / "schemas"
SAMPLE_DIR = REPO / "rules" / "email" / "samples" / "high_confidence_phish_released"

TIMESTAMP_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$")
CREATION_TIME_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
GUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]+$")

# Values of the Office 365 Management Activity API quarantine schema (RecordType 65).
REQUEST_TYPES = {
    "QuarantinePreviewMessage": 0,
    "QuarantineDeleteMessage": 1,
    "QuarantineReleaseMessage": 2,
    "QuarantineExportMessage": 3,
    "QuarantineViewHeader": 4,
    "QuarantineReleaseRequest": 5,
}
RESULT_STATUSES = {"Succeeded", "PartiallySucceeded", "Failed"}
REQUEST_SOURCES = {0, 1, 2}

# Medium-sized counts: large enough that every action type and verdict shows up.
CLOUDAPP_COUNT = 4000
EMAIL_COUNT = 2000


def schema_columns(table: str) -> list[tuple[str, str]]:
    document = json.loads((SCHEMA_DIR / f"{table}.json").read_text(encoding="utf-8"))
    return [(column["name"], column["type"]) for column in document["columns"]]


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as file:
        return [json.loads(line) for line in file]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, list[dict]]:
    out_dir = tmp_path_factory.mktemp("sample")
    paths = sampledata.write_sample(out_dir, CLOUDAPP_COUNT, EMAIL_COUNT, seed=5)
    return {table: read_jsonl(path) for table, path in paths.items()}


def high_phish_join(cloudapp_rows: list[dict], email_rows: list[dict]) -> list[tuple[dict, dict]]:
    """Evaluate the High Confidence Phish Released rule's join, independently of the generator."""
    high_phish: dict[str, list[dict]] = {}
    for row in email_rows:
        if not row["ConfidenceLevel"]:
            continue
        if json.loads(row["ConfidenceLevel"]).get("Phish") == "High":
            high_phish.setdefault(row["NetworkMessageId"], []).append(row)
    matches = []
    for row in cloudapp_rows:
        if row["ActionType"] != "QuarantineReleaseMessage":
            continue
        network_message_id = str(row["RawEventData"].get("NetworkMessageId", ""))
        for email in high_phish.get(network_message_id, []):
            matches.append((row, email))
    return matches


def parse_timestamp(text: str) -> dt.datetime:
    # datetime.fromisoformat takes at most 6 fractional digits before Python 3.11.
    return dt.datetime.strptime(text[:26], "%Y-%m-%dT%H:%M:%S.%f")


def recorded_sample_arguments() -> dict[str, int]:
    readme = (SAMPLE_DIR / "README.md").read_text(encoding="utf-8")
    match = re.search(r"--cloudapp-events (\d+) --email-events (\d+) --seed (\d+)", readme)
    assert match, "the sample README must record the `rulecast sample` arguments"
    cloudapp_count, email_count, seed = (int(value) for value in match.groups())
    return {"cloudapp_count": cloudapp_count, "email_count": email_count, "seed": seed}


# --- determinism -----------------------------------------------------------

def test_rows_same_for_same_seed():
    first = list(sampledata.iter_rows(600, 300, seed=11))
    second = list(sampledata.iter_rows(600, 300, seed=11))
    assert first == second


def test_rows_differ_between_seeds():
    first = list(sampledata.table_rows("EmailEvents", 600, 300, seed=11))
    second = list(sampledata.table_rows("EmailEvents", 600, 300, seed=12))
    assert first != second


def test_table_rows_independent_of_reading_order():
    email_first = list(sampledata.table_rows("EmailEvents", 500, 400, seed=3))
    interleaved = sampledata.iter_rows(500, 400, seed=3)
    email_rows = [row for table, row in interleaved if table == "EmailEvents"]
    assert email_first == email_rows


def test_write_sample_byte_identical(tmp_path):
    first = sampledata.write_sample(tmp_path / "a", 800, 400, seed=9)
    second = sampledata.write_sample(tmp_path / "b", 800, 400, seed=9)
    for table in sampledata.TABLES:
        assert first[table].read_bytes() == second[table].read_bytes(), table


def test_write_sample_gzip_byte_identical(tmp_path):
    plain = sampledata.write_sample(tmp_path / "plain", 800, 400, seed=9)
    first = sampledata.write_sample(tmp_path / "a", 800, 400, seed=9, gzip=True)
    second = sampledata.write_sample(tmp_path / "b", 800, 400, seed=9, gzip=True)
    for table in sampledata.TABLES:
        assert first[table].name == f"{table}.jsonl.gz"
        assert first[table].read_bytes() == second[table].read_bytes(), table
        assert gzip.decompress(first[table].read_bytes()) == plain[table].read_bytes(), table


def test_table_rows_is_lazy():
    rows = sampledata.table_rows("CloudAppEvents", 10_000_000, 10, seed=1)
    assert iter(rows) is rows
    assert next(rows)["ActionType"]


# --- columns and types -----------------------------------------------------

@pytest.mark.parametrize("table", ["CloudAppEvents", "EmailEvents"])
def test_rows_have_schema_columns_in_order(written, table):
    expected = [name for name, _ in schema_columns(table)]
    rows = written[table]
    assert len(rows) == {"CloudAppEvents": CLOUDAPP_COUNT, "EmailEvents": EMAIL_COUNT}[table]
    for row in rows:
        assert list(row) == expected


@pytest.mark.parametrize("table", ["CloudAppEvents", "EmailEvents"])
def test_values_have_schema_json_types(written, table):
    columns = schema_columns(table)
    for row in written[table]:
        for name, kql_type in columns:
            value = row[name]
            if kql_type == "string":
                assert isinstance(value, str), (name, value)
            elif kql_type in ("int", "long"):
                assert isinstance(value, int) and not isinstance(value, bool), (name, value)
            elif kql_type == "bool":
                assert isinstance(value, bool), (name, value)
            elif kql_type == "datetime":
                assert isinstance(value, str) and TIMESTAMP_PATTERN.match(value), (name, value)
            elif kql_type == "dynamic":
                assert isinstance(value, (dict, list)), (name, value)
            else:
                pytest.fail(f"column {name} has type {kql_type}, which this test does not check")
        if table == "CloudAppEvents":
            assert isinstance(row["RawEventData"], dict)


@pytest.mark.parametrize("table", ["CloudAppEvents", "EmailEvents"])
def test_timestamps_ascending_within_window(written, table):
    timestamps = [parse_timestamp(row["Timestamp"]) for row in written[table]]
    assert timestamps == sorted(timestamps)
    assert timestamps[0] >= dt.datetime(2026, 11, 16)
    assert timestamps[-1] < dt.datetime(2026, 11, 30)


def test_int_columns_within_kql_int_range(written):
    for row in written["CloudAppEvents"]:
        assert -2**31 <= row["ApplicationId"] < 2**31
        assert -2**31 <= row["AppInstanceId"] < 2**31
    for row in written["EmailEvents"]:
        assert 0 <= row["BulkComplaintLevel"] <= 9
        assert row["AttachmentCount"] >= 0
        assert row["UrlCount"] >= 0


def test_confidence_level_is_json_or_empty(written):
    for row in written["EmailEvents"]:
        text = row["ConfidenceLevel"]
        if text:
            assert isinstance(json.loads(text), dict), text


# --- realistic mix ----------------------------------------------------------

def test_cloudapp_action_types_mixed(written):
    counts = Counter(row["ActionType"] for row in written["CloudAppEvents"])
    for action_type in ("FileDownloaded", "MailboxLogin", "MessageSent", "MailItemsAccessed", "UserLoggedIn",
                        "Set-Mailbox", "QuarantineReleaseMessage", "QuarantineReleaseRequest",
                        "QuarantinePreviewMessage"):
        assert counts[action_type] > 0, action_type
    assert len(counts) >= 20
    assert any(row["IsAdminOperation"] for row in written["CloudAppEvents"])


def test_confidence_levels_mixed(written):
    kinds = Counter()
    for row in written["EmailEvents"]:
        text = row["ConfidenceLevel"]
        if not text:
            kinds["empty"] += 1
        else:
            kinds[json.loads(text).get("Phish", "no phish key")] += 1
    for kind in ("High", "Low", "no phish key", "empty"):
        assert kinds[kind] > 0, kind


def test_email_columns_mixed(written):
    rows = written["EmailEvents"]
    for column in ("DeliveryAction", "DeliveryLocation", "ThreatTypes", "EmailDirection"):
        assert len({row[column] for row in rows}) >= 3, column
    assert {"Inbound", "Outbound", "Intra-org"} <= {row["EmailDirection"] for row in rows}
    assert any(row["DeliveryLocation"] == "Quarantine" for row in rows)
    for row in rows:
        assert EMAIL_PATTERN.match(row["SenderFromAddress"]), row["SenderFromAddress"]
        assert EMAIL_PATTERN.match(row["RecipientEmailAddress"]), row["RecipientEmailAddress"]
        assert row["SenderFromDomain"] == row["SenderFromAddress"].split("@")[1]
        assert GUID_PATTERN.match(row["NetworkMessageId"]), row["NetworkMessageId"]


def test_multi_recipient_messages_share_id(written):
    counts = Counter(row["NetworkMessageId"] for row in written["EmailEvents"])
    shared = [network_message_id for network_message_id, count in counts.items() if count > 1]
    assert shared
    for network_message_id in shared:
        rows = [row for row in written["EmailEvents"] if row["NetworkMessageId"] == network_message_id]
        assert len({row["RecipientEmailAddress"] for row in rows}) == len(rows)
        assert len({row["Subject"] for row in rows}) == 1


# --- quarantine records -----------------------------------------------------

def quarantine_rows(rows: list[dict]) -> list[dict]:
    return [row for row in rows if row["ActionType"].startswith("Quarantine")]


def test_quarantine_records_have_audit_fields(written):
    rows = quarantine_rows(written["CloudAppEvents"])
    assert rows
    for row in rows:
        raw = row["RawEventData"]
        assert raw["Operation"] == row["ActionType"]
        assert raw["RecordType"] == 65
        assert raw["ResultStatus"] in RESULT_STATUSES
        assert EMAIL_PATTERN.match(raw["UserId"]), raw["UserId"]
        assert CREATION_TIME_PATTERN.match(raw["CreationTime"]), raw["CreationTime"]
        assert row["Timestamp"].startswith(raw["CreationTime"])
        assert isinstance(raw["Workload"], str) and raw["Workload"]
        assert GUID_PATTERN.match(raw["Id"])
        assert GUID_PATTERN.match(raw["OrganizationId"])
        assert raw["RequestType"] == REQUEST_TYPES[row["ActionType"]]
        assert raw["RequestSource"] in REQUEST_SOURCES
        if "NetworkMessageId" in raw:
            assert GUID_PATTERN.match(raw["NetworkMessageId"]), raw["NetworkMessageId"]


def test_release_records_name_recipient(written):
    releases = [row for row in written["CloudAppEvents"] if row["ActionType"] == "QuarantineReleaseMessage"]
    assert releases
    for row in releases:
        release_to = row["RawEventData"]["ReleaseTo"]
        assert isinstance(release_to, str)
        assert EMAIL_PATTERN.match(release_to), release_to


def test_release_records_vary(written):
    releases = [row for row in written["CloudAppEvents"] if row["ActionType"] == "QuarantineReleaseMessage"]
    statuses = Counter(row["RawEventData"]["ResultStatus"] for row in releases)
    assert statuses["Succeeded"] > statuses["Failed"] > 0
    assert any("NetworkMessageId" not in row["RawEventData"] for row in releases)
    assert any("NetworkMessageId" in row["RawEventData"] for row in releases)


def test_release_share_of_cloudapp_rows(written):
    releases = [row for row in written["CloudAppEvents"] if row["ActionType"] == "QuarantineReleaseMessage"]
    assert 0.005 <= len(releases) / CLOUDAPP_COUNT <= 0.02


# --- the join the rule runs -------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_releases_join_high_confidence_phish(seed):
    cloudapp_rows = list(sampledata.table_rows("CloudAppEvents", 3000, 1500, seed))
    email_rows = list(sampledata.table_rows("EmailEvents", 3000, 1500, seed))
    releases = [row for row in cloudapp_rows if row["ActionType"] == "QuarantineReleaseMessage"]
    matched_releases = {row["RawEventData"]["Id"] for row, _ in high_phish_join(cloudapp_rows, email_rows)}
    assert len(matched_releases) >= 0.25 * len(releases), (len(matched_releases), len(releases))


def test_releases_join_low_confidence_phish(written):
    by_id = {row["NetworkMessageId"]: row for row in written["EmailEvents"]}
    levels = Counter()
    for row in written["CloudAppEvents"]:
        if row["ActionType"] != "QuarantineReleaseMessage":
            continue
        email = by_id.get(row["RawEventData"].get("NetworkMessageId"))
        if email is None:
            levels["not in EmailEvents"] += 1
        elif email["ConfidenceLevel"]:
            levels[json.loads(email["ConfidenceLevel"]).get("Phish", "no phish key")] += 1
    for kind in ("High", "Low", "no phish key", "not in EmailEvents"):
        assert levels[kind] > 0, kind


def test_some_messages_released_twice(written):
    counts = Counter(
        row["RawEventData"]["NetworkMessageId"]
        for row in written["CloudAppEvents"]
        if row["ActionType"] == "QuarantineReleaseMessage" and "NetworkMessageId" in row["RawEventData"]
    )
    assert any(count >= 2 for count in counts.values())


def test_joined_messages_consistent(written):
    matches = high_phish_join(written["CloudAppEvents"], written["EmailEvents"])
    assert matches
    for release, email in matches:
        assert parse_timestamp(email["Timestamp"]) < parse_timestamp(release["Timestamp"])
        assert email["DeliveryLocation"] == "Quarantine"
        assert email["EmailDirection"] == "Inbound"
    recipients = {(email["NetworkMessageId"], email["RecipientEmailAddress"]) for _, email in matches}
    for release, _ in matches:
        raw = release["RawEventData"]
        assert (raw["NetworkMessageId"], raw["ReleaseTo"]) in recipients


def test_released_message_latest_location(written):
    """A message with a successful release shows it in LatestDeliveryAction."""
    succeeded = {
        row["RawEventData"]["NetworkMessageId"]
        for row in written["CloudAppEvents"]
        if row["ActionType"] == "QuarantineReleaseMessage"
        and row["RawEventData"]["ResultStatus"] != "Failed"
        and "NetworkMessageId" in row["RawEventData"]
    }
    released_rows = [row for row in written["EmailEvents"] if row["NetworkMessageId"] in succeeded]
    assert released_rows
    for row in released_rows:
        assert row["LatestDeliveryAction"] == "Quarantine release"
        assert row["LatestDeliveryLocation"] == "Inbox/folder"


@pytest.mark.parametrize("cloudapp_count, email_count", [(0, 0), (0, 50), (50, 0), (1, 1), (200, 3)])
def test_small_and_empty_counts(cloudapp_count, email_count):
    rows = list(sampledata.iter_rows(cloudapp_count, email_count, seed=1))
    counts = Counter(table for table, _ in rows)
    assert counts["CloudAppEvents"] == cloudapp_count
    assert counts["EmailEvents"] == email_count


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True])
def test_invalid_count_rejected(bad):
    with pytest.raises(ValueError, match="invalid cloudapp_count"):
        sampledata.build_plan(bad, 10)


def test_unknown_table_rejected():
    with pytest.raises(ValueError, match="unknown table 'DeviceEvents'"):
        sampledata.table_rows("DeviceEvents", 10, 10)


# --- the shipped sample -----------------------------------------------------

def test_shipped_sample_matches_generator(tmp_path):
    arguments = recorded_sample_arguments()
    paths = sampledata.write_sample(tmp_path, **arguments)
    for table in sampledata.TABLES:
        shipped = SAMPLE_DIR / f"{table}.jsonl"
        assert shipped.read_bytes() == paths[table].read_bytes(), f"{shipped} differs from the generator output"


def test_shipped_sample_has_handful_of_matches():
    cloudapp_rows = read_jsonl(SAMPLE_DIR / "CloudAppEvents.jsonl")
    email_rows = read_jsonl(SAMPLE_DIR / "EmailEvents.jsonl")
    matches = high_phish_join(cloudapp_rows, email_rows)
    assert 3 <= len(matches) <= 25, len(matches)


# --- the `sample` subcommand ------------------------------------------------

def build_cli() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rulecast")
    subparsers = parser.add_subparsers(dest="command", required=True)
    sampledata.add_parser(subparsers)
    return parser


def test_sample_command_writes_files(tmp_path, capsys):
    args = build_cli().parse_args(
        ["sample", "-o", str(tmp_path / "out"), "--cloudapp-events", "300", "--email-events", "120", "--seed", "4"]
    )
    assert args.func(args) == 0
    assert len(read_jsonl(tmp_path / "out" / "CloudAppEvents.jsonl")) == 300
    assert len(read_jsonl(tmp_path / "out" / "EmailEvents.jsonl")) == 120
    assert "300 rows" in capsys.readouterr().out
    expected = sampledata.write_sample(tmp_path / "direct", 300, 120, seed=4)
    assert (tmp_path / "out" / "EmailEvents.jsonl").read_bytes() == expected["EmailEvents"].read_bytes()


def test_sample_command_gzip(tmp_path):
    args = build_cli().parse_args(["sample", "--output", str(tmp_path), "--email-events", "10", "--gzip"])
    assert args.func(args) == 0
    assert len(read_jsonl(tmp_path / "EmailEvents.jsonl.gz")) == 10
    assert not (tmp_path / "EmailEvents.jsonl").exists()


def test_sample_command_defaults():
    args = build_cli().parse_args(["sample", "-o", "out"])
    assert args.seed == 1
    assert args.gzip is False
    assert args.cloudapp_events >= 1
    assert args.email_events >= 1


@pytest.mark.parametrize("argv", [
    ["sample"],
    ["sample", "-o", "out", "--cloudapp-events", "-5"],
    ["sample", "-o", "out", "--email-events", "many"],
])
def test_sample_command_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_cli().parse_args(argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_sample_command_unwritable_output(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    args = build_cli().parse_args(["sample", "-o", str(blocker / "sub")])
    assert args.func(args) == 1
    assert "cannot write sample data" in capsys.readouterr().err
