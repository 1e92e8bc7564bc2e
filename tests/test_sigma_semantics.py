"""Sigma's matching rules, checked by running the compiled rule in each target.

Each case is a small Sigma rule written for this file, with events that must
and must not match. The events are written with Sigma's field names; for the
KQL targets they are renamed to the Defender XDR columns through the shipped
mapping, loaded into duckdb-kql and queried with the emitted KQL, which
Microsoft's own parser also checks. The Python target runs the generated
module. The Splunk target's SPL runs in the reference SPL interpreter
(tests/spl), with the Sigma-native data mapping.
"""

from __future__ import annotations

import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from backends import CompileSettings, get_target
from backends.kql import generate
from backends.python import generate_module, load_module
from backends.splunk_mapping import load_mapping as load_splunk_mapping
from kqlexec import connect, run
from kustocheck import schema_tables
from translator.sigma.mapping import Refusal, load_mapping
from translator.sigma.rules import SigmaSet, analysis_for, load_text, node_for, target_settings

sys.path.insert(0, str(Path(__file__).with_name("spl")))

from interpreter import run_spl  # noqa: E402

PROCESS = "logsource:\n  product: windows\n  category: process_creation\n"


def sigma(detection: str, logsource: str = PROCESS) -> str:
    return "title: test rule\nid: 00000000-0000-4000-8000-00000000aaaa\n" + logsource + "detection:\n" + textwrap.indent(
        textwrap.dedent(detection).strip("\n"), "  ") + "\n"


def document(text: str):
    documents = load_text(text, "case.yml")
    assert documents[0].error is None, documents[0].error
    return documents[0]


def rule_and_set(text: str):
    """Return the first document of `text` (the rule) and the set of all its documents, filters included."""
    documents = load_text(text, "case.yml")
    for sigma_document in documents:
        assert sigma_document.error is None, sigma_document.error
    return documents[0], SigmaSet(documents)


def defender_events(text: str, events: list[dict]) -> list[dict]:
    """Rename Sigma fields to the Defender columns the mapping gives them."""
    doc = document(text)
    mapping = load_mapping("defender")
    source = doc.sigma.logsource
    entry = mapping.logsource(source.product, source.category, source.service)
    renamed = []
    for event in events:
        renamed.append({mapping.field(entry, key).column: value for key, value in event.items()})
    return renamed


def run_kql(text: str, events: list[dict], platform: str, kusto) -> list[dict]:
    rule, sigma_set = rule_and_set(text)
    node = node_for(rule, platform, sigma_set)
    query = generate(node)
    table = _table(node)
    analysis = kusto.analyze(query, schema_tables(platform, [table]))
    assert not analysis.errors, analysis.report()
    con = connect({table: node.columns}, {table: defender_events(text, events)})
    return run(con, query, node.columns)


def _table(node) -> str:
    while not hasattr(node, "table"):
        node = node.input
    return node.table


def run_python(text: str, events: list[dict]) -> list[dict]:
    rule, sigma_set = rule_and_set(text)
    node = node_for(rule, "python", sigma_set)
    module = load_module(generate_module(analysis_for(rule, "python", "defender", sigma_set)))
    return list(module.run({_table(node): events}))


def run_splunk(text: str, events: list[dict]) -> list[dict]:
    """Compile the rule to SPL and run it in the reference SPL interpreter on Sigma-native events."""
    rule, sigma_set = rule_and_set(text)
    target = get_target("splunk")
    settings = target_settings(CompileSettings(), "splunk")
    analysis = analysis_for(rule, "splunk", target.platform, sigma_set)
    artifact = target.compile(analysis, target.formats[0], settings)[0]
    table = _table(node_for(rule, "splunk", sigma_set))
    return run_spl(artifact.text, {table: events}, load_splunk_mapping(settings.splunk_mapping))


def matches(rows, events, key="CommandLine"):
    """The values of `key` among the result rows, in event order."""
    found = {str(r.get(key)) for r in rows}
    return [e[key] for e in events if str(e[key]) in found]


