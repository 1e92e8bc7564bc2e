"""Log source and field mappings, and the value translations they carry."""

from __future__ import annotations

import ipaddress
import json
import re
import textwrap

import pytest
from hypothesis import given, settings, strategies as st

from backends.kql import generate
from kqlexec import connect, run
from kustocheck import schema_tables
from translator.sigma.convert import ipv4_network_regex
from translator.sigma.mapping import SIGMA_TARGETS, Refusal, load_mapping, native_tables
from translator.sigma.rules import load_text, node_for
from translator.schema import load_catalog


def compile_rule(detection: str, target: str = "defender", logsource: str = "product: windows\n  category: registry_set"):
    text = "title: t\nlogsource:\n  " + logsource + "\ndetection:\n" + textwrap.indent(textwrap.dedent(detection), "  ")
    document = load_text(text, "case.yml")[0]
    assert document.error is None, document.error
    return generate(node_for(document, target))


@pytest.mark.parametrize("target", SIGMA_TARGETS)
def test_every_mapped_column_exists_in_its_table(target):
    mapping = load_mapping(target)
    for entry in mapping.logsources:
        columns = {c.name for c in mapping.table(entry).columns}
        open_table = mapping.catalog == "native" and native_tables()[entry.table].open
        for name, spec in entry.fields.items():
            used = [spec.column] if spec.column else [p[1:] for p in spec.concat + spec.join if p.startswith("$")]
            used += list((spec.hashes or {}).values()) + ([spec.dword] if spec.dword else [])
            used += [spec.json[0][1:]] if spec.json else []
            for column in used:
                assert open_table or column in columns, f"{target} {entry.describe()}: {name} -> {column}"
        for column in entry.where:
            assert column in columns


def test_device_schemas_name_their_sources():
    for platform in ("defender", "sentinel"):
        catalog = load_catalog(platform)
        for table in ("DeviceProcessEvents", "DeviceNetworkEvents", "DeviceFileEvents", "DeviceRegistryEvents",
                      "DeviceImageLoadEvents", "DeviceLogonEvents", "DeviceEvents"):
            assert table in catalog.tables
            assert "learn.microsoft.com" in catalog.sources[table]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 32), st.integers(0, 2**32 - 1))
def test_ipv4_cidr_regex_matches_exactly_the_network(base, prefix, probe):
    network = ipaddress.IPv4Network((base, prefix), strict=False)
    pattern = re.compile(ipv4_network_regex(network))
    address = ipaddress.IPv4Address(probe)
    assert bool(pattern.search(str(address))) == (address in network)
    assert pattern.search(str(network.network_address))
    assert pattern.search(str(network.broadcast_address))
    # Anchored: an address inside a longer text does not match.
    assert not pattern.search("1" + str(network.network_address) + "1")


def test_ipv6_cidr_is_ipv6_is_in_range_in_kql():
    detection = "sel:\n  DestinationIp|cidr: 'fe80::/10'\ncondition: sel\n"
    query = compile_rule(detection, "defender", "product: windows\n  category: network_connection")
    assert 'coalesce(ipv6_is_in_range(RemoteIP, "fe80::/10"), false)' in query


def test_ipv6_cidr_is_rejected_by_splunk_with_reason():
    from backends import CompileSettings, get_target
    from translator.diagnostics import RulecastError
    from translator.sigma.rules import analysis_for, target_settings

    text = ("title: t\nlogsource:\n  product: windows\n  category: network_connection\n"
            "detection:\n  sel:\n    DestinationIp|cidr: 'fe80::/10'\n  condition: sel\n")
    document = load_text(text, "case.yml")[0]
    target = get_target("splunk")
    with pytest.raises(RulecastError, match="splunk target cannot express ipv6_is_in_range"):
        analysis = analysis_for(document, "splunk", target.platform)
        target.compile(analysis, target.formats[0], target_settings(CompileSettings(), "splunk"))


def test_registry_root_is_rewritten_for_defender():
    query = compile_rule("sel:\n  TargetObject|startswith: 'HKLM\\Software\\Run'\ncondition: sel\n")
    assert 'startswith @"HKEY_LOCAL_MACHINE\\Software\\Run"' in query
    assert 'iff(isempty(RegistryValueName), RegistryKey, strcat(RegistryKey, @"\\", RegistryValueName))' in query


def test_registry_root_that_cannot_be_rewritten_is_refused():
    with pytest.raises(Refusal, match="registry root"):
        compile_rule("sel:\n  TargetObject|contains: 'x\\HKLM\\y'\ncondition: sel\n")


def test_dword_value_becomes_type_and_decimal_data():
    query = compile_rule("sel:\n  Details: 'DWORD (0x0000000a)'\ncondition: sel\n")
    assert 'RegistryValueType == "Dword" and RegistryValueData == "10"' in query
    with pytest.raises(Refusal, match="Sysmon's spelling of registry data"):
        compile_rule("sel:\n  Details|startswith: 'DWORD (0x000000'\ncondition: sel\n")


