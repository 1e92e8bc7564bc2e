"""Exclusions: the filter language, its typing, and the rows each target removes.

Semantic cases compile a small rule with one exclusion and run the emitted
text on every target. The Python module runs directly. The KQL, in its
Sentinel and Defender spellings, must pass Microsoft's Kusto.Language with no
error, and runs on duckdb-kql. The SPL runs on the reference interpreter. Each
case lists, by hand, the events the exclusion must remove; every other event
must survive on every target.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).with_name("spl")))

import kqlexec  # noqa: E402
from backends.kql import generate as generate_kql  # noqa: E402
from backends.python import generate_for_node, load_module  # noqa: E402
from backends.splunk_mapping import load_mapping  # noqa: E402
from backends.splunk_spl import SplError, SplGenerator  # noqa: E402
from interpreter import run_spl  # noqa: E402  (tests/spl)
from kustocheck import schema_tables  # noqa: E402
from translator import ir  # noqa: E402
from translator.cli import main  # noqa: E402
from translator.compiler import analyze  # noqa: E402
from translator.diagnostics import QueryError, RulecastError  # noqa: E402
from translator.exclusions import (  # noqa: E402
    STAR, FieldMatch, FieldRange, Logic, Placeholder, Value, apply_exclusions, parse_filter, regex_escape,
)
from translator.rule import load_rule, load_rule_text  # noqa: E402
from translator.schema import load_catalog  # noqa: E402
from translator.types import Type  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "rules" / "email" / "high_confidence_phish_released.yaml"
SEED_NAME = "Scheduled quarantine release by security team"

PROBE_QUERY = """\
EmailEvents
| extend Conf = todynamic(ConfidenceLevel)
| project NetworkMessageId, Subject, BulkComplaintLevel, EmailClusterId, EmailTime = Timestamp, Conf
"""


def probe_rule(filter_text: str, extra: str = "") -> str:
    query = textwrap.indent(PROBE_QUERY, "  ")
    quoted = filter_text.replace("'", "''")
    return (
        "id: 00000000-0000-4000-8000-00000000e0e0\n"
        "name: Exclusion probe\n"
        "description: One exclusion over EmailEvents.\n"
        f"query: |\n{query}"
        "fields:\n  subject: Subject\n  bcl: BulkComplaintLevel\n"
        "exclusions:\n"
        "  - name: probe\n"
        "    description: The exclusion under test.\n"
        f"    filter: '{quoted}'\n" + extra
    )


# ---------------------------------------------------------------- running every target


def _ids(rows) -> set[str]:
    return {row["NetworkMessageId"] for row in rows}


def surviving(rule, events: dict, kusto, selection="all") -> dict[str, set[str]]:
    """Run the rule with `selection` on every target; return target -> surviving NetworkMessageIds."""
    tables = sorted({source.table for source in ir.sources(analyze(rule, "defender").node)})
    results: dict[str, set[str]] = {}
    for platform in ("defender", "sentinel"):
        analysis = analyze(rule, platform)
        node = apply_exclusions(analysis, selection)
        text = generate_kql(node)
        checked = kusto.analyze(text, schema_tables(platform, tables))
        assert not checked.errors, checked.report() + "\n" + text
        if platform == "defender":
            catalog = load_catalog("defender")
            con = kqlexec.connect({t: catalog.tables[t] for t in tables}, events)
            results["kql"] = _ids(kqlexec.run(con, text, node.columns))
            results["python"] = _ids(load_module(generate_for_node(node)).run(events))
            try:
                spl = SplGenerator(load_mapping()).generate(node)
            except SplError as exc:
                results["splunk"] = exc
            else:
                results["splunk"] = _ids(run_spl(spl, events))
    return results


def assert_removed(filter_text: str, events: list[dict], removed: set[str], kusto):
    rule = load_rule_text(probe_rule(filter_text), "<probe>")
    every = {e["NetworkMessageId"] for e in events}
    results = surviving(rule, {"EmailEvents": events}, kusto)
    assert not isinstance(results["splunk"], SplError), results["splunk"]
    for target, kept in results.items():
        assert kept == every - removed, f"{target}: removed {sorted(every - kept)}, expected {sorted(removed)}"


def ev(mid: str, **columns) -> dict:
    return {"NetworkMessageId": mid, "Timestamp": "2024-05-14T09:00:00Z", **columns}


# ---------------------------------------------------------------- parsing


def test_precedence_not_and_or():
    term = parse_filter("not a:1 AND b:2 or c:3")
    assert isinstance(term, Logic) and term.op == "or"
    left, right = term.operands
    assert isinstance(left, Logic) and left.op == "and"
    assert isinstance(left.operands[0], Logic) and left.operands[0].op == "not"
    assert isinstance(right, FieldMatch) and right.field == "c"


def test_keywords_in_any_case_and_parentheses_regroup():
    term = parse_filter("a:1 aNd (b:2 Or c:3)")
    assert term.op == "and"
    assert term.operands[1].op == "or"


def test_unquoted_value_inner_spaces():
    term = parse_filter("tool:  *Microsoft Defender for Office 365*   AND action:*recover email*")
    first, second = term.operands
    assert first.value.segments == (STAR, "Microsoft Defender for Office 365", STAR)
    assert second.value.segments == (STAR, "recover email", STAR)


def test_keyword_inside_a_word_is_text():
    assert parse_filter("a:android notes").value.segments == ("android notes",)
    assert parse_filter("a:x ornot").value.segments == ("x ornot",)


def test_escapes_in_unquoted_values():
    term = parse_filter(r"a:\*x\:y\(z\)\\ \and b\u00e9\t")
    assert term.value.segments == ("*x:y(z)\\ and b\u00e9\t",)


def test_quoted_value_takes_star_literally():
    term = parse_filter(r'a:"x * \"y\" \\"')
    assert term.value.segments == ('x * "y" \\',)
    assert term.value.quoted


def test_value_list_with_not():
    term = parse_filter("a:(x or y and not z)")
    assert isinstance(term, FieldMatch)
    assert term.value.op == "or"
    assert term.value.operands[1].op == "and"
    assert term.value.operands[1].operands[1].op == "not"


def test_exists_and_ranges():
    assert parse_filter("a:*").value.segments == (STAR,)
    term = parse_filter("ReleaseTime < 2024-01-01T00:00:00Z")
    assert isinstance(term, FieldRange)
    assert term.op == "<"
    assert term.value == "2024-01-01T00:00:00Z"
    assert parse_filter("n>=10").op == ">="


def test_placeholder_is_a_segment():
    value = parse_filter("a:*${team_account}*").value
    assert value.segments[0] is STAR
    assert value.segments[2] is STAR
    assert isinstance(value.segments[1], Placeholder) and value.segments[1].name == "team_account"
    assert parse_filter('a:"${x}"').value.segments == ("${x}",)


def test_syntax_error_positions_point_into_the_filter():
    with pytest.raises(QueryError) as info:
        parse_filter("a:b and")
    assert info.value.span.start == 6


def test_regex_escape_covers_every_metacharacter():
    assert regex_escape(r"a.b+c*d?e(f)g|h[i]j{k}l^m$n\o") == r"a\.b\+c\*d\?e\(f\)g\|h\[i\]j\{k\}l\^m\$n\\o"


# ---------------------------------------------------------------- typing and lowering


def typed(filter_text: str) -> ir.Expr:
    rule = load_rule_text(probe_rule(filter_text), "<probe>")
    node = apply_exclusions(analyze(rule, "defender"), "all")
    assert isinstance(node, ir.Filter) and node.label == "probe"
    assert isinstance(node.predicate, ir.Not)
    return node.predicate.operand


@pytest.mark.parametrize("value, kind, needle", [
    ("*Invoice*", "contains", "Invoice"),
    ("Invoice*", "startswith", "Invoice"),
    ("*Invoice", "endswith", "Invoice"),
    ("Invoice", "equals", "Invoice"),
    ("**Invoice***", "contains", "Invoice"),
    ('"*Invoice*"', "equals", "*Invoice*"),
])
def test_wildcard_positions_lower_to_case_insensitive_matches(value, kind, needle):
    expr = typed(f"subject:{value}")
    assert expr == ir.StringMatch(kind, ir.ColumnRef("Subject", Type.STRING), ir.Literal(needle, Type.STRING), False)


def test_wildcard_in_the_middle_is_an_anchored_regex():
    expr = typed("Subject:in*v.ice*x")
    assert expr.kind == "regex"
    assert expr.right.value == r"(?is)^in.*v\.ice.*x$"
    assert typed("Subject:*a*b").right.value == "(?is)a.*b$"


def test_numbers_and_ranges_are_guarded_against_null():
    bcl = ir.ColumnRef("BulkComplaintLevel", Type.INT)
    guard = ir.Call("isnotnull", (bcl,), Type.BOOL)
    assert typed("bcl:5") == ir.Logical("and", (guard, ir.Compare("==", bcl, ir.Literal(5, Type.LONG))))
    assert typed("bcl >= 7") == ir.Logical("and", (guard, ir.Compare(">=", bcl, ir.Literal(7, Type.LONG))))
    assert typed("bcl < 2.5").operands[1].right == ir.Literal(2.5, Type.REAL)


def test_exists_on_string_dynamic_and_number():
    assert typed("Subject:*") == ir.Call("isnotempty", (ir.ColumnRef("Subject", Type.STRING),), Type.BOOL)
    assert typed("Conf:*") == ir.Call("isnotempty", (ir.ColumnRef("Conf", Type.DYNAMIC),), Type.BOOL)
    bcl = ir.ColumnRef("BulkComplaintLevel", Type.INT)
    assert typed("bcl:*") == ir.Call("isnotnull", (bcl,), Type.BOOL)


def test_dynamic_column_matches_its_text():
    expr = typed("Conf:*high*")
    assert expr.left == ir.Call("tostring", (ir.ColumnRef("Conf", Type.DYNAMIC),), Type.STRING)


def test_datetime_value_is_typed():
    expr = typed("EmailTime < 2024-05-14T09:30:00Z")
    assert expr.operands[1].right.type is Type.DATETIME


def test_one_labelled_filter_each():
    extra = ("  - name: second\n    description: Another.\n    filter: 'bcl:1'\n"
             "  - name: turned off\n    description: Disabled.\n    filter: 'nosuchfield:1'\n    enabled: false\n"
             "    reason: The output has no such column.\n")
    rule = load_rule_text(probe_rule("subject:x", extra), "<probe>")
    analysis = analyze(rule, "defender")
    node = apply_exclusions(analysis, "all")
    assert node.label == "second"
    assert node.input.label == "probe"
    assert node.input.input == analysis.node
    assert node.columns == analysis.node.columns
    assert apply_exclusions(analysis, "none") == analysis.node
    assert apply_exclusions(analysis, "second").label == "second"
    assert apply_exclusions(analysis, "second").input == analysis.node


# ---------------------------------------------------------------- semantics on every target

STRING_EVENTS = [
    ev("exact", Subject="INVOICE"),
    ev("inside", Subject="Your invoice is ready"),
    ev("prefix", Subject="Invoice 42"),
    ev("suffix", Subject="Re: invoice"),
    ev("other", Subject="Receipt"),
    ev("empty"),
    ev("star", Subject="in*ce"),
    ev("newline", Subject="in\nvoice"),
    ev("dots", Subject="a.b"),
    ev("nodots", Subject="axb"),
]


@pytest.mark.parametrize("filter_text, removed", [
    ("subject:invoice", {"exact"}),
    ("subject:*invoice*", {"exact", "inside", "prefix", "suffix"}),
    ("subject:invoice*", {"exact", "prefix"}),
    ("subject:*invoice", {"exact", "suffix"}),
    # The wildcard matches any text, line breaks included, and the ends stay anchored.
    ("subject:in*ce", {"exact", "star", "newline"}),
    ("subject:in*oice", {"exact", "newline"}),
    ('subject:"in*ce"', {"star"}),
    (r"subject:in\*ce", {"star"}),
    ("subject:a.b", {"dots"}),
    ("subject:a.*", {"dots"}),
    ("subject:*", {"exact", "inside", "prefix", "suffix", "other", "star", "newline", "dots", "nodots"}),
    ("not subject:*", {"empty"}),
    ("subject:(receipt or invoice)", {"exact", "other"}),
    ("subject:(*invoice* and not invoice*)", {"inside", "suffix"}),
    ("not subject:*e*", {"empty", "nodots", "dots"}),
])
def test_string_terms_remove_exactly_the_matching_rows(filter_text, removed, kusto):
    assert_removed(filter_text, STRING_EVENTS, removed, kusto)


NUMBER_EVENTS = [
    ev("low", BulkComplaintLevel=1, Subject="a"),
    ev("five", BulkComplaintLevel=5, Subject="b"),
    ev("high", BulkComplaintLevel=9, Subject="c"),
    ev("null", Subject="d"),
]


@pytest.mark.parametrize("filter_text, removed", [
    # A row whose column is null never matches a value or a range, so no exclusion removes it...
    ("bcl:5", {"five"}),
    ("bcl >= 5", {"five", "high"}),
    ("bcl < 5", {"low"}),
    ("bcl > 1 and bcl <= 5", {"five"}),
    # ...except through `not`, which matches a row without the value, as in Kibana.
    ("not bcl:5", {"low", "high", "null"}),
    ("not bcl >= 5", {"low", "null"}),
    ("bcl:*", {"low", "five", "high"}),
    ("not bcl:*", {"null"}),
    ("bcl:(1 or 9)", {"low", "high"}),
    ("bcl >= 5 or subject:a", {"low", "five", "high"}),
])
def test_number_terms_and_nulls(filter_text, removed, kusto):
    assert_removed(filter_text, NUMBER_EVENTS, removed, kusto)


def test_parenthesis_in_a_value_keeps_the_filter_grouped(kusto):
    # The Python module tests `not (A and B)`. A "(" inside A's string literal once hid that the
    # first pair of parentheses closes before the end, so the module tested `not (A) and (B)`.
    events = [ev("kept", Subject="a(b c", BulkComplaintLevel=1), ev("no level", Subject="a(b"),
              ev("other subject", Subject="x", BulkComplaintLevel=1), ev("neither")]
    assert_removed(r"not (subject:a\(b* and bcl:*)", events, {"no level", "other subject", "neither"}, kusto)
    assert_removed(r"subject:*\)* or bcl:1", events, {"kept", "other subject"}, kusto)


def test_datetime_range(kusto):
    events = [ev("early", Timestamp="2024-05-14T09:00:00Z"), ev("late", Timestamp="2024-05-14T10:00:00Z")]
    assert_removed("EmailTime < 2024-05-14T09:30:00Z", events, {"early"}, kusto)


def test_dynamic_column_text(kusto):
    events = [ev("high", ConfidenceLevel='{"Phish":"High"}'), ev("normal", ConfidenceLevel='{"Phish":"Normal"}'),
              ev("none")]
    assert_removed("Conf:*high*", events, {"high"}, kusto)


# ---------------------------------------------------------------- the seed rule


def seed_with_account(tmp_path: Path, account: str | None) -> Path:
    text = SEED.read_text(encoding="utf-8")
    assert text.count("        value: null\n") == 1
    if account is not None:
        text = text.replace("        value: null\n", f"        value: {account}\n")
    path = tmp_path / SEED.name
    path.write_text(text, encoding="utf-8")
    tests = tmp_path / "tests"
    tests.mkdir(exist_ok=True)
    for source in (SEED.parent / "tests").rglob("*"):
        if source.is_file():
            target = tests / source.relative_to(SEED.parent / "tests")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return path


def release(mid: str, user: str) -> dict:
    return {"Timestamp": "2024-05-14T10:00:00Z", "ActionType": "QuarantineReleaseMessage",
            "RawEventData": {"NetworkMessageId": mid, "UserId": user}}


def message(mid: str, subject: str) -> dict:
    return {"Timestamp": "2024-05-14T09:00:00Z", "NetworkMessageId": mid, "Subject": subject,
            "ConfidenceLevel": '{"Phish":"High"}'}


SEED_EVENTS = {
    "CloudAppEvents": [
        release("subject-exact", "alice@contoso.com"),
        release("subject-case", "alice@contoso.com"),
        release("subject-inside", "alice@contoso.com"),
        release("by-team", "secops@contoso.com"),
        release("by-team-case", "SecOps@Contoso.COM"),
        # Near misses: kept.
        release("subject-partial", "alice@contoso.com"),
        release("subject-split", "alice@contoso.com"),
        release("by-lookalike", "not-secops@contoso.com"),
        release("by-longer", "secops@contoso.com.example"),
        release("plain", "bob@contoso.com"),
    ],
    "EmailEvents": [
        message("subject-exact", "Scheduled Quarantine Release"),
        message("subject-case", "scheduled quarantine RELEASE"),
        message("subject-inside", "FW: Scheduled Quarantine Release 2024-05"),
        message("by-team", "Invoice"),
        message("by-team-case", "Invoice"),
        message("subject-partial", "Scheduled Quarantine"),
        message("subject-split", "Scheduled  Quarantine Release"),
        message("by-lookalike", "Invoice"),
        message("by-longer", "Invoice"),
        message("plain", "Invoice"),
    ],
}
SUBJECT_HITS = {"subject-exact", "subject-case", "subject-inside"}
ACCOUNT_HITS = {"by-team", "by-team-case"}
EVERY_SEED_ID = {e["RawEventData"]["NetworkMessageId"] for e in SEED_EVENTS["CloudAppEvents"]}


def check_seed(rule, selection, removed, kusto):
    results = surviving(rule, SEED_EVENTS, kusto, selection)
    for target, kept in results.items():
        assert kept == EVERY_SEED_ID - removed, f"{target}: removed {sorted(EVERY_SEED_ID - kept)}"


def test_seed_exclusion_with_the_account_set(tmp_path, kusto):
    rule = load_rule(seed_with_account(tmp_path, "secops@contoso.com"))
    check_seed(rule, "all", SUBJECT_HITS | ACCOUNT_HITS, kusto)
    check_seed(rule, SEED_NAME, SUBJECT_HITS | ACCOUNT_HITS, kusto)
    check_seed(rule, "none", set(), kusto)


def test_seed_exclusion_account_unset(kusto):
    rule = load_rule(SEED)
    check_seed(rule, "all", SUBJECT_HITS, kusto)


def test_seed_tests_still_pass_with_exclusions(tmp_path):
    # The rule's own test events contain no excluded row.
    assert main(["test", str(seed_with_account(tmp_path, "secops@contoso.com"))]) == 0


def test_seed_disabled_scenarios_have_reasons():
    rule = load_rule(SEED)
    enabled = [e.name for e in rule.exclusions if e.enabled]
    assert enabled == [SEED_NAME]
    assert len(rule.exclusions) == 5
    assert all(e.reason for e in rule.exclusions if not e.enabled)


# ---------------------------------------------------------------- the CLI


def run_cli(capsys, *args) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_check_lists_exclusions(capsys):
    status, out, err = run_cli(capsys, "check", str(SEED))
    assert status == 0
    assert f"  exclusion '{SEED_NAME}' (enabled)" in out
    assert "    fields: email_subject = Subject:string, released_by = ReleasedBy:string" in out
    assert ('    removes rows where: Subject contains "Scheduled Quarantine Release" or '
            'ReleasedBy =~ "${security_team_account}"') in out
    assert ('    while security_team_account is unset, removes rows where: '
            'Subject contains "Scheduled Quarantine Release"') in out
    assert "  exclusion 'Legitimate email recovery via admin task' (disabled)" in out
    assert "    cannot apply: field 'tool' is neither an output column nor an alias in 'fields'" in out
    warning = [line for line in err.splitlines() if "warning:" in line]
    assert len(warning) == 1
    assert warning[0].endswith(f"warning: exclusion '{SEED_NAME}': placeholder security_team_account unset; "
                               "only the terms that do not use it apply")
    line, column = warning[0].split(":")[1:3]
    source = SEED.read_text(encoding="utf-8").splitlines()[int(line) - 1]
    assert source[int(column) - 1:].startswith("${security_team_account}")


def test_check_is_quiet_once_the_placeholder_is_set(tmp_path, capsys):
    status, out, err = run_cli(capsys, "check", str(seed_with_account(tmp_path, "secops@contoso.com")))
    assert status == 0 and "warning" not in err
    assert 'ReleasedBy =~ "secops@contoso.com"' in out
    assert "unset" not in out


@pytest.mark.parametrize("target, comment, where", [
    ("defender", "// exclusion: " + SEED_NAME, '| where not(Subject contains "Scheduled Quarantine Release")'),
    ("splunk", "```exclusion: " + SEED_NAME + "```",
     '| where NOT match(Subject, "(?i)Scheduled Quarantine Release")'),
    ("python", "        # exclusion: " + SEED_NAME,
     "        # where not(Subject contains \"Scheduled Quarantine Release\")"),
])
def test_compile_labels_each_exclusion(capsys, target, comment, where):
    status, out, _ = run_cli(capsys, "compile", str(SEED), "-t", target)
    assert status == 0
    lines = out.splitlines()
    assert comment in lines
    assert lines[lines.index(comment) + 1] == where


def test_compile_without_exclusions(capsys):
    status, out, _ = run_cli(capsys, "compile", str(SEED), "-t", "defender", "--exclusions", "none")
    assert status == 0 and "exclusion" not in out and "not(" not in out


def test_compile_unknown_exclusion_is_a_usage_error_listing_the_names(capsys):
    status, out, err = run_cli(capsys, "compile", str(SEED), "-t", "defender", "--exclusions", "Scheduled release")
    assert status == 2 and out == ""
    assert err.startswith("rulecast: error: --exclusions: no exclusion named 'Scheduled release'; exclusions: ")
    assert f"'{SEED_NAME}'" in err and "'Legitimate email recovery via admin task'" in err


def test_compile_disabled_exclusion_is_a_usage_error(capsys):
    status, _, err = run_cli(capsys, "compile", str(SEED), "-t", "defender",
                             "--exclusions", "Legitimate email recovery via admin task")
    assert status == 2
    assert "exclusion 'Legitimate email recovery via admin task' in " in err and "is disabled: Every row is" in err


def test_compile_several_rules_needs_the_name_in_one_of_them(capsys):
    status, out, _ = run_cli(capsys, "compile", str(ROOT / "rules"), "-t", "defender", "--exclusions", SEED_NAME)
    assert status == 0 and out.count("// exclusion: ") == 1
    status, _, err = run_cli(capsys, "compile", str(ROOT / "rules"), "-t", "defender", "--exclusions", "nothing")
    assert status == 2 and "no exclusion named 'nothing'" in err


def test_compile_reports_an_invalid_enabled_exclusion_with_its_position(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(probe_rule("subject:x or size >= 10"), encoding="utf-8")
    status, out, err = run_cli(capsys, "compile", str(path), "-t", "python")
    assert status == 1 and out == ""
    first = err.splitlines()[0]
    assert first.startswith(f"{path}:14:27: error: python: exclusion 'probe': field 'size' is neither")
    assert "Traceback" not in err


def test_unset_placeholder_alone_excludes_nothing(tmp_path):
    extra = ("    placeholders:\n      who:\n        description: An account.\n        value:\n")
    rule = load_rule_text(probe_rule("subject:${who}", extra), "<probe>")
    analysis = analyze(rule, "defender")
    assert apply_exclusions(analysis, "all") == analysis.node
    assert "excludes nothing until it is set" in analysis.warnings[-1].message
    # Under `not`, the unknown term reads as true, so the exclusion still removes nothing it could not.
    rule = load_rule_text(probe_rule("bcl:1 and not subject:${who}", extra), "<probe>")
    analysis = analyze(rule, "defender")
    assert apply_exclusions(analysis, "all") == analysis.node
    rule = load_rule_text(probe_rule("bcl:1 or not subject:${who}", extra), "<probe>")
    analysis = analyze(rule, "defender")
    node = apply_exclusions(analysis, "all")
    assert node.predicate == ir.Not(typed("bcl:1"))


def test_disabled_exclusion_with_a_syntax_error_is_invalid(capsys, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(probe_rule("subject:(x", "    enabled: false\n    reason: Not yet.\n"), encoding="utf-8")
    status, _, err = run_cli(capsys, "check", str(path))
    assert status == 1
    assert "error: exclusion 'probe': the filter ends early; expected" in err


def test_enabled_exclusion_with_a_reason_warns(capsys, tmp_path):
    path = tmp_path / "rule.yaml"
    path.write_text(probe_rule("subject:x", "    reason: Left over.\n"), encoding="utf-8")
    status, _, err = run_cli(capsys, "check", str(path))
    assert status == 0 and "warning: exclusion 'probe' is enabled but has a 'reason'" in err


def test_exclusion_name_with_a_comma_is_rejected():
    text = probe_rule("subject:x").replace("  - name: probe\n", "  - name: probe, two\n")
    with pytest.raises(RulecastError) as info:
        load_rule_text(text, "<probe>")
    assert "exclusion name 'probe, two' contains a comma" in str(info.value)


# ---------------------------------------------------------------- column spellings and placeholders in every term

TIME_RULE = """\
id: 00000000-0000-4000-8000-00000000e0e2
name: Time exclusion probe
description: Exclusions on the time column, which Sentinel spells TimeGenerated.
query: |
  EmailEvents
  | project NetworkMessageId, Timestamp
