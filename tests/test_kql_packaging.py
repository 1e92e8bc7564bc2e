"""Packaging of the KQL targets: hunting and analytics YAML, ARM, and Defender
XDR custom detections, with the constraints the receiving side enforces."""

from __future__ import annotations

import json

import pytest
import yaml

from backends.kql_target import iso_duration, parse_duration, yaml_block, yaml_scalar
from kqlcheck import ROOT, assert_valid_kql, cli, query_text, write_rule
from kustocheck import schema_tables
from translator.compiler import analyze
from translator.rule import load_rule

PHISH_RULE = ROOT / "rules/email/high_confidence_phish_released.yaml"

QUERY = """
EmailEvents
| where DeliveryAction == "Delivered"
| project Timestamp, NetworkMessageId, RecipientEmailAddress, SenderFromAddress, SenderIPv4, Subject, ReportId
"""
TAGS = """\
tactics: [InitialAccess, Persistence]
relevantTechniques: [T1566.001, T1566.002, T1098]
"""


def compile_format(capsys, path, target, fmt):
    status, out, err = cli(capsys, "compile", path, "-t", target, "-f", fmt)
    assert status == 0, err
    return out


def errors_of(capsys, path, target, fmt):
    status, out, err = cli(capsys, "compile", path, "-t", target, "-f", fmt)
    assert status == 1, err
    assert out == ""
    assert "Traceback" not in err
    return [line for line in err.splitlines() if ": error: " in line], err


# ---------------------------------------------------------------- formats per target


def test_formats_per_target(capsys, tmp_path):
    path = write_rule(tmp_path, QUERY)
    for target, fmt in (("sentinel", "custom-detection"), ("defender", "analytic"), ("defender", "arm")):
        status, _, err = cli(capsys, "compile", path, "-t", target, "-f", fmt)
        assert status == 2
        assert f"target '{target}' has no format '{fmt}'" in err


# ---------------------------------------------------------------- hunting


@pytest.mark.parametrize("target", ["sentinel", "defender"])
def test_hunting_yaml(capsys, tmp_path, kusto, target):
    path = write_rule(tmp_path, QUERY, TAGS + "version: 1.2.0\n")
    document = yaml.safe_load(compile_format(capsys, path, target, "hunting"))
    assert list(document) == ["id", "name", "description", "requiredDataConnectors", "tactics", "relevantTechniques",
                              "query", "version"]
    assert document["requiredDataConnectors"] == [{"connectorId": "MicrosoftThreatProtection",
                                                   "dataTypes": ["EmailEvents"]}]
    assert document["query"] == compile_format(capsys, path, target, "query")
    assert document["version"] == "1.2.0"
    assert_valid_kql(kusto, document["query"], target, analyze(load_rule(path), target).columns)


def test_yaml_text_survives_awkward_strings():
    for text in ["plain", "yes", "1.0", "a: b", "# not a comment", "- dash", "quote \" and \\", "line\nbreak",
                 "tab\t", "nel\x85", "😀", "", " leading", "@at", "trailing "]:
        assert yaml.safe_load("k: " + yaml_scalar(text)) == {"k": text}, text
    for text in ["one line\n", "two\nlines\n", "no newline", "  indented first\n", "blank\n\nline\n", "ends\n\n",
                 "ctrl\x01\n"]:
        assert yaml.safe_load("k: " + yaml_block(text) + "\n") == {"k": text}, text


# ---------------------------------------------------------------- analytics rules


def test_default_host_entity_full_name(capsys, tmp_path):
    query = "DeviceProcessEvents\n| where FileName =~ \"whoami.exe\"\n| project Timestamp, DeviceId, DeviceName, ReportId"
    path = write_rule(tmp_path, query, TAGS)
    document = yaml.safe_load(compile_format(capsys, path, "sentinel", "analytic"))
    hosts = [e for e in document["entityMappings"] if e["entityType"] == "Host"]
    assert hosts == [{"entityType": "Host", "fieldMappings": [{"identifier": "FullName", "columnName": "DeviceName"}]}]