def test_hashes_become_hash_columns():
    logsource = "product: windows\n  category: process_creation"
    query = compile_rule("sel:\n  Hashes|contains: 'MD5=" + "a" * 32 + "'\ncondition: sel\n", "defender", logsource)
    assert 'MD5 =~ "' + "a" * 32 + '"' in query
    with pytest.raises(Refusal, match="IMPHASH hashes have no defender column"):
        compile_rule("sel:\n  Hashes|contains: 'IMPHASH=" + "b" * 32 + "'\ncondition: sel\n", "defender", logsource)


def test_value_table_translates_exact_values_only():
    logsource = "product: windows\n  category: network_connection"
    query = compile_rule("sel:\n  Initiated: 'true'\ncondition: sel\n", "defender", logsource)
    assert 'ActionType in ("ConnectionSuccess"' in query
    with pytest.raises(Refusal, match="translates only exact values"):
        compile_rule("sel:\n  Initiated|contains: 'tr'\ncondition: sel\n", "defender", logsource)


def test_unmapped_log_source_names_it():
    with pytest.raises(Refusal, match=r"log source \{product: linux, service: auditd\} has no sentinel mapping"):
        compile_rule("sel:\n  type: EXECVE\ncondition: sel\n", "sentinel", "product: linux\n  service: auditd")


def test_numbers_compare_as_numbers_on_numeric_columns():
    logsource = "product: windows\n  category: network_connection"
    query = compile_rule("sel:\n  DestinationPort: 445\nhigh:\n  DestinationPort|gte: 49152\ncondition: sel or high\n",
                         "defender", logsource)
    assert "RemotePort == 445" in query
    assert "RemotePort >= 49152" in query


def test_open_fields_are_read_through_tostring():
    query = compile_rule("sel:\n  EventID: 4624\n  LogonType: 3\ncondition: sel\n", "python",
                         "product: windows\n  service: security")
    assert "EventID == 4624" in query
    assert 'tostring(LogonType) =~ "3"' in query


DNS_QUERY = "product: windows\n  category: dns_query"
DNS_RULE = "sel:\n  QueryName|endswith: '.onion'\n  Image|endswith: '\\rundll32.exe'\ncondition: sel\n"


def test_dns_query_reads_device_events_in_defender():
    query = compile_rule(DNS_RULE, "defender", DNS_QUERY)
    assert query.startswith("DeviceEvents\n")
    assert 'ActionType == "DnsQueryResponse"' in query
    # Defender XDR stores AdditionalFields as text, so it is parsed first.
    assert 'tostring(todynamic(AdditionalFields).DnsQueryString) endswith ".onion"' in query
    assert 'InitiatingProcessFolderPath endswith @"\\rundll32.exe"' in query


def test_dns_query_reads_dynamic_additional_fields_in_sentinel():
    query = compile_rule(DNS_RULE, "sentinel", DNS_QUERY)
    assert 'tostring(AdditionalFields.DnsQueryString) endswith ".onion"' in query
    assert "todynamic" not in query


@pytest.mark.parametrize("platform", ["defender", "sentinel"])
def test_dns_query_kql_passes_kusto_parser(platform, kusto):
    query = compile_rule(DNS_RULE, platform, DNS_QUERY)
    analysis = kusto.analyze(query, schema_tables(platform, ["DeviceEvents"]))
    assert not analysis.errors, analysis.report()


def test_dns_query_matches_only_the_query_key(kusto):
    document = load_text("title: t\nlogsource:\n  " + DNS_QUERY + "\ndetection:\n"
                         "  sel:\n    QueryName|endswith: '.onion'\n  condition: sel\n", "case.yml")[0]
    node = node_for(document, "defender")
    query = generate(node)
    assert not kusto.analyze(query, schema_tables("defender", ["DeviceEvents"])).errors
    events = [
        {"ActionType": "DnsQueryResponse", "AdditionalFields": '{"DnsQueryString":"x.ONION"}', "ReportId": 1},
        {"ActionType": "DnsQueryResponse", "AdditionalFields": '{"Other":"x.onion"}', "ReportId": 2},
        {"ActionType": "DnsQueryResponse", "AdditionalFields": "", "ReportId": 3},
        {"ActionType": "NamedPipeEvent", "AdditionalFields": '{"DnsQueryString":"x.onion"}', "ReportId": 4},
    ]
    rows = run(connect({"DeviceEvents": node.columns}, {"DeviceEvents": events}), query, node.columns)
    assert [row["ReportId"] for row in rows] == [1]


def test_dns_query_field_without_key_is_refused():
    with pytest.raises(Refusal, match="field 'QueryStatus' of log source .*dns_query.* has no defender mapping"):
        compile_rule("sel:\n  QueryStatus: '0'\ncondition: sel\n", "defender", DNS_QUERY)