# ---------------------------------------------------------------- mid-value wildcard


MID_WILDCARD = sigma("""
    sel:
      CommandLine|contains: 'a*b'
    condition: sel
""")
MID_EVENTS = [{"CommandLine": "xAyyBx"}, {"CommandLine": "a-b"}, {"CommandLine": "ba"}, {"CommandLine": "A\nB"}]
MID_EXPECTED = ["xAyyBx", "a-b", "A\nB"]


@pytest.mark.parametrize("platform", ["defender", "sentinel"])
def test_mid_value_wildcard_is_case_insensitive_in_kql(platform, kusto):
    query = generate(node_for(document(MID_WILDCARD), platform))
    assert "(?is)" in query
    rows = run_kql(MID_WILDCARD, MID_EVENTS, platform, kusto)
    assert sorted(r["ProcessCommandLine"] for r in rows) == sorted(MID_EXPECTED)


def test_mid_value_wildcard_is_case_insensitive_in_python():
    assert matches(run_python(MID_WILDCARD, MID_EVENTS), MID_EVENTS) == MID_EXPECTED


def test_mid_value_wildcard_is_case_insensitive_in_splunk():
    assert matches(run_splunk(MID_WILDCARD, MID_EVENTS), MID_EVENTS) == MID_EXPECTED


def test_cased_mid_value_wildcard_keeps_case():
    text = sigma("""
        sel:
          CommandLine|contains|cased: 'a*b'
        condition: sel
    """)
    assert matches(run_python(text, MID_EVENTS), MID_EVENTS) == ["a-b"]
    assert "(?s)^" in generate(node_for(document(text), "defender"))


# ---------------------------------------------------------------- null


NULL_RULE = sigma("""
    sel:
      Image|endswith: '\\cmd.exe'
    empty:
      CommandLine: null
    condition: sel and empty
""")
NULL_EVENTS = [
    {"Image": "C:\\Windows\\cmd.exe", "CommandLine": "cmd /c dir"},
    {"Image": "C:\\Windows\\cmd.exe"},
    {"Image": "C:\\Windows\\cmd.exe", "CommandLine": ""},
]


def test_null_is_isempty_in_kql(kusto):
    query = generate(node_for(document(NULL_RULE), "defender"))
    assert "isempty(ProcessCommandLine)" in query
    assert "isnull(" not in query
    rows = run_kql(NULL_RULE, NULL_EVENTS, "defender", kusto)
    assert len(rows) == 2 and all(r["ProcessCommandLine"] == "" for r in rows)


def test_null_keeps_events_without_the_field_in_python():
    rows = run_python(NULL_RULE, NULL_EVENTS)
    assert len(rows) == 2 and all(r["CommandLine"] == "" for r in rows)


def test_null_keeps_events_without_the_field_in_splunk():
    rows = run_splunk(NULL_RULE, NULL_EVENTS)
    assert len(rows) == 2
    assert all(r["CommandLine"] in ("", None) for r in rows)


# ---------------------------------------------------------------- windash


WINDASH_RULE = sigma("""
    sel:
      CommandLine|windash|contains: ' -enc '
    condition: sel
""")
DASHES = ["-", "/", "\u2013", "\u2014", "\u2015"]
WINDASH_EVENTS = [{"CommandLine": f"powershell {d}enc AAAA"} for d in DASHES] + [
    {"CommandLine": "powershell enc AAAA"}, {"CommandLine": "powershell _enc AAAA"}]
WINDASH_EXPECTED = [f"powershell {d}enc AAAA" for d in DASHES]


def test_windash_matches_all_five_dashes_in_python():
    assert matches(run_python(WINDASH_RULE, WINDASH_EVENTS), WINDASH_EVENTS) == WINDASH_EXPECTED


@pytest.mark.parametrize("platform", ["defender", "sentinel"])
def test_windash_matches_all_five_dashes_in_kql(platform, kusto):
    rows = run_kql(WINDASH_RULE, WINDASH_EVENTS, platform, kusto)
    assert sorted(r["ProcessCommandLine"] for r in rows) == sorted(WINDASH_EXPECTED)


