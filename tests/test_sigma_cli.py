"""`rulecast import sigma`, and `compile`/`check` on Sigma files.

The fixtures in tests/sigma_fixtures are SigmaHQ rules (Detection Rule
License 1.1, see the LICENSE file there; each keeps its author).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from translator.cli import main
from translator.compiler import analyze
from translator.rule import load_rule
from translator.sigma.rules import load_file, node_for

FIXTURES = Path(__file__).resolve().parent / "sigma_fixtures"
WMIC = FIXTURES / "proc_creation_win_wmic_uninstall_security_products.yml"
REGISTRY = FIXTURES / "registry_set_powershell_enablescripts_enabled.yml"
EXPAND = FIXTURES / "win_security_adcs_certighost_cdc_chase_request.yml"
CIDR = FIXTURES / "net_connection_win_dllhost_non_local_ip.yml"
KEYWORDS = FIXTURES / "cisco_cli_dot1x_disabled.yml"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def test_fixture_rules_keep_their_author_and_licence():
    assert "Detection Rule License (DRL) 1.1" in (FIXTURES / "LICENSE").read_text(encoding="utf-8")
    for path in FIXTURES.glob("*.yml"):
        assert "\nauthor: " in path.read_text(encoding="utf-8"), path.name


@pytest.mark.parametrize("fixture", [WMIC, REGISTRY, CIDR])
def test_imported_rule_round_trips_to_the_same_ir(fixture, tmp_path, capsys):
    assert main(["import", "sigma", str(fixture), "-o", str(tmp_path)]) == 0
    imported = tmp_path / (fixture.stem + ".yaml")
    rule = load_rule(imported)
    assert rule.data["description-detailed"].startswith("Author: ")
    expected = node_for(load_file(fixture)[0], "defender")
    assert analyze(rule, "defender").node == expected
    analyze(rule, "sentinel")  # the same query resolves against the Sentinel tables


def test_import_unmapped_log_source_named(tmp_path, capsys):
    status = main(["import", "sigma", str(KEYWORDS), "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 1
    line = KEYWORDS.read_text(encoding="utf-8").splitlines().index("logsource:") + 1
    assert f"{KEYWORDS}:{line}:1: error: import: log source {{product: cisco, service: aaa}} has no defender mapping" in err
    assert "Traceback" not in err


def test_compile_accepts_sigma_files_for_every_target(capsys):
    assert main(["compile", "-t", "all", str(WMIC)]) == 0
    out = capsys.readouterr().out
    for header in ("[defender query]", "[sentinel query]", "[python module]"):
        assert header in out
    assert 'ProcessCommandLine contains "\u2014nointeractive"' in out


def test_check_accepts_sigma_files(capsys):
    assert main(["check", str(WMIC)]) == 0
    assert "compiles for sentinel, defender" in capsys.readouterr().out


def test_expand_needs_placeholder_values(capsys):
    assert main(["compile", "-t", "python", str(EXPAND)]) == 1
    err = capsys.readouterr().err
    assert "placeholder %known_cdcs% needs values" in err
    assert "--sigma-placeholder known_cdcs=" in err
    line = next(i for i, text in enumerate(EXPAND.read_text().splitlines(), 1) if "|expand" in text)
    assert f"{EXPAND}:{line}:" in err


def test_expand_compiles_with_supplied_values(tmp_path, capsys):
    values = write(tmp_path, "values.yaml", "known_cdcs: [dc1.example.com, 10.0.0.5]\n")
    assert main(["compile", "-t", "python", str(EXPAND), "--sigma-placeholders", str(values)]) == 0
    out = capsys.readouterr().out
    assert "dc1.example.com" in out
    assert "10.0.0.5" in out
    assert main(["compile", "-t", "python", str(EXPAND), "--sigma-placeholder", "known_cdcs=dc9.example.com"]) == 0
    assert "dc9.example.com" in capsys.readouterr().out


def test_invalid_yaml_is_one_positioned_error_without_traceback(tmp_path, capsys):
    bad = write(tmp_path, "bad.yml", """
        title: broken
        logsource:
          product: windows
          category: process_creation
        detection:
          sel:
            CommandLine: [unclosed
          condition: sel
    """)
    assert main(["compile", "-t", "defender", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}:")
    assert ": error: invalid YAML" in err.splitlines()[0]
    assert "Traceback" not in err


def test_unknown_modifier_is_reported_and_other_rules_still_compile(tmp_path, capsys):
    write(tmp_path, "a_bad.yml", """
        title: bad modifier
        logsource: {product: windows, category: process_creation}
        detection:
          sel:
            CommandLine|sometimes: x
          condition: sel
    """)
    good = write(tmp_path, "b_good.yml", WMIC.read_text(encoding="utf-8"))
    assert main(["compile", "-t", "defender", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "invalid Sigma document: Unknown modifier" in captured.err
    assert "DeviceProcessEvents" in captured.out
    assert good.name not in captured.err


def test_unmapped_field_is_refused_and_named(tmp_path, capsys):
    rule = write(tmp_path, "field.yml", """
        title: current directory
        logsource: {product: windows, category: process_creation}
        detection:
          sel:
            CurrentDirectory|contains: '\\Temp\\'
          condition: sel
    """)
    assert main(["compile", "-t", "defender", str(rule)]) == 1
    err = capsys.readouterr().err
    assert (f"{rule}:5:5: error: defender: field 'CurrentDirectory' of log source "
            "{product: windows, category: process_creation} has no defender mapping") in err


def test_sigma_filter_becomes_a_labelled_exclusion(tmp_path, capsys):
    rule = write(tmp_path, "rule.yml", """
        title: whoami
        id: 11111111-2222-4333-8444-555555555555
        logsource: {product: windows, category: process_creation}
        detection:
          sel:
            Image|endswith: '\\whoami.exe'
          condition: sel
    """)
    write(tmp_path, "mf_admins.yml", """
        title: Admin accounts are expected
        logsource: {product: windows, category: process_creation}
        filter:
          rules: [11111111-2222-4333-8444-555555555555]
          selection:
            User|startswith: 'CONTOSO\\adm_'
          condition: not selection
    """)
    assert main(["compile", "-t", "defender", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "// exclusion: Admin accounts are expected" in out
    assert '| where not(strcat(AccountDomain, @"\\", AccountName) startswith @"CONTOSO\\adm_")' in out
    assert main(["compile", "-t", "defender", str(rule)]) == 0
    assert "exclusion" not in capsys.readouterr().out


# ---------------------------------------------------------------- filters as exclusions


FILTERED_RULE = """
    title: whoami
    id: 11111111-0000-4000-8000-000000000001
    author: rulecast tests
    logsource: {product: windows, category: process_creation}
    detection:
      sel:
        Image|endswith: '\\whoami.exe'
      condition: sel
    ---
    title: Help desk tooling, expected
    id: 11111111-0000-4000-8000-000000000002
    logsource: {product: windows, category: process_creation}
    filter:
      rules: [11111111-0000-4000-8000-000000000001]
      selection:
        ParentImage|startswith: 'C:\\Program Files\\Help Desk (x86)\\'
        CommandLine|contains:
          - ' /all or '
          - 'a*b'
      condition: not selection
    ---
    title: Upper-case run
    id: 11111111-0000-4000-8000-000000000003
    logsource: {product: windows, category: process_creation}
    filter:
      rules: [11111111-0000-4000-8000-000000000001]
      selection:
        CommandLine|cased: 'WHOAMI'
      condition: not selection
"""
HELPDESK = "C:\\Program Files\\Help Desk (x86)\\hd.exe"
FILTERED_EVENTS = [
    {"FolderPath": "C:\\Windows\\whoami.exe", "InitiatingProcessFolderPath": HELPDESK,
     "ProcessCommandLine": "whoami /all or more"},                       # both terms of the help desk filter
    {"FolderPath": "C:\\Windows\\whoami.exe", "InitiatingProcessFolderPath": HELPDESK,
     "ProcessCommandLine": "whoami"},                                    # the command line matches neither value
    {"FolderPath": "C:\\Windows\\whoami.exe", "InitiatingProcessFolderPath": "C:\\x.exe",
     "ProcessCommandLine": "WHOAMI"},                                    # the cased filter
    {"FolderPath": "C:\\Windows\\whoami.exe", "InitiatingProcessFolderPath": HELPDESK.lower(),
     "ProcessCommandLine": "AxB"},                                       # case-insensitive, mid-value wildcard
    {"FolderPath": "C:\\Windows\\notepad.exe", "InitiatingProcessFolderPath": "C:\\x.exe",
     "ProcessCommandLine": "whoami"},                                    # not selected
    {"FolderPath": "C:\\Windows\\whoami.exe", "InitiatingProcessFolderPath": "C:\\x.exe",
     "ProcessCommandLine": "whoami /all"},
]
FILTERED_KEPT = ["whoami", "whoami /all"]


def test_import_writes_filter_as_exclusion(tmp_path, capsys):
    source = write(tmp_path, "whoami.yml", FILTERED_RULE)
    out = tmp_path / "out"
    assert main(["import", "sigma", str(source), "-o", str(out)]) == 0
    rule = load_rule(out / "whoami.yaml")
    assert [e.name for e in rule.exclusions] == ["Help desk tooling; expected"]
    assert rule.exclusions[0].filter == ("(InitiatingProcessFolderPath:C\\:\\\\Program Files\\\\Help Desk \\(x86\\)\\\\* "
                                         "and (ProcessCommandLine:* /all \\or * or ProcessCommandLine:*a*b*))")
    text = (out / "whoami.yaml").read_text(encoding="utf-8")
    assert '# The Sigma filter "Upper-case run" stays in the query as a where stage: ' \
           "field 'CommandLine': exclusions match text case-insensitively, and the value is |cased." in text
    assert "// exclusion: Upper-case run" in rule.query
    assert "Help desk" not in rule.query


def test_imported_exclusion_keeps_filter_meaning(tmp_path, capsys):
    from backends.python import generate_module, load_module
    from translator.exclusions import apply_exclusions
    from translator.sigma.rules import SigmaSet, analysis_for, load_text

    source = write(tmp_path, "whoami.yml", FILTERED_RULE)
    out = tmp_path / "out"
    assert main(["import", "sigma", str(source), "-o", str(out)]) == 0
    analysis = analyze(load_rule(out / "whoami.yaml"), "defender")
    analysis.node = apply_exclusions(analysis)
    imported = load_module(generate_module(analysis))
    documents = load_text(source.read_text(encoding="utf-8"), str(source))
    direct = load_module(generate_module(analysis_for(documents[0], "defender", "defender", SigmaSet(documents))))
    tables = {"DeviceProcessEvents": FILTERED_EVENTS}
    assert [r["ProcessCommandLine"] for r in imported.run(tables)] == FILTERED_KEPT
    assert [r["ProcessCommandLine"] for r in direct.run(tables)] == FILTERED_KEPT


@pytest.mark.parametrize("selection, reason", [
    ("CommandLine|re: 'a.b'", "SigmaRegularExpression values have no exclusion syntax"),
    ("CommandLine: 'a?b'", "no single-character wildcard"),
    ("User: 'CONTOSO\\\\ann'", "maps to an expression or a value translation"),
    ("ProcessId: 4", "not a text column"),
    ("CommandLine|endswith: ' /all '", "cannot be written in the exclusion syntax unchanged"),
    ("CommandLine|contains: ' x'", None),
])
def test_filter_kept_in_query_with_reason(selection, reason, tmp_path, capsys):
    text = FILTERED_RULE.split("    ---\n")[0] + textwrap.dedent(f"""\
        ---
        title: Tuning
        logsource: {{product: windows, category: process_creation}}
        filter:
          rules: [11111111-0000-4000-8000-000000000001]
          selection:
            {selection}
          condition: not selection
    """)
    source = write(tmp_path, "whoami.yml", text)
    out = tmp_path / "out"
    assert main(["import", "sigma", str(source), "-o", str(out)]) == 0
    rule = load_rule(out / "whoami.yaml")
    if reason is None:
        assert [e.name for e in rule.exclusions] == ["Tuning"]
        assert "exclusion" not in rule.query
    else:
        assert rule.exclusions == []
        assert "// exclusion: Tuning" in rule.query
        assert reason in (out / "whoami.yaml").read_text(encoding="utf-8")


# ---------------------------------------------------------------- filter polarity on import


POLARITY_RULE = """
    title: whoami run
    id: 22222222-0000-4000-8000-000000000001
    author: rulecast tests
    logsource: {product: windows, category: process_creation}
    detection:
      selection:
        Image|endswith: '\\whoami.exe'
      condition: selection
"""
POLARITY_FILTER = """
    ---
    title: Patch tool
    id: 22222222-0000-4000-8000-000000000002
    logsource: {product: windows, category: process_creation}
    filter:
      rules: [22222222-0000-4000-8000-000000000001]
"""


def rule_with_filter(detections: str, condition: str) -> str:
    """Return POLARITY_RULE followed by a filter that names it, with `detections` and `condition`."""
    body = textwrap.dedent(detections).strip("\n") + "\ncondition: " + condition
    return textwrap.dedent(POLARITY_RULE) + textwrap.dedent(POLARITY_FILTER) + textwrap.indent(body, "  ") + "\n"


WHOAMI = "C:\\Windows\\System32\\whoami.exe"
PATCH_TOOL = "C:\\Tools\\PatchTool.exe"
POLARITY_EVENTS = [
    {"FolderPath": WHOAMI, "InitiatingProcessFolderPath": PATCH_TOOL, "ProcessCommandLine": "whoami /groups"},
    {"FolderPath": WHOAMI, "InitiatingProcessFolderPath": "C:\\Windows\\explorer.exe", "ProcessCommandLine": "whoami /all"},
    {"FolderPath": WHOAMI, "InitiatingProcessFolderPath": "C:\\Tools\\other.exe", "ProcessCommandLine": "whoami"},
    {"FolderPath": WHOAMI, "ProcessCommandLine": "whoami /priv"},                          # no parent image
    {"FolderPath": "C:\\Windows\\notepad.exe", "InitiatingProcessFolderPath": PATCH_TOOL,
     "ProcessCommandLine": "notepad"},                                                      # not selected
]
PATCH_SELECTION = """
    selection:
      ParentImage|endswith: '\\patchtool.exe'
"""
TWO_SELECTIONS = """
    filter_patch:
      ParentImage|endswith: '\\patchtool.exe'
    filter_all:
      CommandLine|endswith: ' /all'
"""
NULL_PARENT = """
    selection:
      ParentImage: null
"""
PATCH_EXCLUSION = "InitiatingProcessFolderPath:*\\\\patchtool.exe"
EITHER_EXCLUSION = f"({PATCH_EXCLUSION} or ProcessCommandLine:* /all)"
# (filter detections, filter condition, the exclusion written, the command lines the rule keeps)
EXCLUSION_CASES = {
    "not selection": (PATCH_SELECTION, "not selection", PATCH_EXCLUSION, ["whoami /all", "whoami", "whoami /priv"]),
    "selection": (PATCH_SELECTION, "selection", f"not {PATCH_EXCLUSION}", ["whoami /groups"]),
    "not 1 of": (TWO_SELECTIONS, "not 1 of filter_*", EITHER_EXCLUSION, ["whoami", "whoami /priv"]),
    "not and not": (TWO_SELECTIONS, "not filter_patch and not filter_all", EITHER_EXCLUSION, ["whoami", "whoami /priv"]),
    "or": (TWO_SELECTIONS, "filter_patch or filter_all", f"not {EITHER_EXCLUSION}", ["whoami /groups", "whoami /all"]),
    "not null": (NULL_PARENT, "not selection", "not InitiatingProcessFolderPath:*", ["whoami /groups", "whoami /all", "whoami"]),
    "null": (NULL_PARENT, "selection", "InitiatingProcessFolderPath:*", ["whoami /priv"]),
}


def defender_rows(analysis, events: list[dict]) -> tuple[list[str], list[str]]:
    """Run an analysis as a Python module and as KQL in duckdb-kql. Return each one's command lines, sorted."""
    from backends.kql import generate
    from backends.python import generate_module, load_module
    from kqlexec import connect, run

    module = load_module(generate_module(analysis))
    python_rows = [r["ProcessCommandLine"] for r in module.run({"DeviceProcessEvents": events})]
    columns = analysis.node.columns
    con = connect({"DeviceProcessEvents": columns}, {"DeviceProcessEvents": events})
    kql_rows = [r["ProcessCommandLine"] for r in run(con, generate(analysis.node), columns)]
    return sorted(python_rows), sorted(kql_rows)


def imported_and_direct_rows(source: Path, out: Path, events: list[dict]):
    """Return the rows of the rule imported from `source` and of `source` compiled directly, as `defender_rows`."""
    from translator.exclusions import apply_exclusions
    from translator.sigma.rules import SigmaSet, analysis_for, load_text

    imported = analyze(load_rule(out / (source.stem + ".yaml")), "defender")
    imported.node = apply_exclusions(imported)
    documents = load_text(source.read_text(encoding="utf-8"), str(source))
    direct = analysis_for(documents[0], "defender", "defender", SigmaSet(documents))
    return defender_rows(imported, events), defender_rows(direct, events)


@pytest.mark.parametrize("case", list(EXCLUSION_CASES))
def test_import_writes_negated_filter_condition(case, tmp_path, capsys):
    detections, condition, exclusion, expected = EXCLUSION_CASES[case]
    source = write(tmp_path, "whoami.yml", rule_with_filter(detections, condition))
    out = tmp_path / "out"
    assert main(["import", "sigma", str(source), "-o", str(out)]) == 0
    rule = load_rule(out / "whoami.yaml")
    assert [e.filter for e in rule.exclusions] == [exclusion]
    assert "exclusion" not in rule.query
    imported, direct = imported_and_direct_rows(source, out, POLARITY_EVENTS)
    assert imported == (sorted(expected), sorted(expected))
    assert direct == (sorted(expected), sorted(expected))


REGEX_SELECTION = """
    selection:
      ParentImage|re|i: 'patchtool\\.exe$'
"""
REGEX_STAGE = 'InitiatingProcessFolderPath matches regex @"(?i)patchtool\\.exe$"'
# (filter condition, the query's last stage, the command lines the rule keeps)
KEPT_IN_QUERY_CASES = {
    "not selection": ("not selection", f"| where not({REGEX_STAGE})", ["whoami /all", "whoami", "whoami /priv"]),
    "selection": ("selection", f"| where {REGEX_STAGE}", ["whoami /groups"]),
}


@pytest.mark.parametrize("case", list(KEPT_IN_QUERY_CASES))
def test_filter_kept_in_query_keeps_polarity(case, tmp_path, capsys):
    condition, stage, expected = KEPT_IN_QUERY_CASES[case]
    source = write(tmp_path, "whoami.yml", rule_with_filter(REGEX_SELECTION, condition))
    out = tmp_path / "out"
    assert main(["import", "sigma", str(source), "-o", str(out)]) == 0
    rule = load_rule(out / "whoami.yaml")
    assert rule.exclusions == []
    assert rule.query.rstrip("\n").endswith("// exclusion: Patch tool\n" + stage)
    assert '# The Sigma filter "Patch tool" stays in the query as a where stage: ' \
           "field 'ParentImage': SigmaRegularExpression values have no exclusion syntax." \
           in (out / "whoami.yaml").read_text(encoding="utf-8")
    imported, direct = imported_and_direct_rows(source, out, POLARITY_EVENTS)
    assert imported == (sorted(expected), sorted(expected))
    assert direct == (sorted(expected), sorted(expected))


def test_run_imported_not_selection_filter(tmp_path, capsys):
    import json

    source = write(tmp_path, "whoami.yml", rule_with_filter(PATCH_SELECTION, "not selection"))
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in POLARITY_EVENTS), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["import", "sigma", str(source), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["run", str(out / "whoami.yaml"), "--table", f"DeviceProcessEvents={events}", "-f", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [r["ProcessCommandLine"] for r in rows] == ["whoami /all", "whoami", "whoami /priv"]