def test_analytic_defaults(capsys, tmp_path, kusto):
    path = write_rule(tmp_path, QUERY, TAGS)
    document = yaml.safe_load(compile_format(capsys, path, "sentinel", "analytic"))
    assert document["severity"] == "Medium"
    assert (document["queryFrequency"], document["queryPeriod"]) == ("1h", "1h")
    assert (document["triggerOperator"], document["triggerThreshold"]) == ("gt", 0)
    assert (document["kind"], document["version"], document["status"]) == ("Scheduled", "1.0.0", "Available")
    assert document["tactics"] == ["InitialAccess", "Persistence"]
    assert document["relevantTechniques"] == ["T1566.001", "T1566.002", "T1098"]
    assert document["entityMappings"] == [
        {"entityType": "Mailbox", "fieldMappings": [{"identifier": "MailboxPrimaryAddress",
                                                     "columnName": "RecipientEmailAddress"}]},
        {"entityType": "MailMessage", "fieldMappings": [
            {"identifier": "NetworkMessageId", "columnName": "NetworkMessageId"},
            {"identifier": "Recipient", "columnName": "RecipientEmailAddress"},
            {"identifier": "Sender", "columnName": "SenderFromAddress"}]},
        {"entityType": "IP", "fieldMappings": [{"identifier": "Address", "columnName": "SenderIPv4"}]},
    ]
    assert "TimeGenerated" in document["query"]
    assert "Timestamp" not in document["query"]
    assert_valid_kql(kusto, document["query"], "sentinel", analyze(load_rule(path), "sentinel").columns)


def test_analytic_settings_from_options_and_top_level(capsys, tmp_path):
    path = write_rule(tmp_path, QUERY, TAGS + """\
queryFrequency: 30m
triggerOperator: GreaterThan
options:
  sentinel:
    queryPeriod: 2h
    triggerThreshold: 3
    severity: High
    customDetails: {Subject: Subject}
    alertDetailsOverride:
      alertDisplayNameFormat: "Delivered to {{RecipientEmailAddress}}"
    eventGroupingSettings: {aggregationKind: AlertPerResult}
    incidentConfiguration:
      createIncident: true
      groupingConfiguration: {enabled: true, lookbackDuration: 5h, matchingMethod: AllEntities}
    suppressionDuration: 1h
    suppressionEnabled: true
""")
    document = yaml.safe_load(compile_format(capsys, path, "sentinel", "analytic"))
    assert (document["queryFrequency"], document["queryPeriod"]) == ("30m", "2h")
    assert (document["triggerOperator"], document["triggerThreshold"], document["severity"]) == ("gt", 3, "High")
    assert document["customDetails"] == {"Subject": "Subject"}
    assert document["alertDetailsOverride"] == {"alertDisplayNameFormat": "Delivered to {{RecipientEmailAddress}}"}
    assert document["eventGroupingSettings"] == {"aggregationKind": "AlertPerResult"}
    assert (document["suppressionDuration"], document["suppressionEnabled"]) == ("1h", True)

    arm = json.loads(compile_format(capsys, path, "sentinel", "arm"))
    properties = arm["resources"][0]["properties"]
    assert (properties["queryFrequency"], properties["queryPeriod"]) == ("PT30M", "PT2H")
    assert (properties["triggerOperator"], properties["triggerThreshold"]) == ("GreaterThan", 3)
    assert (properties["suppressionDuration"], properties["suppressionEnabled"]) == ("PT1H", True)
    assert properties["incidentConfiguration"]["groupingConfiguration"]["lookbackDuration"] == "PT5H"
    assert properties["eventGroupingSettings"] == {"aggregationKind": "AlertPerResult"}