def test_windash_matches_all_five_dashes_in_splunk():
    assert matches(run_splunk(WINDASH_RULE, WINDASH_EVENTS), WINDASH_EVENTS) == WINDASH_EXPECTED


# ---------------------------------------------------------------- regex inside an OR group


REGEX_OR_RULE = sigma("""
    plain:
      CommandLine|contains: 'whoami'
    pattern:
      CommandLine|re: 'net\\s+user'
    condition: 1 of them
""")
REGEX_OR_EVENTS = [{"CommandLine": "whoami /all"}, {"CommandLine": "net   user x"}, {"CommandLine": "NET USER"},
                   {"CommandLine": "ipconfig"}]
REGEX_OR_EXPECTED = ["whoami /all", "net   user x"]


def test_regex_in_or_group_keeps_both_branches_in_python():
    assert matches(run_python(REGEX_OR_RULE, REGEX_OR_EVENTS), REGEX_OR_EVENTS) == REGEX_OR_EXPECTED


def test_regex_in_or_group_keeps_both_branches_in_kql(kusto):
    rows = run_kql(REGEX_OR_RULE, REGEX_OR_EVENTS, "defender", kusto)
    assert sorted(r["ProcessCommandLine"] for r in rows) == sorted(REGEX_OR_EXPECTED)


def test_regex_in_or_group_keeps_both_branches_in_splunk():
    assert matches(run_splunk(REGEX_OR_RULE, REGEX_OR_EVENTS), REGEX_OR_EVENTS) == REGEX_OR_EXPECTED


def test_regex_flags_become_inline_flags():
    text = sigma("""
        sel:
          CommandLine|re|i|m|s: '^net.user$'
        condition: sel
    """)
    assert '"(?ims)^net.user$"' in generate(node_for(document(text), "defender"))


def test_regex_outside_kql_dialect_is_refused_with_the_reason():
    text = sigma("""
        sel:
          CommandLine|re: 'foo(?=bar)'
        condition: sel
    """)
    with pytest.raises(Refusal, match="look-around"):
        node_for(document(text), "defender")


# ---------------------------------------------------------------- backslash escapes


ESCAPE_RULE = sigma(r"""
    wildcard:
      CommandLine|startswith: 'C:\\*.exe'
    star:
      CommandLine: 'a\*b'
    condition: wildcard or star
""")
ESCAPE_EVENTS = [
    {"CommandLine": "c:\\tools\\run.EXE"},   # backslash, then anything, then .exe
    {"CommandLine": "C:\\.exe"},            # the wildcard may match nothing
    {"CommandLine": "C:x.exe"},             # no backslash: no match
    {"CommandLine": "a*b"},                 # the literal asterisk
    {"CommandLine": "A*B"},                 # case-insensitive
    {"CommandLine": "axb"},                 # `\*` is not a wildcard
]
ESCAPE_EXPECTED = ["c:\\tools\\run.EXE", "C:\\.exe", "a*b", "A*B"]


def test_backslash_escapes_in_python():
    assert matches(run_python(ESCAPE_RULE, ESCAPE_EVENTS), ESCAPE_EVENTS) == ESCAPE_EXPECTED


@pytest.mark.parametrize("platform", ["defender", "sentinel"])
def test_backslash_escapes_in_kql(platform, kusto):
    rows = run_kql(ESCAPE_RULE, ESCAPE_EVENTS, platform, kusto)
    assert sorted(r["ProcessCommandLine"] for r in rows) == sorted(ESCAPE_EXPECTED)


def test_backslash_escapes_in_splunk():
    assert matches(run_splunk(ESCAPE_RULE, ESCAPE_EVENTS), ESCAPE_EVENTS) == ESCAPE_EXPECTED


# ---------------------------------------------------------------- keyword search


KEYWORD_RULE = sigma("""
    keywords:
      - 'mimikatz'
      - 'sekurlsa::'
    condition: keywords
""")
KEYWORD_EVENTS = [{"CommandLine": "run MimiKatz.exe", "Image": "C:\\x.exe"},
                  {"CommandLine": "dir", "Image": "C:\\sekurlsa::x"},
                  {"CommandLine": "dir", "Image": "C:\\y.exe"}]


