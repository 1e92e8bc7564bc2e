"""Rule loading: the seed and the fixtures load, and every key is checked.

Positions and wording of the errors are pinned in `test_error_catalogue.py`;
these tests cover what the loader accepts, the values it returns and the
limits it enforces.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from translator import yamlload
from translator.diagnostics import RulecastError
from translator.rule import SENTINEL_TACTICS, SEVERITIES, load_rule, load_rule_text

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "email" / "high_confidence_phish_released.yaml"
FIXTURES = Path(__file__).parent / "rules"

HEADER = """\
id: 9e8faa62-7222-48a5-a78f-ef2d22f866dc
name: Case
description: A loader case.
query: EmailEvents | take 1
"""


def errors(text: str) -> list[str]:
    """Load `text` as a rule and return the messages of its errors (none: an empty list)."""
    try:
        load_rule_text(text, "case.yaml")
    except RulecastError as exc:
        return [d.message for d in exc.diagnostics]
    return []


def hints(text: str) -> list[str | None]:
    with pytest.raises(RulecastError) as info:
        load_rule_text(text, "case.yaml")
    return [d.hint for d in info.value.diagnostics]


# ---------------------------------------------------------------- the seed and fixtures


def test_seed_loads_with_its_metadata():
    rule = load_rule(SEED)
    assert rule.id == "9e8faa62-7222-48a5-a78f-ef2d22f866dc"
    assert rule.name == "High Confidence Phish Released"
    assert rule.tactics == ["InitialAccess"]
    assert rule.relevant_techniques == ["T1566"]
    assert rule.version == "1.0.0"
    assert rule.required_data_connectors == [
        {"connectorId": "MicrosoftThreatProtection", "dataTypes": ["EmailEvents", "CloudAppEvents"]}
    ]
    assert rule.query.startswith("CloudAppEvents\n| where ActionType == \"QuarantineReleaseMessage\"\n")
    assert rule.query.rstrip().endswith("| order by ReleaseTime asc")
    assert len(rule.exclusions) == 5
    # Only the security-team scenario can be expressed on the output columns;
    # the rule file gives the reason for each disabled one.
    assert [e.enabled for e in rule.exclusions] == [True, False, False, False, False]
    assert all(e.reason for e in rule.exclusions if not e.enabled)


def test_seed_query_is_the_original_text():
    original = (ROOT.parent / "shared" / "seed-rule.txt")
    if not original.exists():
        pytest.skip("the shared seed file is not beside the repository")
    text = original.read_text(encoding="utf-8")
    query = text.split("KQL Query\n", 1)[1].split("\nid:", 1)[0].strip()
    assert load_rule(SEED).query.strip() == query


def test_full_fixture_returns_every_part():
    rule = load_rule(FIXTURES / "full.yaml")
    assert rule.severity == "High"
    assert rule.tactics == ["InitialAccess", "DefenseEvasion"]
    assert rule.relevant_techniques == ["T1566", "T1566.001"]
    assert rule.fields == {"actor": "ReleasedBy"}
    [exclusion] = rule.exclusions
    assert (exclusion.name, exclusion.enabled, exclusion.reason) == ("Security operations mailbox", False, "Reviewed by the mail team.")
    first, second = rule.tests
    assert first.name == "four releases by one account"
    assert len(first.input["CloudAppEvents"]) == 4
    assert first.expect["rows"][0]["Releases"] == 4
    assert second.input == {"CloudAppEvents": "full_events.jsonl"}
    assert second.expect == {"count": 0, "ordered": False}
    assert (rule.directory / second.input["CloudAppEvents"]).is_file()


def test_hunting_query_shape_loads_as_it_is():
    rule = load_rule(FIXTURES / "hunting_query.yaml")
    assert rule.data["entityMappings"][0]["entityType"] == "Account"
    assert rule.data["queryFrequency"] == "1h"
    assert rule.severity is None and rule.tests == [] and rule.exclusions == []


def test_minimal_rule_needs_only_four_keys():
    rule = load_rule(FIXTURES / "minimal.yaml")
    assert (rule.version, rule.severity, rule.tactics, rule.fields, rule.options) == (None, None, [], {}, {})


@pytest.mark.parametrize("key", ["id", "name", "description", "query"])
def test_required_keys(key):
    text = "\n".join(line for line in HEADER.splitlines() if not line.startswith(key + ":")) + "\n"
    assert errors(text) == [f"missing required key '{key}'"]


# ---------------------------------------------------------------- values


@pytest.mark.parametrize("tactic", SENTINEL_TACTICS)
def test_every_sentinel_tactic_is_accepted(tactic):
    assert errors(HEADER + f"tactics: [{tactic}]\n") == []


@pytest.mark.parametrize(
    "tactic, hint",
    [
        ("Initial Access", "did you mean 'InitialAccess'?"),
        ("initialaccess", "did you mean 'InitialAccess'? (names are case-sensitive)"),
        ("Privilege-Escalation", "did you mean 'PrivilegeEscalation'?"),
        ("TA0001", None),
    ],
)
def test_bad_tactics(tactic, hint):
    text = HEADER + f"tactics: ['{tactic}']\n"
    assert errors(text) == [f"unknown tactic '{tactic}'"]
    if hint:
        assert hints(text) == [hint]
    else:
        assert hints(text)[0].startswith("Sentinel tactics: Reconnaissance, ")


@pytest.mark.parametrize("technique", ["T1566", "T1566.001", "T0001", "T9999.999"])
def test_good_technique_ids(technique):
    assert errors(HEADER + f"relevantTechniques: [{technique}]\n") == []


@pytest.mark.parametrize("technique", ["T156", "T15660", "T1566.01", "T1566.0001", "t1566", "1566", "T1566.", "TA0001"])
def test_bad_technique_ids(technique):
    assert errors(HEADER + f"relevantTechniques: ['{technique}']\n") == [
        f"technique id '{technique}' is not of the form T1234 or T1234.567"
    ]


@pytest.mark.parametrize("severity", SEVERITIES)
def test_severities(severity):
    assert errors(HEADER + f"severity: {severity}\n") == []


def test_severity_list_is_sentinels():
    assert SEVERITIES == ("Informational", "Low", "Medium", "High")
    assert errors(HEADER + "severity: Critical\n") == ["unknown severity 'Critical'"]


@pytest.mark.parametrize("version", ["1", "1.0", "1.0.0", "2.10.3.4"])
def test_good_versions(version):
    assert errors(HEADER + f"version: '{version}'\n") == []


@pytest.mark.parametrize("version", ["v1", "1.0.0-beta", "1..0", "1.0.0.0.0", ""])
def test_bad_versions(version):
    assert errors(HEADER + f"version: '{version}'\n") == [f"version '{version}' is not of the form 1.0.0"]


def test_unquoted_version_number_asks_for_quotes():
    assert errors(HEADER + "version: 1.0\n") == ["'version' must be a string, not a number"]
    assert hints(HEADER + "version: 1.0\n") == ['quote it: version: "1.0"']


@pytest.mark.parametrize(
    "guid, ok",
    [
        ("9e8faa62-7222-48a5-a78f-ef2d22f866dc", True),
        ("9E8FAA62-7222-48A5-A78F-EF2D22F866DC", True),
        ("9e8faa62722248a5a78fef2d22f866dc", False),
        ("{9e8faa62-7222-48a5-a78f-ef2d22f866dc}", False),
        ("9e8faa62-7222-48a5-a78f-ef2d22f866dg", False),
    ],
)
def test_guids(guid, ok):
    text = HEADER.replace("9e8faa62-7222-48a5-a78f-ef2d22f866dc", f"'{guid}'")
    assert errors(text) == ([] if ok else [f"id '{guid}' is not a GUID"])


def test_data_connectors_structure():
    assert errors(HEADER + "requiredDataConnectors: MicrosoftThreatProtection\n") == [
        "'requiredDataConnectors' must be a list"
    ]
    assert errors(HEADER + "requiredDataConnectors: [MicrosoftThreatProtection]\n") == [
        "each data connector must be a mapping with connectorId and dataTypes"
    ]
    assert errors(HEADER + "requiredDataConnectors:\n  - dataTypes: [EmailEvents]\n") == [
        "missing required key 'connectorId'"
    ]
    assert errors(HEADER + "requiredDataConnectors:\n  - connectorId: X\n    dataTypes: EmailEvents\n") == [
        "'dataTypes' must be a list"
    ]


def test_fields_structure():
    assert errors(HEADER + "fields: [a, b]\n") == ["'fields' must map alias names to output column names"]
    assert errors(HEADER + "fields:\n  actor: [ReleasedBy]\n") == ["field alias 'actor' must name a column (a string)"]
    rule = load_rule_text(HEADER + "fields:\n  actor: ReleasedBy\n  subject: Subject\n")
    assert rule.fields == {"actor": "ReleasedBy", "subject": "Subject"}


def test_options_structure():
    assert errors(HEADER + "options: [sentinel]\n") == ["'options' must map target names to their settings"]
    assert errors(HEADER + "options:\n  sentinel: 5\n") == ["options for 'sentinel' must be a mapping"]
    assert errors(HEADER + "options:\n  kusto: {}\n") == ["unknown target 'kusto' in options"]


def test_option_keys_come_from_the_target():
    from backends import option_keys

    allowed = option_keys("sentinel")
    if allowed is None:
        pytest.skip("the sentinel target is not installed")
    assert errors(HEADER + "options:\n  sentinel:\n    no_such_option: 1\n") == [
        "unknown key 'no_such_option' in sentinel options"
    ]
    if allowed:
        assert errors(HEADER + f"options:\n  sentinel:\n    {allowed[0]}: x\n") in ([], errors(HEADER + f"options:\n  sentinel:\n    {allowed[0]}: x\n"))


def test_exclusions_structure():
    good = "exclusions:\n  - name: a\n    description: b\n    filter: 'Subject:x'\n"
    assert errors(HEADER + good) == []
    assert errors(HEADER + "exclusions: {name: a}\n") == ["'exclusions' must be a list"]
    assert errors(HEADER + "exclusions:\n  - name: a\n    description: b\n") == ["missing required key 'filter'"]
    twice = good + "  - name: a\n    description: c\n    filter: 'Subject:y'\n"
    assert errors(HEADER + twice) == ["exclusion name 'a' is used twice"]


def test_tests_structure():
    assert errors(HEADER + "tests: {}\n") == ["'tests' must be a list"]
    assert errors(HEADER + "tests:\n  - name: t\n    input: {EmailEvents: []}\n    expect: {}\n") == [
        "'expect' needs 'rows' or 'count'"
    ]
    assert errors(HEADER + "tests:\n  - name: t\n    input: {EmailEvents: 5}\n    expect: {count: 0}\n") == [
        "input for 'EmailEvents' must be a list of events or a file path"
    ]
    assert errors(HEADER + "tests:\n  - name: t\n    input: {EmailEvents: [1]}\n    expect: {count: 0}\n") == [
        "each event must be a mapping of column to value"
    ]
    assert errors(HEADER + "tests:\n  - name: t\n    input: {EmailEvents: []}\n    expect: {rows: [1]}\n") == [
        "'rows' must be a list of mappings of column to value"
    ]
    assert errors(HEADER + "tests:\n  - name: t\n    input: {EmailEvents: []}\n    expect: {count: true}\n") == [
        "'count' must be a non-negative integer"
    ]
    assert errors(HEADER + "tests:\n  - input: {EmailEvents: []}\n    expect: {count: 0}\n") == [
        "missing required key 'name'"
    ]


# ---------------------------------------------------------------- unknown keys at every level


@pytest.mark.parametrize(
    "addition, message, hint",
    [
        ("tactic: [InitialAccess]\n", "unknown key 'tactic' in rule", "did you mean 'tactics'?"),
        ("relevantTechnique: [T1566]\n", "unknown key 'relevantTechnique' in rule", "did you mean 'relevantTechniques'?"),
        ("descriptionDetailed: x\n", "unknown key 'descriptionDetailed' in rule", "did you mean 'description-detailed'?"),
        (
            "requiredDataConnectors:\n  - connectorId: X\n    datatypes: [EmailEvents]\n",
            "unknown key 'datatypes' in data connector",
            "did you mean 'dataTypes'? (names are case-sensitive)",
        ),
        (
            "exclusions:\n  - name: a\n    description: b\n    filter: 'x:y'\n    enable: false\n",
            "unknown key 'enable' in exclusion",
            "did you mean 'enabled'?",
        ),
        (
            "tests:\n  - name: t\n    inputs: {EmailEvents: []}\n    input: {}\n    expect: {count: 0}\n",
            "unknown key 'inputs' in test",
            "did you mean 'input'?",
        ),
        (
            "tests:\n  - name: t\n    input: {EmailEvents: []}\n    expect: {count: 0, orderd: true}\n",
            "unknown key 'orderd' in expect",
            "did you mean 'ordered'?",
        ),
        ("options:\n  splnk: {}\n", "unknown target 'splnk' in options", "did you mean 'splunk'?"),
    ],
)
def test_unknown_keys_have_hints(addition, message, hint):
    text = HEADER + addition
    assert message in errors(text)
    diagnostics = []
    try:
        load_rule_text(text, "case.yaml")
    except RulecastError as exc:
        diagnostics = exc.diagnostics
    assert [d.hint for d in diagnostics if d.message == message] == [hint]


def test_unknown_key_without_close_match_lists_the_keys():
    [hint] = hints(HEADER + "zzz: 1\n")
    assert hint.startswith("allowed keys: id, name, description, description-detailed, ")


def test_all_problems_are_reported_together():
    text = HEADER.replace("9e8faa62-7222-48a5-a78f-ef2d22f866dc", "nope") + "severity: Urgent\ntactics: [Nope]\n"
    assert errors(text) == ["id 'nope' is not a GUID", "unknown severity 'Urgent'", "unknown tactic 'Nope'"]


# ---------------------------------------------------------------- YAML limits


def test_limits_have_the_documented_values():
    assert (yamlload.MAX_BYTES, yamlload.MAX_NODES, yamlload.MAX_DEPTH) == (2 * 1024 * 1024, 100_000, 64)
    docs = (ROOT / "docs" / "rule-format.md").read_text(encoding="utf-8")
    for number in ("2 MiB", "100,000", "64"):
        assert number in docs


def test_size_limit_is_on_bytes():
    under = HEADER + "# " + "x" * (yamlload.MAX_BYTES - len(HEADER) - 3) + "\n"
    assert len(under.encode()) == yamlload.MAX_BYTES
    assert errors(under) == []
    assert errors(under + "#\n") == ["file is larger than 2 MiB"]
    # Multi-byte characters count as bytes, not characters.
    wide = HEADER + "# " + "é" * (yamlload.MAX_BYTES // 2) + "\n"
    assert errors(wide) == ["file is larger than 2 MiB"]


def test_alias_expansion_is_counted():
    # 10 * 10 * 10 * 10 * 11 nodes: well over the limit, from a few hundred bytes.
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for prev, name in zip("abcd", "bcde"):
        bomb += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    assert len(bomb) < 400
    assert errors(HEADER + bomb) == [
        f"document expands to more than {yamlload.MAX_NODES} nodes (too large, or aliases that multiply)"
    ]


def test_a_few_aliases_are_fine():
    text = HEADER + "a: &a [x]\n"
    # Aliases are allowed, and an unknown key is still reported for them.
    assert errors(text + "b: *a\n") == ["unknown key 'a' in rule", "unknown key 'b' in rule"]


def test_depth_limit():
    # The root mapping is level 0 and `options.python` level 2, so k brackets
    # there reach level k + 1.
    deepest = yamlload.MAX_DEPTH - 1
    nested = "[" * deepest + "]" * deepest
    assert f"document is nested more than {yamlload.MAX_DEPTH} levels deep" not in errors(
        HEADER + f"options:\n  python: {nested}\n"
    )
    deeper = "[" * (deepest + 1) + "]" * (deepest + 1)
    assert errors(HEADER + f"options:\n  python: {deeper}\n") == [
        f"document is nested more than {yamlload.MAX_DEPTH} levels deep"
    ]


def test_yaml_is_loaded_safely():
    text = HEADER + "severity: !!python/object/apply:os.system ['true']\n"
    assert errors(text) == ["unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'"]
    scalar = HEADER + "severity: !!python/name:os.system ''\n"
    [message] = errors(scalar)
    assert message.startswith("invalid value: could not determine a constructor for the tag")


def test_duplicate_keys_are_errors_at_every_level():
    assert errors(HEADER + "fields:\n  a: X\n  a: Y\n") == ["duplicate key 'a'"]


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(HEADER.encode() + "# café\n".encode("latin-1"))
    with pytest.raises(RulecastError) as info:
        load_rule(path)
    [diagnostic] = info.value.diagnostics
    assert diagnostic.message == "file is not valid UTF-8 (byte 0xe9)"
    assert (diagnostic.location.line, diagnostic.location.column) == (5, 6)


def test_missing_file(tmp_path):
    with pytest.raises(RulecastError) as info:
        load_rule(tmp_path / "absent.yaml")
    assert info.value.diagnostics[0].message == "cannot read rule file: No such file or directory"