PIPE = "product: windows\n  category: pipe_created"
# Sysmon pipe names, and patterns over them that a leading prefix could fool:
# `e\f` and `Pipe\` occur in `\Device\NamedPipe\f...` but not in `\f...`.
PIPE_NAMES = ["\\lsass", "\\LSASS", "\\foo", "\\e\\foo", "\\MSSE-1-server", "\\x\\Pipe\\y", "", "lsass"]
PIPE_PATTERNS = [
    ("PipeName", "\\lsass"),
    ("PipeName|contains", "e\\f"),
    ("PipeName|contains", "Pipe\\"),
    ("PipeName|startswith", "\\MSSE-"),
    ("PipeName|endswith", "-server"),
    ("PipeName|endswith", "\\foo"),
    ("PipeName", "\\MSSE*server"),
    ("PipeName", "\\f?o"),
    ("PipeName|cased", "\\lsass"),
    ("PipeName", "*"),
]


def _sigma_matches(field: str, value: str, name: str) -> bool:
    """Sigma's meaning of one pattern on a Sysmon pipe name, written out here
    (the patterns above put no backslash before a wildcard, so no Sigma escapes)."""
    modifiers = field.split("|")[1:]
    body = re.escape(value).replace("\\*", ".*").replace("\\?", ".")
    if "contains" in modifiers:
        body = ".*" + body + ".*"
    elif "startswith" in modifiers:
        body = body + ".*"
    elif "endswith" in modifiers:
        body = ".*" + body
    flags = re.S if "cased" in modifiers else re.S | re.I
    if value == "*":
        return name != ""
    return re.fullmatch(body, name, flags) is not None


@pytest.mark.parametrize("field,value", PIPE_PATTERNS)
def test_pipe_patterns_match_after_prefix(field, value, kusto):
    """Defender writes `\\Device\\NamedPipe` before Sysmon's pipe name, and a pattern
    over the Sysmon name must match the same events in the KQL."""
    rule = f"sel:\n  {field}: '{value}'\ncondition: sel\n"
    document = load_text("title: t\nlogsource:\n  " + PIPE + "\ndetection:\n" + textwrap.indent(rule, "  "), "case.yml")[0]
    node = node_for(document, "defender")
    query = generate(node)
    assert not kusto.analyze(query, schema_tables("defender", ["DeviceEvents"])).errors
    events = [
        {"ActionType": "NamedPipeEvent", "ReportId": i,
         "AdditionalFields": json.dumps({"PipeName": "\\Device\\NamedPipe" + name if name.startswith("\\") else name})}
        for i, name in enumerate(PIPE_NAMES)
    ]
    events.append({"ActionType": "OpenProcessApiCall", "ReportId": 99,
                   "AdditionalFields": json.dumps({"PipeName": "\\Device\\NamedPipe\\lsass"})})
    rows = run(connect({"DeviceEvents": node.columns}, {"DeviceEvents": events}), query, node.columns)
    expected = [i for i, name in enumerate(PIPE_NAMES) if name.startswith("\\") and _sigma_matches(field, value, name)]
    assert sorted(row["ReportId"] for row in rows) == expected


def test_pipe_regex_is_refused():
    with pytest.raises(Refusal, match="a regex cannot be translated"):
        compile_rule("sel:\n  PipeName|re: '^.lsass$'\ncondition: sel\n", "defender", PIPE)


@pytest.mark.parametrize("category,action", [
    ("process_access", "OpenProcessApiCall"),
    ("create_remote_thread", "CreateRemoteThreadApiCall"),
])
def test_remote_process_images_map(category, action, kusto):
    rule = "sel:\n  SourceImage|endswith: '\\rundll32.exe'\n  TargetImage|endswith: '\\lsass.exe'\ncondition: sel\n"
    query = compile_rule(rule, "defender", f"product: windows\n  category: {category}")
    assert f'ActionType == "{action}"' in query
    assert 'InitiatingProcessFolderPath endswith @"\\rundll32.exe"' in query
    assert 'FolderPath endswith @"\\lsass.exe"' in query
    assert not kusto.analyze(query, schema_tables("defender", ["DeviceEvents"])).errors


def test_driver_load_path_and_hashes():
    rule = "sel:\n  ImageLoaded|endswith: '\\x.sys'\n  Hashes|contains: 'SHA256=" + "AB" * 32 + "'\ncondition: sel\n"
    query = compile_rule(rule, "defender", "product: windows\n  category: driver_load")
    assert 'ActionType == "DriverLoad"' in query
    assert 'FolderPath endswith @"\\x.sys"' in query
    assert "SHA256" in query


@pytest.mark.parametrize("category,field", [
    ("process_access", "GrantedAccess"),
    ("process_access", "CallTrace"),
    ("create_remote_thread", "StartModule"),
    ("driver_load", "Signed"),
])
def test_unmapped_device_fields_refused(category, field):
    logsource = f"product: windows\n  category: {category}"
    with pytest.raises(Refusal, match=f"field '{field}' of log source .*{category}.* has no defender mapping"):
        compile_rule(f"sel:\n  {field}: 'x'\ncondition: sel\n", "defender", logsource)