def test_keyword_rule_searches_every_string_field_in_python():
    rows = run_python(KEYWORD_RULE, KEYWORD_EVENTS)
    assert sorted(r["Image"] for r in rows) == ["C:\\sekurlsa::x", "C:\\x.exe"]


@pytest.mark.parametrize("platform", ["defender", "sentinel"])
def test_keyword_rule_is_valid_kql_full_text_search(platform, kusto):
    rows = run_kql(KEYWORD_RULE, KEYWORD_EVENTS, platform, kusto)
    assert sorted(r["FolderPath"] for r in rows) == ["C:\\sekurlsa::x", "C:\\x.exe"]


def test_keyword_rule_in_splunk_is_valid_or_refused():
    rows = run_splunk(KEYWORD_RULE, KEYWORD_EVENTS)
    assert sorted(r["Image"] for r in rows) == ["C:\\sekurlsa::x", "C:\\x.exe"]


def test_keyword_rule_on_a_log_source_with_open_fields_is_refused():
    text = sigma("""
        keywords:
          - 'mimikatz'
        condition: keywords
    """, logsource="logsource:\n  product: windows\n  service: security\n")
    with pytest.raises(Refusal, match="full-text"):
        node_for(document(text), "python")


# ---------------------------------------------------------------- filters


def sigma_filter(detections: str, condition: str, title: str = "tuning") -> str:
    """Return a filter document for the rule that `sigma()` writes, to follow the rule in one text."""
    header = f"---\ntitle: {title}\n{PROCESS}filter:\n  rules: [00000000-0000-4000-8000-00000000aaaa]\n"
    body = textwrap.dedent(detections).strip("\n") + "\ncondition: " + condition
    return header + textwrap.indent(body, "  ") + "\n"


WHOAMI_RULE = sigma("""
    sel:
      Image|endswith: '\\whoami.exe'
    condition: sel
""")
PATCH_TOOL = """
    selection:
      ParentImage|endswith: '\\patchtool.exe'
"""
SLASH_OPTION = """
    selection:
      CommandLine|contains: ' /'
"""
FILTER_EVENTS = [
    {"Image": "C:\\Windows\\System32\\whoami.exe", "ParentImage": "C:\\Tools\\PatchTool.exe",
     "CommandLine": "whoami /groups"},
    {"Image": "C:\\Windows\\System32\\whoami.exe", "ParentImage": "C:\\Windows\\explorer.exe",
     "CommandLine": "whoami /all"},
    {"Image": "C:\\Windows\\System32\\whoami.exe", "ParentImage": "C:\\Tools\\other.exe",
     "CommandLine": "whoami"},
    {"Image": "C:\\Windows\\notepad.exe", "ParentImage": "C:\\Tools\\patchtool.exe",
     "CommandLine": "notepad"},
]
# A filter's condition states which of the rule's events to keep, and several filters all apply.
FILTER_CASES = {
    "not selection removes": (WHOAMI_RULE + sigma_filter(PATCH_TOOL, "not selection"),
                              ["whoami /all", "whoami"]),
    "selection keeps only": (WHOAMI_RULE + sigma_filter(PATCH_TOOL, "selection"),
                             ["whoami /groups"]),
    "two filters both apply": (WHOAMI_RULE + sigma_filter(PATCH_TOOL, "not selection")
                               + sigma_filter(SLASH_OPTION, "selection", "options only"),
                               ["whoami /all"]),
}


def test_not_selection_filter_has_one_not_in_kql():
    rule, sigma_set = rule_and_set(FILTER_CASES["not selection removes"][0])
    query = generate(node_for(rule, "defender", sigma_set))
    assert '| where not(InitiatingProcessFolderPath endswith @"\\patchtool.exe")' in query
    assert "not(not(" not in query


