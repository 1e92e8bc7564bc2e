"""The `sentinel` and `defender` targets: KQL text and its deployable packaging.

Both targets print the IR with the one generator in `backends.kql`. They
differ by a `KqlSettings` value, not by code paths. The settings name the
catalog the rule resolves against (Sentinel writes `TimeGenerated` for
`Timestamp` and spells columns as Log Analytics does), the formats the
target packages into, and the rule options it reads.

| target     | formats                                  |
|------------|------------------------------------------|
| `sentinel` | query, hunting, analytic, arm            |
| `defender` | query, hunting, custom-detection         |

Packaging validates what the receiving side validates (the Azure-Sentinel
repository's template checks, Microsoft Graph's custom detection rules) and
reports each problem at the rule key that caused it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import jinja2

from backends import Artifact, CompileSettings
from backends.kql import generate
from translator import ir
from translator.diagnostics import Diagnostic, RulecastError, did_you_mean
from translator.rule import SENTINEL_PASSTHROUGH_KEYS, SENTINEL_TACTICS, SEVERITIES
from translator.types import Type

TEMPLATES = Path(__file__).with_name("templates")

# ---------------------------------------------------------------- Sentinel facts
# From the Azure-Sentinel repository's detection template validation
# (.script/tests/detectionTemplateSchemaValidation).

MIN_MINUTES, MAX_MINUTES = 5, 14 * 24 * 60
MAX_QUERY_LENGTH = 10000
MAX_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 5000
MAX_VERSION_LENGTH = 20
MAX_ENTITY_MAPPINGS = 5
MAX_FIELD_MAPPINGS = 3
MAX_CUSTOM_DETAILS = 20
MAX_CUSTOM_DETAIL_KEY = 20
MAX_PLACEHOLDERS = 3
TRIGGER_OPERATORS = {"gt": "GreaterThan", "lt": "LessThan", "eq": "Equal", "ne": "NotEqual"}
RULE_KINDS = ("Scheduled", "NRT")
_CUSTOM_DETAIL_KEY = re.compile(r"^[a-zA-Z]+\w*$")
_COLUMN_NAME = re.compile(r"^[a-zA-Z_]+\w*$")
_DURATION = re.compile(r"^(\d+)([mhd])$")
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")
_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")

# Entity type -> (valid identifiers, combinations of which one must be mapped).
ENTITY_IDENTIFIERS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    "Account": (("Name", "FullName", "NTDomain", "DnsDomain", "UPNSuffix", "Sid", "AadTenantId", "AadUserId", "PUID",
                 "IsDomainJoined", "DisplayName", "ObjectGuid"),
                (("FullName",), ("Sid",), ("Name",), ("AadUserId",), ("PUID",), ("ObjectGuid",))),
    "AzureResource": (("ResourceId",), (("ResourceId",),)),
    "CloudApplication": (("AppId", "Name", "InstanceName"), (("AppId",), ("Name",))),
    "DNS": (("DomainName",), (("DomainName",),)),
    "File": (("Directory", "Name"), (("Name",),)),
    "FileHash": (("Algorithm", "Value"), (("Algorithm", "Value"),)),
    "Host": (("DnsDomain", "NTDomain", "HostName", "FullName", "NetBiosName", "AzureID", "OMSAgentID", "OSFamily",
              "OSVersion", "IsDomainJoined"),
             (("FullName",), ("HostName",), ("NetBiosName",), ("AzureID",), ("OMSAgentID",))),
    "IoTDevice": (("DeviceId", "DeviceName", "Manufacturer", "Model", "FirmwareVersion", "OperatingSystem", "MacAddress",
                   "Protocols", "SerialNumber", "Source", "IoTSecurityAgentId", "DeviceType"), (("DeviceId",),)),
    "IP": (("Address",), (("Address",),)),
    "Mailbox": (("MailboxPrimaryAddress", "DisplayName", "Upn", "ExternalDirectoryObjectId", "RiskLevel"),
                (("MailboxPrimaryAddress",),)),
    "MailCluster": (("NetworkMessageIds", "CountByDeliveryStatus", "CountByThreatType", "CountByProtectionStatus",
                     "Threats", "Query", "QueryTime", "MailCount", "IsVolumeAnomaly", "Source", "ClusterSourceIdentifier",
                     "ClusterSourceType", "ClusterQueryStartTime", "ClusterQueryEndTime", "ClusterGroup"),
                    (("Query",), ("Source",))),
    "MailMessage": (("Recipient", "Urls", "Threats", "Sender", "P1Sender", "P1SenderDisplayName", "P1SenderDomain",
                     "SenderIP", "P2Sender", "P2SenderDisplayName", "P2SenderDomain", "ReceivedDate", "NetworkMessageId",
                     "InternetMessageId", "Subject", "BodyFingerprintBin1", "BodyFingerprintBin2", "BodyFingerprintBin3",
                     "BodyFingerprintBin4", "BodyFingerprintBin5", "AntispamDirection", "DeliveryAction",
                     "DeliveryLocation", "Language", "ThreatDetectionMethods"),
                    (("NetworkMessageId",), ("Recipient",))),
    "Malware": (("Name", "Category"), (("Name",),)),
    "Process": (("ProcessId", "CommandLine", "ElevationToken", "CreationTimeUtc"), (("CommandLine",), ("ProcessId",))),
    "RegistryKey": (("Hive", "Key"), (("Key",), ("Hive",))),
    "RegistryValue": (("Name", "Value", "ValueType"), (("Name",),)),
    "SecurityGroup": (("DistinguishedName", "SID", "ObjectGuid"), (("DistinguishedName",), ("SID",), ("ObjectGuid",))),
    "SubmissionMail": (("NetworkMessageId", "Timestamp", "Recipient", "Sender", "SenderIp", "Subject", "ReportType",
                        "SubmissionId", "SubmissionDate", "Submitter"),
                       (("SubmissionId",), ("NetworkMessageId",), ("Recipient",), ("Submitter",))),
    "URL": (("Url",), (("Url",),)),
}

# Entity mappings written when a rule gives none: for each entity, the
# identifiers and the Defender XDR column names that fill them, in order of
# preference. Only output columns are used, and at most five entities.
DEFAULT_ENTITY_COLUMNS: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...] = (
    ("Account", (("FullName", ("AccountUpn", "InitiatingProcessAccountUpn")),
                 ("AadUserId", ("AccountObjectId", "InitiatingProcessAccountObjectId")),
                 ("Sid", ("AccountSid", "InitiatingProcessAccountSid")))),
    # Defender XDR's DeviceName is the device's fully qualified name. Its
    # DeviceId is Defender's own device id, which fits no Host identifier
    # (AzureID is an Azure resource id), so it is left unmapped.
    ("Host", (("FullName", ("DeviceName",)),)),
    ("Mailbox", (("MailboxPrimaryAddress", ("RecipientEmailAddress",)), ("ExternalDirectoryObjectId", ("RecipientObjectId",)))),
    ("MailMessage", (("NetworkMessageId", ("NetworkMessageId",)), ("Recipient", ("RecipientEmailAddress",)),
                     ("Sender", ("SenderFromAddress",)))),
    ("IP", (("Address", ("IPAddress", "RemoteIP", "SenderIPv4", "LocalIP")),)),
    ("URL", (("Url", ("Url", "RemoteUrl")),)),
)

# Keys a rule may give under `options.sentinel` (or, for the Sentinel YAML
# keys, at its top level).
SENTINEL_OPTION_KEYS = tuple(SENTINEL_PASSTHROUGH_KEYS) + ("severity", "enabled")
ALERT_DETAILS_KEYS = ("alertDisplayNameFormat", "alertDescriptionFormat", "alertTacticsColumnName", "alertSeverityColumnName")
GROUPING_KEYS = ("enabled", "reopenClosedIncident", "lookbackDuration", "matchingMethod", "groupByEntities",
                 "groupByAlertDetails", "groupByCustomDetails")
ARM_API_VERSION = "2024-09-01"
ARM_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"

# ---------------------------------------------------------------- Defender XDR facts
# From Microsoft's custom detection rules documentation and the Microsoft
# Graph security detectionRule resource.

CUSTOM_DETECTION_KEYS = ("period", "columns", "impacted_assets", "severity", "category", "recommended_actions", "enabled")
# Schedule period -> the lookback Defender XDR uses for it.
DETECTION_PERIODS = {"0": "continuous (near real time)", "1H": "4 hours", "3H": "12 hours", "12H": "48 hours",
                     "24H": "30 days"}
DEFAULT_PERIOD = "24H"
ENTITY_COLUMNS = (
    "DeviceId", "DeviceName", "RemoteDeviceName", "RecipientEmailAddress", "SenderFromAddress", "SenderMailFromAddress",
    "RecipientObjectId", "AccountObjectId", "AccountSid", "AccountUpn", "InitiatingProcessAccountSid",
    "InitiatingProcessAccountUpn", "InitiatingProcessAccountObjectId",
)
REQUIRED_DETECTION_COLUMNS = ("Timestamp", "ReportId")
IMPACTED_ASSET_TYPES = {
    "device": ("impactedDeviceAsset", ("deviceId", "deviceName", "remoteDeviceName", "targetDeviceName",
                                       "destinationDeviceName")),
    "mailbox": ("impactedMailboxAsset", ("accountUpn", "fileOwnerUpn", "initiatingProcessAccountUpn",
                                         "lastModifyingAccountUpn", "targetAccountUpn", "senderFromAddress",
                                         "senderDisplayName", "recipientEmailAddress", "senderMailFromAddress")),
    "user": ("impactedUserAsset", ("accountObjectId", "accountSid", "accountUpn", "accountName", "accountDomain",
                                   "accountId", "requestAccountSid", "requestAccountName", "requestAccountDomain",
                                   "recipientObjectId", "processAccountObjectId", "initiatingAccountSid",
                                   "initiatingAccountName", "initiatingAccountDomain", "initiatingProcessAccountUpn",
                                   "servicePrincipalId", "servicePrincipalName", "targetAccountUpn")),
}
# Impacted assets written when a rule names none: the output columns that
# identify the affected side. Sender addresses are left out, since a sender
# is usually outside the organisation.
DEFAULT_IMPACTED_ASSETS = (
    ("device", "deviceId"), ("device", "deviceName"), ("device", "remoteDeviceName"),
    ("mailbox", "recipientEmailAddress"), ("user", "recipientObjectId"), ("user", "accountObjectId"),
    ("user", "accountSid"), ("user", "accountUpn"), ("user", "initiatingProcessAccountUpn"),
)
# Tables a continuous (period "0") detection may read.
NRT_TABLES = ("AlertEvidence", "CloudAppEvents", "EmailAttachmentInfo", "EmailEvents", "EmailPostDeliveryEvents",
              "EmailUrlInfo", "UrlClickEvents")
NRT_TABLE_PREFIXES = ("Device", "Identity")


@dataclass(frozen=True)
class KqlSettings:
    """Everything that tells the two KQL targets apart."""

    name: str
    platform: str  # the catalog rules resolve against
    time_column: str  # what `Timestamp` in a rule is written as
    formats: tuple[str, ...]
    option_keys: tuple[str, ...]


SENTINEL = KqlSettings("sentinel", "sentinel", "TimeGenerated", ("query", "hunting", "analytic", "arm"),
                       SENTINEL_OPTION_KEYS)
DEFENDER = KqlSettings("defender", "defender", "Timestamp", ("query", "hunting", "custom-detection"),
                       ("custom_detection",))

EXTENSIONS = {"query": "kql", "hunting": "hunting.yaml", "analytic": "analytic.yaml", "arm": "arm.json",
              "custom-detection": "detection.json"}


# ---------------------------------------------------------------- text helpers


def yaml_scalar(value: Any) -> str:
    """Write one YAML scalar: plain when that reads back as the same string, else double-quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.@/()+-]*( [A-Za-z0-9_.@/()+-]+)*", text) and text.lower() not in (
        "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~",
    ):
        return text
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '\\"':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char.isprintable():
            out.append(char)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def yaml_block(text: str, indent: int = 2) -> str:
    """Write a multi-line string as a literal block (`|`), or a quoted scalar where a block cannot hold it."""
    body = text.rstrip("\n")
    trailing = len(text) - len(body)
    lines = body.split("\n")
    safe = (
        body != ""
        and not body[0].isspace()
        and all(all(c.isprintable() or c == "\t" for c in line) for line in lines)
        and trailing <= 1
    )
    if not safe:
        return yaml_scalar(text)
    pad = " " * indent
    header = "|" if trailing == 1 else "|-"
    return header + "\n" + "\n".join(pad + line if line else "" for line in lines)