def test_arm_template(capsys, tmp_path, kusto):
    path = write_rule(tmp_path, QUERY, TAGS + "options:\n  sentinel:\n    queryFrequency: 1d\n    queryPeriod: 14d\n"
                                              "    triggerOperator: ne\n    enabled: false\n")
    template = json.loads(compile_format(capsys, path, "sentinel", "arm"))
    assert template["$schema"].endswith("/2019-04-01/deploymentTemplate.json#")
    assert template["parameters"] == {"workspace": {"type": "String"}}
    [resource] = template["resources"]
    assert resource["type"] == "Microsoft.OperationalInsights/workspaces/providers/alertRules"
    assert resource["kind"] == "Scheduled"
    assert resource["name"] == "[concat(parameters('workspace'),'/Microsoft.SecurityInsights/" \
                               "0b6f0b8e-3c1a-4f7e-9d2b-5a4c3e2f1d00')]"
    properties = resource["properties"]
    assert properties["displayName"] == "Test rule"
    assert properties["description"] == "A rule written by the tests."
    assert (properties["queryFrequency"], properties["queryPeriod"]) == ("P1D", "P14D")
    assert properties["triggerOperator"] == "NotEqual"
    assert properties["enabled"] is False
    assert properties["techniques"] == ["T1566", "T1098"]
    assert properties["subTechniques"] == ["T1566.001", "T1566.002"]
    assert properties["tactics"] == ["InitialAccess", "Persistence"]
    assert "requiredDataConnectors" not in properties and "version" not in properties
    assert_valid_kql(kusto, properties["query"], "sentinel", analyze(load_rule(path), "sentinel").columns)


def test_durations():
    assert [parse_duration(t) for t in ("5m", "1h", "14d", "PT1H", "P1D", "PT1H30M", "1w", "PT", "", 5)] == [
        5, 60, 20160, 60, 1440, 90, None, None, None, None]
    assert [iso_duration(m) for m in (5, 60, 90, 1440, 2880, 1500)] == ["PT5M", "PT1H", "PT90M", "P1D", "P2D", "PT25H"]


def test_nrt_rule(capsys, tmp_path):
    path = write_rule(tmp_path, QUERY, "options:\n  sentinel:\n    kind: NRT\n")
    document = yaml.safe_load(compile_format(capsys, path, "sentinel", "analytic"))
    assert document["kind"] == "NRT"
    assert not {"queryFrequency", "queryPeriod", "triggerOperator", "triggerThreshold"} & set(document)
    properties = json.loads(compile_format(capsys, path, "sentinel", "arm"))["resources"][0]["properties"]
    assert "queryFrequency" not in properties
    path = write_rule(tmp_path, QUERY, "options:\n  sentinel:\n    kind: NRT\n    queryFrequency: 1h\n")
    errors, _ = errors_of(capsys, path, "sentinel", "analytic")
    assert errors == [f"{path}:11:21: error: sentinel: an NRT rule runs every minute and has no 'queryFrequency'"]


def test_analytic_constraints_are_reported_with_positions(capsys, tmp_path):
    path = write_rule(tmp_path, QUERY, TAGS + """\
options:
  sentinel:
    queryFrequency: 2m
    queryPeriod: 15d
    triggerOperator: above
    triggerThreshold: 20000
    severity: Critical
    customDetails: {"1bad": Subject, Fine: NoSuchColumn}
    alertDetailsOverride:
      alertDisplayNameFormat: "{{Subject}} {{SenderFromAddress}} {{RecipientEmailAddress}} {{ReportId}}"
    entityMappings:
      - entityType: Account
        fieldMappings:
          - {identifier: Upn, columnName: RecipientEmailAddress}
      - entityType: Mailbox
        fieldMappings:
          - {identifier: MailboxPrimaryAddress, columnName: Recipient}
      - entityType: Hostname
        fieldMappings:
          - {identifier: HostName, columnName: Subject}
""")
    errors, err = errors_of(capsys, path, "sentinel", "analytic")
    prefix = f"{path}:"
    assert errors == [
        prefix + "12:21: error: sentinel: queryFrequency '2m' is out of range; Sentinel accepts 5m to 14d",
        prefix + "13:18: error: sentinel: queryPeriod '15d' is out of range; Sentinel accepts 5m to 14d",
        prefix + "14:22: error: sentinel: unknown triggerOperator 'above'",
        prefix + "15:23: error: sentinel: triggerThreshold must be a whole number from 0 to 10000, not 20000",
        prefix + "16:15: error: sentinel: unknown severity 'Critical'",
        prefix + "17:21: error: sentinel: custom detail name '1bad' must start with a letter, hold only letters, "
                 "digits and _, and be at most 20 characters",
        prefix + "17:44: error: sentinel: custom detail column 'NoSuchColumn' is not a column of the query's output",
        prefix + "19:31: error: sentinel: alertDisplayNameFormat has 4 {{Column}} placeholders; at most 3",
        prefix + "21:9: error: sentinel: entity Account lacks a required identifier",
        prefix + "23:26: error: sentinel: 'Upn' is not an identifier of entity type Account",
        prefix + "26:61: error: sentinel: entity column 'Recipient' is not a column of the query's output",
        prefix + "27:21: error: sentinel: unknown entity type 'Hostname'",
    ]
    assert "hint: output columns: TimeGenerated, NetworkMessageId, RecipientEmailAddress" in err
    assert "hint: types: Account, AzureResource," in err
    assert "hint: map one of: FullName; Sid; Name; AadUserId; PUID; ObjectGuid" in err