@pytest.mark.parametrize("case", list(FILTER_CASES))
@pytest.mark.parametrize("platform", ["defender", "sentinel"])
def test_filter_keeps_condition_events_in_kql(case, platform, kusto):
    text, expected = FILTER_CASES[case]
    rows = run_kql(text, FILTER_EVENTS, platform, kusto)
    assert sorted(r["ProcessCommandLine"] for r in rows) == sorted(expected)


@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_filter_keeps_condition_events_in_python(case):
    text, expected = FILTER_CASES[case]
    assert matches(run_python(text, FILTER_EVENTS), FILTER_EVENTS) == expected


@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_filter_keeps_condition_events_in_splunk(case):
    text, expected = FILTER_CASES[case]
    assert matches(run_splunk(text, FILTER_EVENTS), FILTER_EVENTS) == expected


# ---------------------------------------------------------------- IPv6 cidr


IPV6_RULE = sigma("""
    sel:
      Image|endswith: '\\x.exe'
    local:
      DestinationIp|cidr:
        - 'fe80::/10'
        - '10.0.0.0/8'
    condition: sel and not local
""", logsource="logsource:\n  product: windows\n  category: network_connection\n")
IPV6_EVENTS = [{"Image": "C:\\x.exe", "DestinationIp": address}
               for address in ("fe80::1", "FE80:0:0::2", "febf:ffff::1", "fec0::1", "2001:db8::1", "10.1.1.1",
                               "8.8.8.8", "", "not an address")]
# fe80::/10 spans fe80:: to febf:ffff:...; an empty or invalid value is outside every network.
IPV6_EXPECTED = ["fec0::1", "2001:db8::1", "8.8.8.8", "", "not an address"]


def test_ipv6_cidr_in_python():
    assert matches(run_python(IPV6_RULE, IPV6_EVENTS), IPV6_EVENTS, "DestinationIp") == IPV6_EXPECTED


def test_ipv6_cidr_kql_passes_kusto_parser(kusto):
    query = generate(node_for(document(IPV6_RULE), "defender"))
    analysis = kusto.analyze(query, schema_tables("defender", ["DeviceNetworkEvents"]))
    assert not analysis.errors, analysis.report()


@pytest.mark.parametrize("address, network, expected", [
    # The rows of the example in Microsoft's ipv6_is_in_range() reference.
    ("a5e:f127:8a9d:146d:e102:b5d3:c755:abcd", "a5e:f127:8a9d:146d:e102:b5d3:c755:0000/112", True),
    ("a5e:f127:8a9d:146d:e102:b5d3:c755:abcd", "a5e:f127:8a9d:146d:e102:b5d3:c755:abcd", True),
    ("a5e:f127:8a9d:146d:e102:b5d3:c755:abcd", "0:0:0:0:0:ffff:c0a8:ac/60", False),
    # Null when either text does not convert.
    ("", "fe80::/10", None),
    ("fe80::1%eth0", "fe80::/10", None),
    ("fe80::1", "fe80::/129", None),
    ("fe80::1", "fe80::/x", None),
    ("fe80::1", "", None),
    # IPv4 text reads as the IPv4-mapped IPv6 address, as in ipv6_compare().
    ("192.168.1.1", "::ffff:c0a8:100/120", True),
    ("192.168.1.1", "::ffff:c0a8:0/120", False),
    ("192.168.1.1", "192.168.1.0/24", True),
    ("192.168.2.1", "192.168.1.0/24", False),
    ("::1", "::/0", True),
])
def test_ipv6_is_in_range_runtime(address, network, expected):
    from backends import python_runtime

    assert python_runtime._ipv6_is_in_range(address, network) is expected


# ---------------------------------------------------------------- generated module text


def test_generated_module_has_no_invalid_escapes():
    text = sigma(r"""
        sel:
          CommandLine|re: '\d+\s\w\.\['
        wild:
          CommandLine|contains: 'C:\Windows\*\System32'
        path:
          Image|endswith: '\cmd.exe'
        condition: 1 of them
    """)
    source = generate_module(analysis_for(document(text), "python", "defender"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compile(source, "generated.py", "exec")