fields:
  sent: Timestamp
exclusions:
  - name: old mail
    description: Mail before 2024, or at one instant.
    filter: 'Timestamp < 2024-01-01T00:00:00Z or sent:"2024-05-14T09:00:00Z"'
"""


def test_time_column_exclusion_in_each_platforms_spelling(kusto):
    rule = load_rule_text(TIME_RULE, "<probe>")
    events = [ev("old", Timestamp="2023-12-31T23:59:59Z"), ev("instant"), ev("new", Timestamp="2024-05-15T00:00:00Z")]
    for platform, column in (("defender", "Timestamp"), ("sentinel", "TimeGenerated")):
        node = apply_exclusions(analyze(rule, platform), "all")
        assert node.label == "old mail"
        read = {e.name for e in ir.walk_exprs(node.predicate) if isinstance(e, ir.ColumnRef)}
        assert read == {column}
        text = generate_kql(node)
        checked = kusto.analyze(text, schema_tables(platform, ["EmailEvents"]))
        assert not checked.errors, checked.report() + "\n" + text
        table = {"EmailEvents": load_catalog(platform).tables["EmailEvents"]}
        shaped = [{column if k == "Timestamp" else k: v for k, v in e.items()} for e in events]
        con = kqlexec.connect(table, {"EmailEvents": shaped})
        assert _ids(kqlexec.run(con, text, node.columns)) == {"new"}


def test_unset_placeholder_beside_an_exists_term():
    # `bcl:*` lowers to isnotnull(...), so `bcl:* and subject:${who}` starts like a null guard; it
    # must still fold as a filter's `and` while `who` is unset.
    extra = "    placeholders:\n      who:\n        description: An account.\n        value:\n"
    rule = load_rule_text(probe_rule("bcl:* and subject:${who}", extra), "<probe>")
    analysis = analyze(rule, "defender")
    assert apply_exclusions(analysis, "all") == analysis.node
    rule = load_rule_text(probe_rule("subject:x or bcl:* and subject:${who}", extra), "<probe>")
    node = apply_exclusions(analyze(rule, "defender"), "all")
    assert node.predicate == ir.Not(typed("subject:x"))
    # Under `not` the unknown term reads as true: the filter matches the rows without a level.
    rule = load_rule_text(probe_rule("not (bcl:* and subject:${who})", extra), "<probe>")
    node = apply_exclusions(analyze(rule, "defender"), "all")
    assert node.predicate == ir.Not(ir.Not(typed("bcl:*")))


def test_unset_placeholder_on_a_number_column(tmp_path, capsys):
    extra = "    placeholders:\n      level:\n        description: A complaint level.\n        value:\n"
    rule = load_rule_text(probe_rule("bcl:${level} or subject:x", extra), "<probe>")
    analysis = analyze(rule, "defender")
    assert apply_exclusions(analysis, "all").predicate == ir.Not(typed("subject:x"))
    assert "only the terms that do not use it apply" in analysis.warnings[-1].message
    path = tmp_path / "rule.yaml"
    path.write_text(probe_rule("bcl:${level} or subject:x", extra), encoding="utf-8")
    status, out, _ = run_cli(capsys, "check", str(path))
    assert status == 0
    assert ('removes rows where: (isnotnull(BulkComplaintLevel) and BulkComplaintLevel == "${level}") '
            'or Subject =~ "x"') in out
    # Once set, the value is typed as the column's, and checked like any other.
    rule = load_rule_text(probe_rule("bcl:${level}", extra.replace("value:\n", "value: '5'\n")), "<probe>")
    assert apply_exclusions(analyze(rule, "defender"), "all").predicate == ir.Not(typed("bcl:5"))
    rule = load_rule_text(probe_rule("bcl:${level}", extra.replace("value:\n", "value: five\n")), "<probe>")
    with pytest.raises(RulecastError, match="'five' is not a whole number"):
        apply_exclusions(analyze(rule, "defender"), "all")