@pytest.mark.parametrize("extra, message", [
    ("options:\n  sentinel:\n    queryFrequency: 2h\n    queryPeriod: 1h\n",
     "11:18: error: sentinel: queryPeriod 1h is shorter than queryFrequency 2h; it must be at least as long"),
    ("options:\n  sentinel:\n    queryFrequency: 30m\n    queryPeriod: 2d\n",
     "10:21: error: sentinel: a queryPeriod of 2 days or more needs a queryFrequency of at least 1h"),
    ("options:\n  sentinel:\n    queryFrequency: hourly\n",
     "10:21: error: sentinel: queryFrequency 'hourly' is not a duration"),
    ("queryFrequency: 1h\noptions:\n  sentinel:\n    queryFrequency: 2h\n",
     "11:5: error: sentinel: 'queryFrequency' is set both at the top level and under options.sentinel"),
    ("relevantTechniques: [T1566]\n",
     "8:21: error: sentinel: techniques are listed without any tactic"),
    ("options:\n  sentinel:\n    entityMappings: [" + ", ".join(
        ["{entityType: IP, fieldMappings: [{identifier: Address, columnName: SenderIPv4}]}"] * 6) + "]\n",
     "10:21: error: sentinel: entityMappings has 6 entities; Sentinel accepts 1 to 5"),
    ("options:\n  sentinel:\n    entityMappings:\n      - entityType: MailMessage\n        fieldMappings:\n" + "".join(
        f"          - {{identifier: {i}, columnName: Subject}}\n" for i in ("Subject", "Sender", "Recipient", "Urls")),
     "13:11: error: sentinel: an entity mapping needs 1 to 3 fieldMappings of {identifier, columnName}"),
])
def test_analytic_single_constraint(capsys, tmp_path, extra, message):
    path = write_rule(tmp_path, QUERY, extra)
    errors, _ = errors_of(capsys, path, "sentinel", "analytic")
    assert errors == [f"{path}:{message}"]
    errors, _ = errors_of(capsys, path, "sentinel", "arm")
    assert errors == [f"{path}:{message}"]


def test_query_longer_than_sentinel_allows(capsys, tmp_path):
    values = ", ".join(f'"sender{i:05d}@example.com"' for i in range(400))
    path = write_rule(tmp_path, f"EmailEvents\n| where SenderFromAddress in ({values})\n| project Timestamp, Subject")
    errors, _ = errors_of(capsys, path, "sentinel", "analytic")
    assert len(errors) == 1
    assert ": error: sentinel: the compiled query is 1" in errors[0] and "Sentinel allows at most 10000" in errors[0]
    assert compile_format(capsys, path, "sentinel", "hunting")  # hunting queries have no such limit