def yaml_value(value: Any, indent: int = 0) -> str:
    """Write a YAML value after `key:`: a scalar on the same line, or a block mapping or list below it."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return " {}"
        lines = []
        for key, item in value.items():
            lines.append(f"{pad}{yaml_scalar(key)}:" + yaml_value(item, indent + 2))
        return "\n" + "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return " []"
        lines = []
        for item in value:
            if isinstance(item, dict) and item:
                text = yaml_value(item, indent + 2).lstrip("\n")
                lines.append(f"{pad}- " + text[indent + 2:])
            elif isinstance(item, (dict, list)):
                lines.append(f"{pad}-" + yaml_value(item, indent + 2))
            else:
                lines.append(f"{pad}- {yaml_scalar(item)}")
        return "\n" + "\n".join(lines)
    return " " + yaml_scalar(value)


def json_value(value: Any, indent: int = 0) -> str:
    """Write `value` as JSON, indented to sit at `indent` spaces inside a template."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return text.replace("\n", "\n" + " " * indent)


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)
_env.filters.update(yaml_scalar=yaml_scalar, yaml_block=yaml_block, yaml_value=yaml_value, json=json_value,
                    short_duration=lambda minutes: short_duration(minutes))


# ---------------------------------------------------------------- durations


def parse_duration(text: Any) -> int | None:
    """Return the minutes of a `5m`/`1h`/`14d` or ISO 8601 `PT1H` duration, or None if it is neither."""
    if not isinstance(text, str):
        return None
    match = _DURATION.match(text)
    if match:
        return int(match.group(1)) * {"m": 1, "h": 60, "d": 1440}[match.group(2)]
    match = _ISO_DURATION.match(text)
    if match and text not in ("P", "PT") and not text.endswith("T"):
        days, hours, minutes = (int(g or 0) for g in match.groups())
        return days * 1440 + hours * 60 + minutes
    return None


