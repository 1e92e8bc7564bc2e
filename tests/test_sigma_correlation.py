"""Sigma correlation rules: summarize over fixed windows, run in Python and duckdb-kql."""

from __future__ import annotations

import textwrap

import pytest

from backends.kql import generate
from backends.python import generate_module, load_module
from kqlexec import connect, run
from kustocheck import schema_tables
from translator.cli import main
from translator.sigma.mapping import Refusal
from translator.sigma.rules import SigmaSet, analysis_for, load_text, node_for

BASES = """
title: whoami
name: whoami_run
logsource: {product: windows, category: process_creation}
detection:
  sel:
    Image|endswith: '\\\\whoami.exe'
  condition: sel
---
title: net user
name: net_user
logsource: {product: windows, category: process_creation}
detection:
  sel:
    CommandLine|contains: 'net user'
  condition: sel
"""


def correlation(body: str):
    text = BASES + "---\n" + textwrap.dedent(body).lstrip("\n")
    documents = load_text(text, "correlation.yml")
    for document in documents:
        assert document.error is None, document.error
    return documents[-1], SigmaSet(documents)


def whoami(host: str, minute: int, command: str = "whoami") -> dict:
    return {"Image": "C:\\Windows\\System32\\whoami.exe", "CommandLine": command, "Computer": host,
            "User": "CONTOSO\\ann", "TimeCreated": f"2025-01-01T10:{minute:02d}:00Z"}


def net_user(host: str, minute: int, user: str = "CONTOSO\\ann") -> dict:
    return {"Image": "C:\\Windows\\System32\\net.exe", "CommandLine": "net user bob", "Computer": host,
            "User": user, "TimeCreated": f"2025-01-01T10:{minute:02d}:00Z"}


def run_python(document, sigma_set, events):
    module = load_module(generate_module(analysis_for(document, "python", "defender", sigma_set)))
    return list(module.run({"windows_process_creation": events}))


def test_event_count_counts_per_group_and_window():
    document, sigma_set = correlation("""
        title: Discovery burst
        correlation:
          type: event_count
          rules: [whoami_run]
          group-by: [Computer]
          timespan: 10m
          condition: {gte: 3}
    """)
    events = [whoami("a", m) for m in (1, 2, 3)] + [whoami("b", m) for m in (1, 2)] + \
        [whoami("c", m) for m in (8, 9, 11)]  # c's events straddle two 10-minute windows
    rows = run_python(document, sigma_set, events)
    assert [(r["Computer"], r["event_count"]) for r in rows] == [("a", 3)]


def test_value_count_counts_distinct_values():
    document, sigma_set = correlation("""
        title: many users
        correlation:
          type: value_count
          rules: [net_user]
          group-by: [Computer]
          timespan: 1h
          condition: {gt: 1, field: User}
    """)
    events = [net_user("a", 1, "x\\1"), net_user("a", 2, "x\\2"), net_user("b", 1, "x\\1"), net_user("b", 2, "x\\1")]
    rows = run_python(document, sigma_set, events)
    assert [r["Computer"] for r in rows] == ["a"]


def test_temporal_ordered_needs_the_order():
    document, sigma_set = correlation("""
        title: Discovery pair
        correlation:
          type: temporal_ordered
          rules: [whoami_run, net_user]
          group-by: [Computer]
          timespan: 1h
    """)
    events = [whoami("a", 1), net_user("a", 5), net_user("b", 1), whoami("b", 5)]
    rows = run_python(document, sigma_set, events)
    assert [r["Computer"] for r in rows] == ["a"]


def test_temporal_needs_every_rule():
    document, sigma_set = correlation("""
        title: both
        correlation:
          type: temporal
          rules: [whoami_run, net_user]
          group-by: [Computer]
          timespan: 1h
    """)
    events = [whoami("a", 1), net_user("a", 5), whoami("b", 1)]
    assert [r["Computer"] for r in run_python(document, sigma_set, events)] == ["a"]