def test_unknown_option_key_is_a_load_error(capsys, tmp_path):
    path = write_rule(tmp_path, QUERY, "options:\n  sentinel:\n    queryFrequncy: 1h\n  defender:\n"
                                       "    custom_detection: {perod: 1H}\n")
    status, _, err = cli(capsys, "compile", path, "-t", "sentinel", "-f", "analytic")
    assert status == 1
    assert f"{path}:10:5: error: unknown key 'queryFrequncy' in sentinel options" in err
    assert "hint: did you mean 'queryFrequency'?" in err
    errors, err = errors_of(capsys, write_rule(tmp_path, QUERY, "options:\n  defender:\n"
                                                                "    custom_detection: {perod: 1H}\n"),
                            "defender", "custom-detection")
    assert errors == [f"{tmp_path / 'rule.yaml'}:10:24: error: defender: unknown key 'perod' in defender "
                      "custom_detection options"]
    assert "hint: did you mean 'period'?" in err


# ---------------------------------------------------------------- Defender XDR custom detections


def test_custom_detection_of_a_rule_with_the_required_columns(capsys, tmp_path, kusto):
    path = write_rule(tmp_path, QUERY, TAGS + "severity: High\n")
    detection = json.loads(compile_format(capsys, path, "defender", "custom-detection"))
    assert list(detection) == ["displayName", "isEnabled", "queryCondition", "schedule", "detectionAction"]
    assert detection["displayName"] == "Test rule" and detection["isEnabled"] is True
    assert detection["schedule"] == {"period": "24H"}
    template = detection["detectionAction"]["alertTemplate"]
    assert (template["title"], template["severity"], template["category"]) == ("Test rule", "high", "InitialAccess")
    assert template["mitreTechniques"] == ["T1566.001", "T1566.002", "T1098"]
    assert template["impactedAssets"] == [
        {"@odata.type": "#microsoft.graph.security.impactedMailboxAsset", "identifier": "recipientEmailAddress"}]
    text = detection["queryCondition"]["queryText"]
    assert text == compile_format(capsys, path, "defender", "query")
    assert_valid_kql(kusto, text, "defender", analyze(load_rule(path), "defender").columns)


def test_missing_detection_columns_are_named(capsys, tmp_path):
    text = PHISH_RULE.read_text(encoding="utf-8")
    start = text.index("  defender:\n")  # the rule's options.defender, up to the blank line after it
    end = text.index("\n\n", start)
    path = tmp_path / "phish.yaml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    assert "custom_detection" not in path.read_text(encoding="utf-8")
    status, out, err = cli(capsys, "compile", path, "-t", "defender", "-f", "custom-detection")
    assert status == 1 and out == ""
    first = [line for line in err.splitlines() if ": error: " in line]
    assert len(first) == 1
    assert first[0].endswith("error: defender: a Defender XDR custom detection must return Timestamp, ReportId and "
                             "an entity column; the query's output lacks Timestamp")
    assert ("hint: project the columns in the query, or map output columns to them in the rule: options: "
            "{defender: {custom_detection: {columns: {Timestamp: ReleaseTime}}}}") in err
    # The other formats do not need the mapping.
    assert cli(capsys, "compile", path, "-t", "defender", "-f", "query")[0] == 0


def test_column_mapping_adds_an_extend_stage(capsys, tmp_path, kusto):
    path = write_rule(tmp_path, """
EmailEvents
| project EmailTime = Timestamp, Id = ReportId, Recipient = RecipientEmailAddress
""", "options:\n  defender:\n    custom_detection:\n      period: 1H\n"
     "      columns: {Timestamp: EmailTime, ReportId: Id, RecipientEmailAddress: Recipient}\n")
    detection = json.loads(compile_format(capsys, path, "defender", "custom-detection"))
    text = query_text(json.dumps(detection), "custom-detection")
    assert text.endswith("| extend Timestamp = EmailTime, ReportId = Id, RecipientEmailAddress = Recipient\n")
    analysis = kusto.analyze(text, schema_tables("defender"))
    assert analysis.errors == ()
    assert analysis.column_names == ["EmailTime", "Id", "Recipient", "Timestamp", "ReportId", "RecipientEmailAddress"]
    assert detection["schedule"] == {"period": "1H"}