def iso_duration(minutes: int) -> str:
    """Write minutes as an ISO 8601 duration in its largest exact unit: `PT5M`, `PT1H`, `P1D`."""
    if minutes % 1440 == 0:
        return f"P{minutes // 1440}D"
    if minutes % 60 == 0:
        return f"PT{minutes // 60}H"
    return f"PT{minutes}M"


def short_duration(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


# ---------------------------------------------------------------- problems


class _Problems:
    """Collects positioned errors so that one run reports every problem in the packaging settings."""

    def __init__(self, rule, target: str):
        self.rule = rule
        self.target = target
        self.items: list[Diagnostic] = []

    def add(self, path: tuple | None, message: str, hint: str | None = None, key: bool = False) -> None:
        path = path if path is not None else ("query",)
        self.items.append(Diagnostic("error", f"{self.target}: {message}", self.rule.location(path, key=key), hint))

    def raise_any(self) -> None:
        if self.items:
            # In file order, so that the report reads top to bottom like the rule.
            ordered = sorted(self.items, key=lambda d: (d.location.line, d.location.column) if d.location else (0, 0))
            raise RulecastError(ordered)


def _unknown_keys(problems: _Problems, value: dict, allowed: tuple[str, ...], path: tuple, where: str) -> None:
    for key in value:
        if key not in allowed:
            hint = did_you_mean(str(key), allowed) or "allowed keys: " + ", ".join(allowed)
            problems.add(path + (key,), f"unknown key '{key}' in {where}", hint, key=True)


# ---------------------------------------------------------------- the target


class KqlTarget:
    """A KQL target: the shared generator plus packaging, configured by `KqlSettings`."""

    def __init__(self, settings: KqlSettings):
        self.settings = settings
        self.name = settings.name
        self.platform = settings.platform
        self.formats = settings.formats
        self.option_keys = settings.option_keys

    def compile(self, analysis, fmt: str, settings: CompileSettings) -> list[Artifact]:
        if fmt not in self.formats:
            raise RulecastError(Diagnostic(
                "error", f"{self.name}: unknown format '{fmt}'", None, "formats: " + ", ".join(self.formats)))
        package: Callable[[Any], str] = getattr(self, "package_" + fmt.replace("-", "_"))
        return [Artifact(package(analysis), EXTENSIONS[fmt], fmt)]

    # ------------------------------------------------------------ formats

    def package_query(self, analysis) -> str:
        return generate(analysis.node)

    def package_hunting(self, analysis) -> str:
        rule = analysis.rule
        return _env.get_template("sentinel_hunting.j2").render(
            rule=rule,
            description_detailed=rule.data.get("description-detailed"),
            connectors=required_data_connectors(analysis),
            query=generate(analysis.node),
            target=self.name,
        )

    def package_analytic(self, analysis) -> str:
        rule = analytic_rule(analysis, self.name)
        return _env.get_template("sentinel_analytic.j2").render(r=rule, rule=analysis.rule)

    def package_arm(self, analysis) -> str:
        rule = analytic_rule(analysis, self.name)
        return _env.get_template("sentinel_arm.j2").render(r=rule, rule=analysis.rule, properties=arm_properties(rule),
                                                          api_version=ARM_API_VERSION, schema=ARM_SCHEMA)

    def package_custom_detection(self, analysis) -> str:
        detection = custom_detection(analysis, self.name)
        return _env.get_template("defender_custom_detection.j2").render(d=detection)


def required_data_connectors(analysis) -> list[dict]:
    """The rule's `requiredDataConnectors`, or the Defender XDR connector with the tables the query reads."""
    if analysis.rule.required_data_connectors:
        return analysis.rule.required_data_connectors
    tables = sorted({source.table for source in ir.sources(analysis.node)})
    return [{"connectorId": "MicrosoftThreatProtection", "dataTypes": tables}]


# ---------------------------------------------------------------- Sentinel analytics rules


def _sentinel_setting(rule, key: str, problems: _Problems) -> tuple[Any, tuple] | tuple[None, None]:
    """Return a Sentinel setting and its key path, from `options.sentinel` or the rule's top level."""
    options = rule.options.get("sentinel", {})
    top = key in rule.data and key in SENTINEL_PASSTHROUGH_KEYS
    if key in options:
        if top:
            problems.add(("options", "sentinel", key), f"'{key}' is set both at the top level and under options.sentinel",
                         "keep one of them", key=True)
        return options[key], ("options", "sentinel", key)
    if top:
        return rule.data[key], (key,)
    return None, None


@dataclass
class AnalyticRule:
    """A Sentinel scheduled (or NRT) analytics rule, validated, in YAML spelling."""

    kind: str
    name: str
    description: str
    severity: str
    enabled: bool
    status: str
    connectors: list
    frequency: int | None  # minutes
    period: int | None
    trigger_operator: str | None  # gt, lt, eq, ne
    trigger_threshold: int | None
    tactics: list
    techniques: list
    tags: Any
    query: str
    entity_mappings: list
    custom_details: dict | None
    alert_details_override: dict | None
    event_grouping: dict | None
    incident_configuration: dict | None
    suppression_duration: int | None
    suppression_enabled: bool | None
    version: str
    metadata: Any


def analytic_rule(analysis, target: str = "sentinel") -> AnalyticRule:
    """Build and validate the analytics rule for `analysis`; raise `RulecastError` listing every problem."""
    rule = analysis.rule
    problems = _Problems(rule, target)
    columns = {c.name: c.type for c in analysis.columns}

    def setting(key):
        return _sentinel_setting(rule, key, problems)

    def column_problem(path, column, what):
        if not isinstance(column, str) or column not in columns:
            problems.add(path, f"{what} '{column}' is not a column of the query's output",
                         did_you_mean(str(column), columns) or "output columns: " + ", ".join(list(columns)[:12]))
            return True
        return False

    kind, path = setting("kind")
    kind = kind if kind is not None else "Scheduled"
    if kind not in RULE_KINDS:
        problems.add(path, f"unknown analytics rule kind '{kind}'", "kinds: " + ", ".join(RULE_KINDS))
        kind = "Scheduled"

    severity, path = setting("severity")
    severity = severity if severity is not None else (rule.severity or "Medium")
    if severity not in SEVERITIES:
        problems.add(path, f"unknown severity '{severity}'", did_you_mean(str(severity), SEVERITIES)
                     or "one of: " + ", ".join(SEVERITIES))

    enabled, path = setting("enabled")
    if enabled is None:
        enabled = True
    elif not isinstance(enabled, bool):
        problems.add(path, "'enabled' must be true or false")

    status, path = setting("status")
    if status is None:
        status = "Available"
    elif not isinstance(status, str):
        problems.add(path, "'status' must be a string")

    if len(rule.name) > MAX_NAME_LENGTH:
        problems.add(("name",), f"the name is {len(rule.name)} characters; Sentinel allows at most {MAX_NAME_LENGTH}")
    if len(rule.description) > MAX_DESCRIPTION_LENGTH:
        problems.add(("description",), f"the description is {len(rule.description)} characters; "
                                       f"Sentinel allows at most {MAX_DESCRIPTION_LENGTH}")
    version = rule.version or "1.0.0"
    if len(version) > MAX_VERSION_LENGTH:
        problems.add(("version",), f"the version is longer than {MAX_VERSION_LENGTH} characters")
    if rule.relevant_techniques and not rule.tactics:
        problems.add(("relevantTechniques",), "techniques are listed without any tactic",
                     "add the tactics the techniques belong to under 'tactics'")

    frequency = period = None
    trigger_operator = trigger_threshold = None
    if kind == "Scheduled":
        frequency = _duration_setting(setting, problems, "queryFrequency", 60)
        period = _duration_setting(setting, problems, "queryPeriod", frequency or 60)
        if frequency is not None and period is not None:
            if period < frequency:
                _, where = setting("queryPeriod")
                problems.add(where or ("queryPeriod",), f"queryPeriod {short_duration(period)} is shorter than "
                             f"queryFrequency {short_duration(frequency)}; it must be at least as long")
            if period >= 2 * 1440 and frequency < 60:
                _, where = setting("queryFrequency")
                problems.add(where or ("queryFrequency",),
                             "a queryPeriod of 2 days or more needs a queryFrequency of at least 1h")
        operator, path = setting("triggerOperator")
        operator = operator if operator is not None else "gt"
        long_names = {v: k for k, v in TRIGGER_OPERATORS.items()}
        if operator in long_names:
            operator = long_names[operator]
        if operator not in TRIGGER_OPERATORS:
            problems.add(path, f"unknown triggerOperator '{operator}'", "one of: gt, lt, eq, ne")
        trigger_operator = operator
        threshold, path = setting("triggerThreshold")
        threshold = 0 if threshold is None else threshold
        if not isinstance(threshold, int) or isinstance(threshold, bool) or not 0 <= threshold <= 10000:
            problems.add(path, f"triggerThreshold must be a whole number from 0 to 10000, not {threshold!r}")
        trigger_threshold = threshold
    else:
        for key in ("queryFrequency", "queryPeriod", "triggerOperator", "triggerThreshold"):
            value, path = setting(key)
            if value is not None:
                problems.add(path, f"an NRT rule runs every minute and has no '{key}'", "remove it, or use kind: Scheduled")

    query = generate(analysis.node)
    if len(query) > MAX_QUERY_LENGTH:
        problems.add(("query",), f"the compiled query is {len(query)} characters; Sentinel allows at most "
                                 f"{MAX_QUERY_LENGTH}")

    mappings, path = setting("entityMappings")
    if mappings is None:
        entity_mappings = default_entity_mappings(analysis.columns)
    else:
        entity_mappings = _entity_mappings(mappings, path, problems, column_problem)

    custom_details, path = setting("customDetails")
    if custom_details is not None:
        if not isinstance(custom_details, dict):
            problems.add(path, "'customDetails' must map detail names to output columns")
        else:
            if len(custom_details) > MAX_CUSTOM_DETAILS:
                problems.add(path, f"customDetails has {len(custom_details)} entries; at most {MAX_CUSTOM_DETAILS}")
            for key, column in custom_details.items():
                if not isinstance(key, str) or not _CUSTOM_DETAIL_KEY.match(key) or len(key) > MAX_CUSTOM_DETAIL_KEY:
                    problems.add(path + (key,), f"custom detail name '{key}' must start with a letter, hold only "
                                 f"letters, digits and _, and be at most {MAX_CUSTOM_DETAIL_KEY} characters", key=True)
                column_problem(path + (key,), column, "custom detail column")

    override, path = setting("alertDetailsOverride")
    if override is not None:
        _alert_details_override(override, path, problems, column_problem)

    grouping, path = setting("eventGroupingSettings")
    if grouping is not None:
        if not isinstance(grouping, dict):
            problems.add(path, "'eventGroupingSettings' must be a mapping with aggregationKind")
        else:
            _unknown_keys(problems, grouping, ("aggregationKind",), path, "eventGroupingSettings")
            if grouping.get("aggregationKind", "SingleAlert") not in ("SingleAlert", "AlertPerResult"):
                problems.add(path + ("aggregationKind",), "aggregationKind must be SingleAlert or AlertPerResult")

    incident, path = setting("incidentConfiguration")
    if incident is not None:
        _incident_configuration(incident, path, problems)

    suppression, path = setting("suppressionDuration")
    suppression_minutes = None
    if suppression is not None:
        suppression_minutes = parse_duration(suppression)
        if suppression_minutes is None or not MIN_MINUTES <= suppression_minutes <= MAX_MINUTES:
            problems.add(path, f"suppressionDuration '{suppression}' must be a duration from 5m to 14d",
                         "write it as 5m, 5h or 1d")
    suppression_enabled, path = setting("suppressionEnabled")
    if suppression_enabled is not None and not isinstance(suppression_enabled, bool):
        problems.add(path, "'suppressionEnabled' must be true or false")

    tags, path = setting("tags")
    if tags is not None and not isinstance(tags, list):
        problems.add(path, "'tags' must be a list")
    metadata, _ = setting("metadata")

    problems.raise_any()
    return AnalyticRule(
        kind=kind, name=rule.name, description=rule.description, severity=severity, enabled=enabled, status=status,
        connectors=required_data_connectors(analysis), frequency=frequency, period=period,
        trigger_operator=trigger_operator, trigger_threshold=trigger_threshold, tactics=list(rule.tactics),
        techniques=list(rule.relevant_techniques), tags=tags, query=query, entity_mappings=entity_mappings,
        custom_details=custom_details, alert_details_override=override, event_grouping=grouping,
        incident_configuration=incident, suppression_duration=suppression_minutes,
        suppression_enabled=suppression_enabled, version=version, metadata=metadata,
    )


def _duration_setting(setting, problems: _Problems, key: str, default: int) -> int | None:
    value, path = setting(key)
    if value is None:
        return default
    minutes = parse_duration(value)
    if minutes is None:
        problems.add(path, f"{key} '{value}' is not a duration", "write it as a number with m, h or d: 5m, 1h, 14d")
        return None
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        problems.add(path, f"{key} '{value}' is out of range; Sentinel accepts 5m to 14d")
        return None
    return minutes


def default_entity_mappings(columns) -> list[dict]:
    """Entity mappings for the well-known Defender XDR columns among the output columns."""
    names = {c.name for c in columns}
    mappings = []
    for entity, identifiers in DEFAULT_ENTITY_COLUMNS:
        fields = []
        for identifier, candidates in identifiers:
            column = next((c for c in candidates if c in names), None)
            if column is not None:
                fields.append({"identifier": identifier, "columnName": column})
        used = {f["identifier"] for f in fields}
        required = ENTITY_IDENTIFIERS[entity][1]
        if fields and any(set(combination) <= used for combination in required):
            mappings.append({"entityType": entity, "fieldMappings": fields[:MAX_FIELD_MAPPINGS]})
    return mappings[:MAX_ENTITY_MAPPINGS]


def _entity_mappings(value, path: tuple, problems: _Problems, column_problem) -> list:
    if not isinstance(value, list):
        problems.add(path, "'entityMappings' must be a list of {entityType, fieldMappings}")
        return []
    if not 1 <= len(value) <= MAX_ENTITY_MAPPINGS:
        problems.add(path, f"entityMappings has {len(value)} entities; Sentinel accepts 1 to {MAX_ENTITY_MAPPINGS}")
    for i, mapping in enumerate(value):
        where = path + (i,)
        if not isinstance(mapping, dict):
            problems.add(where, "each entity mapping must be a mapping with entityType and fieldMappings")
            continue
        _unknown_keys(problems, mapping, ("entityType", "fieldMappings"), where, "entity mapping")
        entity = mapping.get("entityType")
        if entity not in ENTITY_IDENTIFIERS:
            problems.add(where + ("entityType",), f"unknown entity type '{entity}'",
                         did_you_mean(str(entity), ENTITY_IDENTIFIERS) or "types: " + ", ".join(ENTITY_IDENTIFIERS))
            continue
        identifiers, required = ENTITY_IDENTIFIERS[entity]
        fields = mapping.get("fieldMappings")
        if not isinstance(fields, list) or not 1 <= len(fields) <= MAX_FIELD_MAPPINGS:
            problems.add(where + ("fieldMappings",),
                         f"an entity mapping needs 1 to {MAX_FIELD_MAPPINGS} fieldMappings of {{identifier, columnName}}")
            continue
        used: set[str] = set()
        for j, field in enumerate(fields):
            at = where + ("fieldMappings", j)
            if not isinstance(field, dict):
                problems.add(at, "each field mapping must be a mapping with identifier and columnName")
                continue
            _unknown_keys(problems, field, ("identifier", "columnName"), at, "field mapping")
            identifier = field.get("identifier")
            if identifier not in identifiers:
                problems.add(at + ("identifier",), f"'{identifier}' is not an identifier of entity type {entity}",
                             did_you_mean(str(identifier), identifiers) or "identifiers: " + ", ".join(identifiers))
            elif identifier in used:
                problems.add(at + ("identifier",), f"identifier '{identifier}' is mapped twice in this entity")
            used.add(str(identifier))
            column = field.get("columnName")
            if isinstance(column, str) and not _COLUMN_NAME.match(column):
                problems.add(at + ("columnName",), f"column name '{column}' must start with a letter or _ and hold "
                                                   "only letters, digits and _")
            else:
                column_problem(at + ("columnName",), column, "entity column")
        if not any(set(combination) <= used for combination in required):
            shown = "; ".join(", ".join(c) for c in required)
            problems.add(where, f"entity {entity} lacks a required identifier", f"map one of: {shown}")
    return value


def _alert_details_override(value, path: tuple, problems: _Problems, column_problem) -> None:
    if not isinstance(value, dict):
        problems.add(path, "'alertDetailsOverride' must be a mapping")
        return
    _unknown_keys(problems, value, ALERT_DETAILS_KEYS, path, "alertDetailsOverride")
    for key, limit in (("alertDisplayNameFormat", MAX_NAME_LENGTH), ("alertDescriptionFormat", MAX_DESCRIPTION_LENGTH)):
        if key not in value:
            continue
        text = value[key]
        if not isinstance(text, str) or not 1 <= len(text) <= limit:
            problems.add(path + (key,), f"{key} must be a string of 1 to {limit} characters")
            continue
        placeholders = _PLACEHOLDER.findall(text)
        if len(placeholders) > MAX_PLACEHOLDERS:
            problems.add(path + (key,), f"{key} has {len(placeholders)} {{{{Column}}}} placeholders; at most "
                                        f"{MAX_PLACEHOLDERS}")
        for placeholder in placeholders:
            column_problem(path + (key,), placeholder.strip(), "placeholder")
    for key in ("alertTacticsColumnName", "alertSeverityColumnName"):
        if key in value:
            column_problem(path + (key,), value[key], key)


def _incident_configuration(value, path: tuple, problems: _Problems) -> None:
    if not isinstance(value, dict):
        problems.add(path, "'incidentConfiguration' must be a mapping")
        return
    _unknown_keys(problems, value, ("createIncident", "groupingConfiguration"), path, "incidentConfiguration")
    if not isinstance(value.get("createIncident", True), bool):
        problems.add(path + ("createIncident",), "'createIncident' must be true or false")
    grouping = value.get("groupingConfiguration")
    if grouping is None:
        return
    where = path + ("groupingConfiguration",)
    if not isinstance(grouping, dict):
        problems.add(where, "'groupingConfiguration' must be a mapping")
        return
    _unknown_keys(problems, grouping, GROUPING_KEYS, where, "groupingConfiguration")
    lookback = grouping.get("lookbackDuration")
    if lookback is not None and parse_duration(lookback) is None:
        problems.add(where + ("lookbackDuration",), f"lookbackDuration '{lookback}' is not a duration",
                     "write it as 5h or PT5H")
    if grouping.get("matchingMethod", "AllEntities") not in ("AllEntities", "AnyAlert", "Selected"):
        problems.add(where + ("matchingMethod",), "matchingMethod must be AllEntities, AnyAlert or Selected")


def arm_properties(rule: AnalyticRule) -> dict:
    """The `properties` of the ARM alertRules resource for `rule`."""
    techniques: list[str] = []
    sub_techniques: list[str] = []
    for technique in rule.techniques:
        parent = technique.split(".")[0]
        if parent not in techniques:
            techniques.append(parent)
        if "." in technique and technique not in sub_techniques:
            sub_techniques.append(technique)
    properties: dict[str, Any] = {
        "displayName": rule.name,
        "description": rule.description.strip(),
        "severity": rule.severity,
        "enabled": rule.enabled,
        "query": rule.query,
    }
    if rule.kind == "Scheduled":
        properties.update({
            "queryFrequency": iso_duration(rule.frequency),
            "queryPeriod": iso_duration(rule.period),
            "triggerOperator": TRIGGER_OPERATORS[rule.trigger_operator],
            "triggerThreshold": rule.trigger_threshold,
        })
    properties.update({
        "suppressionDuration": iso_duration(rule.suppression_duration or 5 * 60),
        "suppressionEnabled": bool(rule.suppression_enabled),
        "tactics": rule.tactics,
        "techniques": techniques,
        "subTechniques": sub_techniques,
        "alertRuleTemplateName": None,
        "templateVersion": None,
        "entityMappings": rule.entity_mappings or None,
        "customDetails": rule.custom_details,
        "alertDetailsOverride": rule.alert_details_override,
        "eventGroupingSettings": rule.event_grouping or {"aggregationKind": "SingleAlert"},
        "incidentConfiguration": _arm_incident_configuration(rule.incident_configuration),
    })
    return properties


def _arm_incident_configuration(value: dict | None) -> dict:
    value = value or {}
    grouping = dict(value.get("groupingConfiguration") or {})
    lookback = parse_duration(grouping.get("lookbackDuration", "5h"))
    return {
        "createIncident": value.get("createIncident", True),
        "groupingConfiguration": {
            "enabled": grouping.get("enabled", False),
            "reopenClosedIncident": grouping.get("reopenClosedIncident", False),
            "lookbackDuration": iso_duration(lookback if lookback is not None else 300),
            "matchingMethod": grouping.get("matchingMethod", "AllEntities"),
            "groupByEntities": grouping.get("groupByEntities", []),
            "groupByAlertDetails": grouping.get("groupByAlertDetails", []),
            "groupByCustomDetails": grouping.get("groupByCustomDetails", []),
        },
    }


# ---------------------------------------------------------------- Defender XDR custom detections


@dataclass
class CustomDetection:
    """A Defender XDR custom detection rule (Microsoft Graph `detectionRule`), validated."""

    display_name: str
    enabled: bool
    query: str
    period: str
    title: str
    description: str
    severity: str
    category: str | None
    recommended_actions: str | None
    techniques: list
    impacted_assets: list  # [{"@odata.type": ..., "identifier": ...}]
    node: ir.Node  # the query's IR, with the mapped columns added

    @property
    def lookback(self) -> str:
        return DETECTION_PERIODS[self.period]


def custom_detection_options(rule, problems: _Problems) -> dict:
    options = rule.options.get("defender", {}).get("custom_detection")
    if options is None:
        return {}
    if not isinstance(options, dict):
        problems.add(("options", "defender", "custom_detection"), "'custom_detection' must be a mapping")
        return {}
    _unknown_keys(problems, options, CUSTOM_DETECTION_KEYS, ("options", "defender", "custom_detection"),
                  "defender custom_detection options")
    return options


def custom_detection(analysis, target: str = "defender") -> CustomDetection:
    """Build and validate the custom detection for `analysis`; raise `RulecastError` listing every problem."""
    rule = analysis.rule
    problems = _Problems(rule, target)
    options = custom_detection_options(rule, problems)
    base = ("options", "defender", "custom_detection")
    node = _map_detection_columns(analysis.node, options.get("columns"), base + ("columns",), problems)
    problems.raise_any()

    names = {c.name: c.type for c in node.columns}
    missing = [c for c in REQUIRED_DETECTION_COLUMNS if c not in names]
    entities = [c for c in ENTITY_COLUMNS if c in names]
    if not entities:
        missing.append("an entity column (" + ", ".join(ENTITY_COLUMNS) + ")")
    if missing:
        problems.add(base + ("columns",) if options.get("columns") is not None else ("query",),
                     "a Defender XDR custom detection must return Timestamp, ReportId and an entity column; the "
                     "query's output lacks " + " and ".join(missing),
                     _mapping_hint(missing, analysis.node.columns))
    elif names["Timestamp"] is not Type.DATETIME:
        problems.add(("query",), f"the output column Timestamp is {names['Timestamp']}, and a custom detection needs "
                                 "a datetime")

    period = options.get("period", DEFAULT_PERIOD)
    if period == 0:
        period = "0"
    if period not in DETECTION_PERIODS:
        problems.add(base + ("period",), f"unknown custom detection period {period!r}",
                     "one of: " + ", ".join(f'"{p}" (lookback {lookback})' for p, lookback in DETECTION_PERIODS.items()))
        period = DEFAULT_PERIOD
    if period == "0":
        _check_continuous(node, problems, base + ("period",))

    severity = options.get("severity", rule.severity or "Medium")
    if severity not in SEVERITIES:
        problems.add(base + ("severity",), f"unknown severity '{severity}'", "one of: " + ", ".join(SEVERITIES))
    category = options.get("category", rule.tactics[0] if rule.tactics else None)
    if category is not None and category not in SENTINEL_TACTICS:
        problems.add(base + ("category",), f"unknown category '{category}'",
                     did_you_mean(str(category), SENTINEL_TACTICS) or "one of: " + ", ".join(SENTINEL_TACTICS))
    actions = options.get("recommended_actions")
    if actions is not None and not isinstance(actions, str):
        problems.add(base + ("recommended_actions",), "'recommended_actions' must be a string")
    enabled = options.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.add(base + ("enabled",), "'enabled' must be true or false")
    assets = _impacted_assets(options.get("impacted_assets"), base + ("impacted_assets",), names, problems)
    query = generate(node, comments=period != "0")
    problems.raise_any()
    return CustomDetection(
        display_name=rule.name, enabled=enabled, query=query, period=period, title=rule.name,
        description=rule.description.strip(), severity=str(severity).lower(), category=category, recommended_actions=actions,
        techniques=list(rule.relevant_techniques), impacted_assets=assets, node=node,
    )


def _map_detection_columns(node: ir.Node, mapping, path: tuple, problems: _Problems) -> ir.Node:
    """Add the columns `options.defender.custom_detection.columns` maps, as one `extend` stage."""
    if mapping is None:
        return node
    if not isinstance(mapping, dict) or not mapping:
        problems.add(path, "'columns' must map a required column to an output column, e.g. {Timestamp: ReleaseTime}")
        return node
    allowed = REQUIRED_DETECTION_COLUMNS + ENTITY_COLUMNS
    available = {c.name: c for c in node.columns}
    items = [ir.ProjectItem(c.name, ir.ColumnRef(c.name, c.type)) for c in node.columns]
    for required, source in mapping.items():
        if required not in allowed:
            problems.add(path + (required,), f"'{required}' is not a column a custom detection requires",
                         did_you_mean(str(required), allowed) or "map Timestamp, ReportId or an entity column")
            continue
        if required in available:
            problems.add(path + (required,), f"the query's output already has a column '{required}'",
                         "remove this mapping")
            continue
        if not isinstance(source, str) or source not in available:
            problems.add(path + (required,), f"'{source}' is not a column of the query's output",
                         did_you_mean(str(source), available) or "output columns: " + ", ".join(list(available)[:12]))
            continue
        column = available[source]
        expected = Type.DATETIME if required == "Timestamp" else None
        if expected is not None and column.type is not expected:
            problems.add(path + (required,), f"'{source}' is {column.type}; {required} must be {expected}")
            continue
        if required != "Timestamp" and column.type not in (Type.STRING, Type.LONG, Type.GUID):
            problems.add(path + (required,), f"'{source}' is {column.type}; {required} must be a string")
            continue
        items.append(ir.ProjectItem(required, ir.ColumnRef(source, column.type)))
    columns = tuple(ir.Column(item.name, item.expr.type) for item in items)
    if len(items) == len(node.columns):
        return node
    return ir.Project(node, tuple(items), columns)


def _mapping_hint(missing: list[str], columns) -> str:
    suggestions = []
    for name in missing:
        if name == "Timestamp":
            times = [c.name for c in columns if c.type is Type.DATETIME]
            suggestions.append(f"Timestamp: {times[0]}" if times else "Timestamp: <a datetime column>")
        elif name == "ReportId":
            suggestions.append("ReportId: <the report id column>")
        else:
            suggestions.append("AccountUpn: <an output column holding the account's UPN>")
    return ("project the columns in the query, or map output columns to them in the rule: "
            "options: {defender: {custom_detection: {columns: {" + ", ".join(suggestions) + "}}}}")


def _check_continuous(node: ir.Node, problems: _Problems, path: tuple) -> None:
    """A continuous detection reads one supported table, without joins or unions."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ir.Join):
            problems.add(path, "a continuous (period \"0\") custom detection cannot join tables",
                         "choose a period of 1H, 3H, 12H or 24H")
            break
        stack.extend(ir.children(current))
    for source in ir.sources(node):
        if source.table not in NRT_TABLES and not source.table.startswith(NRT_TABLE_PREFIXES):
            problems.add(path, f"a continuous (period \"0\") custom detection cannot read {source.table}",
                         "choose a period of 1H, 3H, 12H or 24H")
    used = _column_names(node)
    late = sorted(n for n in used if n.startswith("LatestDelivery"))
    if late:
        problems.add(path, f"a continuous (period \"0\") custom detection cannot read {', '.join(late)}",
                     "choose a period of 1H, 3H, 12H or 24H")


def _column_names(node: ir.Node) -> set[str]:
    """Every column name the pipeline reads or outputs."""
    return {c.name for c in node.columns} | _referenced_columns(node)


def _referenced_columns(node: ir.Node) -> set[str]:
    names: set[str] = set()
    exprs: list = []
    if isinstance(node, ir.Filter):
        exprs.append(node.predicate)
    elif isinstance(node, ir.Project):
        exprs.extend(item.expr for item in node.items)
    elif isinstance(node, ir.Sort):
        exprs.extend(key.expr for key in node.keys)
    elif isinstance(node, ir.Aggregate):
        exprs.extend(key.expr for key in node.keys)
        for aggregation in node.aggregations:
            exprs.extend(aggregation.args)
            names.update(aggregation.carried)
    elif isinstance(node, ir.Distinct):
        names.update(node.names)
    elif isinstance(node, ir.Join):
        names.update(name for pair in node.keys for name in pair)
    for expr in exprs:
        names.update(e.name for e in ir.walk_exprs(expr) if isinstance(e, ir.ColumnRef))
    for child in ir.children(node):
        names |= _referenced_columns(child)
    return names


def _impacted_assets(value, path: tuple, columns: dict, problems: _Problems) -> list[dict]:
    def asset(kind: str, identifier: str) -> dict:
        return {"@odata.type": f"#microsoft.graph.security.{IMPACTED_ASSET_TYPES[kind][0]}", "identifier": identifier}

    if value is None:
        return [asset(kind, identifier) for kind, identifier in DEFAULT_IMPACTED_ASSETS
                if identifier[0].upper() + identifier[1:] in columns]
    if not isinstance(value, list) or not value:
        problems.add(path, "'impacted_assets' must be a list of {type, identifier}")
        return []
    assets = []
    for i, item in enumerate(value):
        at = path + (i,)
        if not isinstance(item, dict):
            problems.add(at, "each impacted asset must be a mapping with type and identifier")
            continue
        _unknown_keys(problems, item, ("type", "identifier"), at, "impacted asset")
        kind, identifier = item.get("type"), item.get("identifier")
        if kind not in IMPACTED_ASSET_TYPES:
            problems.add(at + ("type",), f"unknown impacted asset type '{kind}'", "one of: device, mailbox, user")
            continue
        identifiers = IMPACTED_ASSET_TYPES[kind][1]
        if identifier not in identifiers:
            problems.add(at + ("identifier",), f"'{identifier}' is not an identifier of a {kind} asset",
                         did_you_mean(str(identifier), identifiers) or "identifiers: " + ", ".join(identifiers))
            continue
        column = identifier[0].upper() + identifier[1:]
        if column not in columns:
            problems.add(at + ("identifier",), f"the identifier '{identifier}' reads the column {column}, which the "
                                               "query's output does not have")
            continue
        assets.append(asset(kind, identifier))
    return assets


TARGETS = {
    "sentinel": KqlTarget(SENTINEL),
    "defender": KqlTarget(DEFENDER),
}