def test_event_count_in_kql(kusto):
    document, sigma_set = correlation("""
        title: Discovery burst
        correlation:
          type: event_count
          rules: [whoami_run]
          group-by: [Computer]
          timespan: 10m
          condition: {gte: 2}
    """)
    node = node_for(document, "defender", sigma_set)
    query = generate(node)
    assert "bin(Timestamp, 10m)" in query
    analysis = kusto.analyze(query, schema_tables("defender", ["DeviceProcessEvents"]))
    assert not analysis.errors, analysis.report()
    source = node.input.input.input
    events = [{"FolderPath": "C:\\x\\whoami.exe", "DeviceName": host, "Timestamp": f"2025-01-01T10:0{m}:00Z"}
              for host, m in (("a", 1), ("a", 2), ("b", 1))]
    con = connect({"DeviceProcessEvents": source.columns}, {"DeviceProcessEvents": events})
    rows = run(con, query, node.columns)
    assert [(r["Computer"], r["event_count"]) for r in rows] == [("a", 2)]


def test_correlation_without_its_rules_is_refused():
    text = textwrap.dedent("""
        title: lonely
        correlation:
          type: event_count
          rules: [missing_rule]
          timespan: 5m
          condition: {gte: 2}
    """)
    document = load_text(text, "lonely.yml")[0]
    with pytest.raises(Refusal, match="refers to rule 'missing_rule', which is not among the input files"):
        node_for(document, "defender", SigmaSet([document]))


def test_ordered_chain_of_three_is_refused():
    document, sigma_set = correlation("""
        title: chain
        correlation:
          type: temporal_ordered
          rules: [whoami_run, net_user, whoami_run]
          timespan: 1h
    """)
    with pytest.raises(Refusal, match="two rules"):
        node_for(document, "defender", sigma_set)


# ---------------------------------------------------------------- generate


EVENT_COUNT = """
    title: many whoami
    correlation:
      type: event_count
      rules: [whoami_run]
      timespan: 10m
      condition: {gte: 2}
"""


def test_generate_false_keeps_base_rule_out():
    document, sigma_set = correlation(EVENT_COUNT)
    whoami_rule, net_rule = sigma_set.documents[0], sigma_set.documents[1]
    assert document.sigma.generate is False
    assert not sigma_set.emitted_alone(whoami_rule)
    assert sigma_set.emitted_alone(net_rule)  # no correlation refers to it
    assert sigma_set.emitted_alone(document)


def test_generate_true_emits_base_rule():
    document, sigma_set = correlation(EVENT_COUNT + "      generate: true\n")
    assert document.sigma.generate is True
    assert sigma_set.emitted_alone(sigma_set.documents[0])


def test_any_generating_correlation_emits_base_rule():
    second = EVENT_COUNT.replace("many whoami", "many whoami, generated") + "      generate: true\n"
    text = BASES + "---\n" + textwrap.dedent(EVENT_COUNT).lstrip("\n") + "---\n" + textwrap.dedent(second).lstrip("\n")
    sigma_set = SigmaSet(load_text(text, "correlation.yml"))
    assert sigma_set.emitted_alone(sigma_set.documents[0])


def test_compile_skips_rules_of_generate_false(tmp_path, capsys):
    path = tmp_path / "chain.yml"
    path.write_text(BASES + "---\n" + textwrap.dedent(EVENT_COUNT).lstrip("\n"), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["compile", "-t", "defender", str(path), "-o", str(out)]) == 0
    written = sorted(p.name for p in (out / "defender").iterdir())
    # Document 1 (whoami, only in the correlation) is skipped; 2 (net user) and 3 (the correlation) are written.
    assert written == ["chain.2.kql", "chain.3.kql"]


def test_import_skips_rules_of_generate_false(tmp_path, capsys):
    path = tmp_path / "chain.yml"
    path.write_text(BASES + "---\n" + textwrap.dedent(EVENT_COUNT).lstrip("\n"), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["import", "sigma", str(path), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["chain.2.yaml", "chain.3.yaml"]