@pytest.mark.parametrize("options, message", [
    ("columns: {Timestamp: Subject}", "'Subject' is string; Timestamp must be datetime"),
    ("columns: {Timestamp: Nope}", "'Nope' is not a column of the query's output"),
    ("columns: {Timestamp: EmailTime, ReportId: ReportId}", "the query's output already has a column 'ReportId'"),
    ("columns: {TimeStamp: EmailTime}", "'TimeStamp' is not a column a custom detection requires"),
    ("columns: {Timestamp: EmailTime}\n      period: 2H", "unknown custom detection period '2H'"),
    ("columns: {Timestamp: EmailTime}\n      impacted_assets: [{type: mailbox, identifier: deviceId}]",
     "'deviceId' is not an identifier of a mailbox asset"),
    ("columns: {Timestamp: EmailTime}\n      impacted_assets: [{type: user, identifier: accountUpn}]",
     "the identifier 'accountUpn' reads the column AccountUpn, which the query's output does not have"),
    ("columns: {Timestamp: EmailTime}\n      severity: Severe", "unknown severity 'Severe'"),
])
def test_custom_detection_option_errors(capsys, tmp_path, options, message):
    path = write_rule(tmp_path, """
EmailEvents
| project EmailTime = Timestamp, ReportId, RecipientEmailAddress, Subject
""", "options:\n  defender:\n    custom_detection:\n      " + options + "\n")
    errors, _ = errors_of(capsys, path, "defender", "custom-detection")
    assert len(errors) == 1 and errors[0].endswith("error: defender: " + message), errors


def test_continuous_detection(capsys, tmp_path, kusto):
    extra = ("exclusions:\n  - name: Internal\n    description: Internal mail.\n    filter: 'Subject:*internal*'\n"
             "options:\n  defender:\n    custom_detection: {period: \"0\"}\n")
    path = write_rule(tmp_path, QUERY, extra)
    detection = json.loads(compile_format(capsys, path, "defender", "custom-detection"))
    assert detection["schedule"] == {"period": "0"}
    text = detection["queryCondition"]["queryText"]
    assert "//" not in text and "where not(" in text  # exclusions apply, without their comment lines
    assert "// exclusion: Internal" in compile_format(capsys, path, "defender", "query")
    assert_valid_kql(kusto, text, "defender", analyze(load_rule(path), "defender").columns)

    joined = write_rule(tmp_path, """
EmailEvents
| project Timestamp, NetworkMessageId, RecipientEmailAddress, ReportId
| join kind=inner (EmailEvents | project NetworkMessageId, LatestDeliveryAction) on NetworkMessageId
""", "options:\n  defender:\n    custom_detection: {period: \"0\"}\n")
    errors, _ = errors_of(capsys, joined, "defender", "custom-detection")
    assert [e.split("error: ", 1)[1] for e in errors] == [
        'defender: a continuous (period "0") custom detection cannot join tables',
        'defender: a continuous (period "0") custom detection cannot read LatestDeliveryAction',
    ]


# ---------------------------------------------------------------- rulecast check


@pytest.mark.parametrize("extra, message", [
    ("queryPeriod: 20d\n", "error: sentinel: queryPeriod"),
    ("options:\n  sentinel:\n    triggerThreshold: 20000\n", "error: sentinel: triggerThreshold"),
    ("options:\n  sentinel:\n    entityMappings:\n      - entityType: Acount\n        fieldMappings:\n"
     "          - {identifier: FullName, columnName: RecipientEmailAddress}\n", "unknown entity type 'Acount'"),
    ("options:\n  defender:\n    custom_detection:\n      period: 2H\n", "unknown custom detection period '2H'"),
    ("options:\n  splunk:\n    detection_type: Sneaky\n", "splunk option 'detection_type'"),
])
def test_check_reports_packaging_errors(capsys, tmp_path, extra, message):
    path = write_rule(tmp_path, QUERY, TAGS + extra)
    status, out, err = cli(capsys, "check", path)
    assert status == 1
    assert message in err
    assert "1 invalid" in out + err


def test_check_accepts_packaging_options(capsys, tmp_path):
    extra = "options:\n  sentinel:\n    queryFrequency: 1h\n  defender:\n    custom_detection:\n      period: 1H\n"
    status, out, err = cli(capsys, "check", write_rule(tmp_path, QUERY, TAGS + extra))
    assert status == 0, err
    assert "0 invalid" in out
