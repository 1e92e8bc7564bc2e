"""`rulecast check` and `rulecast debug ir` run as processes: exit statuses, output, no tracebacks."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = "rules/email/high_confidence_phish_released.yaml"
FIXTURES = Path(__file__).parent / "rules"

BAD_RULE = """\
id: 9e8faa62-7222-48a5-a78f-ef2d22f866dc
name: Bad column
description: Refers to a column that does not exist.
query: |
  EmailEvents
  | where Subjet has "invoice"
"""


def rulecast(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run the installed command as a user would (through `python -m translator` when not on PATH)."""
    command = [shutil.which("rulecast")] if shutil.which("rulecast") else [sys.executable, "-m", "translator"]
    env = {k: v for k, v in os.environ.items() if k != "RULECAST_DEBUG"}
    return subprocess.run(command + list(args), cwd=cwd, capture_output=True, text=True, env=env, timeout=60)


def test_check_bundled_rules_exits_0():
    result = rulecast("check", "rules/")
    assert result.returncode == 0, result.stderr
    assert f"{SEED}: ok (44 output columns)" in result.stdout
    assert result.stdout.rstrip().endswith("checked, 0 invalid")


def test_check_fixture_folder_warns_about_bare_join():
    result = rulecast("check", str(FIXTURES))
    assert result.returncode == 0, result.stderr
    assert "warning: join without kind= uses innerunique, which keeps one arbitrary left row per key" in result.stderr
    warning = next(line for line in result.stderr.splitlines() if "warning:" in line)
    assert warning.startswith(f"{FIXTURES / 'bare_join.yaml'}:9:5: warning: ")
    assert "4 rules checked, 0 invalid" in result.stdout


def test_check_invalid_rule_exits_1_with_position(tmp_path):
    (tmp_path / "bad.yaml").write_text(BAD_RULE, encoding="utf-8")
    result = rulecast("check", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[:4] == [
        "bad.yaml:6:11: error: unknown column 'Subjet'",
        '    | where Subjet has "invoice"',
        "            ^~~~~~",
        "  hint: did you mean 'Subject'?",
    ]
    assert "1 rule checked, 1 invalid" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_mixed_folder_reports_every_bad_rule(tmp_path):
    shutil.copy(ROOT / SEED, tmp_path / "a_good.yaml")
    (tmp_path / "b_bad.yaml").write_text(BAD_RULE, encoding="utf-8")
    (tmp_path / "c_broken.yaml").write_text("id: [\n", encoding="utf-8")
    (tmp_path / "d_binary.yml").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "notes.txt").write_text("not a rule", encoding="utf-8")
    result = rulecast("check", str(tmp_path))
    assert result.returncode == 1
    assert "a_good.yaml: ok (44 output columns)" in result.stdout
    assert "4 rules checked, 3 invalid" in result.stderr
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert [Path(line.split(":")[0]).name for line in errors] == ["b_bad.yaml", "c_broken.yaml", "d_binary.yml"]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["check"], "the following arguments are required: RULE_OR_DIR"),
        (["check", "--no-such-flag", "rules/"], "unrecognized arguments: --no-such-flag"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["debug"], "the following arguments are required: STAGE"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_exit_2(args, message):
    result = rulecast(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_check_empty_folder_exits_2(tmp_path):
    result = rulecast("check", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == "rulecast: error: no rule files found (looked for *.yaml and *.yml)"


SIGMA_FIXTURE = Path(__file__).parent / "sigma_fixtures" / "proc_creation_win_wmic_uninstall_security_products.yml"


@pytest.mark.parametrize(
    "command, existing, processed",
    [
        (["check"], ROOT / SEED, f"{ROOT / SEED}: ok (44 output columns)"),
        (["compile", "--target", "python"], ROOT / SEED, '"""High Confidence Phish Released (compiled by rulecast'),
        (["test"], ROOT / SEED, "  PASS  release of a high-confidence phish"),
        (["import", "sigma"], SIGMA_FIXTURE, 'name: "Potential Tampering With Security Products Via WMIC"'),
    ],
    ids=["check", "compile", "test", "import"],
)
def test_missing_path_is_a_usage_error(command, existing, processed, tmp_path):
    result = rulecast(*command, "absent.yaml", str(existing), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "rulecast: error: absent.yaml: file or folder not found"
    assert "Traceback" not in result.stderr
    assert "does not compile" not in result.stdout
    assert processed in result.stdout


@pytest.mark.parametrize("command", [["check"], ["compile", "--target", "python"], ["test"]])
def test_missing_path_alone_prints_one_line(command, tmp_path):
    result = rulecast(*command, "absent.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "rulecast: error: absent.yaml: file or folder not found\n"


@pytest.mark.parametrize("command", [["run"], ["debug", "ir"], ["debug", "ast"]])
def test_missing_rule_file_is_a_usage_error(command, tmp_path):
    result = rulecast(*command, "absent.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "rulecast: error: absent.yaml: file not found\n"
    assert result.stdout == ""


def test_quiet_prints_only_problems():
    result = rulecast("check", "-q", "rules/")
    assert result.returncode == 0
    assert "ok (" not in result.stdout
    # The seed's security-team exclusion has a placeholder the user must set;
    # that warning is the only thing the shipped rules print.
    warnings = [line for line in result.stderr.splitlines() if ": warning: " in line]
    assert len(warnings) == 1
    assert "placeholder security_team_account unset" in warnings[0]
    assert ": error: " not in result.stderr


def test_debug_ir_on_the_seed():
    result = rulecast("debug", "ir", SEED)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = lines.index("output columns (44):")
    table = [line.split() for line in lines[header + 1 :] if line.strip()]
    assert len(table) == 44
    assert [f"{name}:{type_}" for _, name, type_ in table[:8]] == [
        "ReleaseTime:datetime", "ResultStatus:dynamic", "ActionType:string", "ReleasedBy:string",
        "NetworkMessageId:string", "ReleaseTo:dynamic", "EmailTime:datetime", "InternetMessageId:string",
    ]
    assert [int(n) for n, _, _ in table] == list(range(1, 45))
    assert not any(name == "NetworkMessageId1" for _, name, _ in table)
    assert lines[0].startswith("Sort by ReleaseTime asc nulls first")
    assert any("Join kind=inner on $left.NetworkMessageId == $right.NetworkMessageId" in line for line in lines)
    assert result.stderr == ""


def test_debug_ir_warns_on_stderr_for_bare_join():
    result = rulecast("debug", "ir", str(FIXTURES / "bare_join.yaml"))
    assert result.returncode == 0
    assert "warning: join without kind= uses innerunique" in result.stderr
    assert "Join kind=innerunique (default kind)" in result.stdout
    assert "warning" not in result.stdout


def test_debug_ir_sentinel_platform():
    result = rulecast("debug", "ir", "--platform", "sentinel", SEED)
    assert result.returncode == 0, result.stderr
    assert "Source CloudAppEvents" in result.stdout
    assert "TimeGenerated" in result.stdout


def test_debug_ir_invalid_rule_exits_1(tmp_path):
    (tmp_path / "bad.yaml").write_text(BAD_RULE, encoding="utf-8")
    result = rulecast("debug", "ir", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "bad.yaml:6:11: error: unknown column 'Subjet'"
    assert result.stdout == ""


def test_output_is_deterministic():
    first = rulecast("debug", "ir", SEED)
    second = rulecast("debug", "ir", SEED)
    assert first.stdout == second.stdout


# ---------------------------------------------------------------- Sigma without pySigma

# Runs the command with `import sigma` failing, as it does when the `sigma` extra is not installed.
WITHOUT_PYSIGMA = (
    "import sys; sys.modules['sigma'] = None; "
    "from translator.cli import main; sys.exit(main(sys.argv[1:]))"
)
PYSIGMA_MISSING = "Sigma rules need pySigma, which is not installed; install it with pip install 'rulecast[sigma]'"


def rulecast_without_pysigma(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RULECAST_DEBUG"}
    return subprocess.run([sys.executable, "-c", WITHOUT_PYSIGMA, *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=60)


@pytest.fixture
def mixed_folder(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    shutil.copy(ROOT / SEED, folder / "a_good.yaml")
    shutil.copy(SIGMA_FIXTURE, folder / "b_sigma.yml")
    return folder


def test_check_without_pysigma(mixed_folder):
    result = rulecast_without_pysigma("check", "rules", cwd=mixed_folder.parent)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert errors == [f"rules/b_sigma.yml:23:1: error: {PYSIGMA_MISSING}"]
    assert "rules/a_good.yaml: ok (44 output columns)" in result.stdout
    assert "2 rules checked, 1 invalid" in result.stderr
    assert "internal error" not in result.stderr
    assert "Traceback" not in result.stderr


def test_compile_without_pysigma(mixed_folder):
    result = rulecast_without_pysigma("compile", "rules", "--target", "python", cwd=mixed_folder.parent)
    assert result.returncode == 1
    assert f"rules/b_sigma.yml:23:1: error: {PYSIGMA_MISSING}" in result.stderr.splitlines()
    assert result.stdout.startswith('"""High Confidence Phish Released (compiled by rulecast for the python target).')
    assert "internal error" not in result.stderr


def test_import_without_pysigma(mixed_folder):
    result = rulecast_without_pysigma("import", "sigma", "rules/b_sigma.yml", cwd=mixed_folder.parent)
    assert result.returncode == 2
    assert result.stderr == ("rulecast: error: importing Sigma rules needs pySigma, which is not installed; "
                             "install it with pip install 'rulecast[sigma]'\n")
    assert result.stdout == ""


# ---------------------------------------------------------------- long and deeply nested queries

DEEP_HEAD = """\
id: 9e8faa62-7222-48a5-a78f-ef2d22f866dc
name: {name}
description: A query of unusual size.
query: |
  DeviceProcessEvents
  | where {predicate}
"""


def or_chain(count: int) -> str:
    return " or ".join(f'FileName == "a{i}"' for i in range(count))


def alternating(levels: int) -> str:
    """`FileName == "aN" or (FileName == "aN-1" and (...))`, `levels` parentheses deep."""
    predicate = 'FileName == "x"'
    for i in range(levels):
        predicate = f'FileName == "a{i}" {("and", "or")[i % 2]} ({predicate})'
    return predicate


ONE_MATCH_TEST = """\
tests:
  - name: one match
    input:
      DeviceProcessEvents:
        - {Timestamp: "2024-01-01T00:00:00Z", FileName: a0}
        - {Timestamp: "2024-01-01T00:00:00Z", FileName: b}
    expect:
      count: 1
"""


def deep_rule(path: Path, predicate: str, name: str = "Deep", tests: str = "") -> Path:
    path.write_text(DEEP_HEAD.format(name=name, predicate=predicate) + tests, encoding="utf-8")
    return path


def events_file(path: Path, names: list[str]) -> Path:
    path.write_text("".join(f'{{"Timestamp": "2024-01-01T00:00:00Z", "FileName": "{n}"}}\n' for n in names),
                    encoding="utf-8")
    return path


def run_file_names(rule: Path, events: Path, cwd: Path) -> list[str]:
    result = rulecast("run", str(rule), "--table", f"DeviceProcessEvents={events}", "--format", "csv", cwd=cwd)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    column = header.split(",").index("FileName")
    return [row.split(",")[column] for row in rows]


def test_or_chain_compiles_for_all_targets(tmp_path):
    rule = deep_rule(tmp_path / "hashes.yaml", or_chain(5000))
    result = rulecast("compile", str(rule), "--target", "all", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for target in ("sentinel", "defender", "splunk", "python"):
        assert f"==> {rule} [{target} " in result.stdout
    assert result.stdout.count('"a4999"') + result.stdout.count("'a4999'") >= 4


def test_or_chain_runs_in_python(tmp_path):
    rule = deep_rule(tmp_path / "hashes.yaml", or_chain(5000))
    events = events_file(tmp_path / "events.jsonl", ["a0", "b", "a4999", "a5000", "a2500"])
    assert run_file_names(rule, events, tmp_path) == ["a0", "a4999", "a2500"]


def test_nesting_compiles_for_all_targets(tmp_path):
    rule = deep_rule(tmp_path / "nested.yaml", alternating(200))
    result = rulecast("compile", str(rule), "--target", "all", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for target in ("sentinel", "defender", "splunk", "python"):
        assert f"==> {rule} [{target} " in result.stdout


@pytest.mark.parametrize(
    "predicate, expected",
    [
        ("(" * 200 + 'FileName == "a" or FileName == "b"' + ")" * 200, ["a", "b"]),
        ("not(" * 201 + 'FileName == "a"' + ")" * 201, ["b", "a189", "a188", "x"]),
        ("tolower(" * 200 + "FileName" + ")" * 200 + ' == "a"', ["a"]),
        (alternating(190), ["a189"]),
    ],
    ids=["parentheses", "not", "calls", "and-or"],
)
def test_nesting_runs_in_python(predicate, expected, tmp_path):
    rule = deep_rule(tmp_path / "nested.yaml", predicate)
    events = events_file(tmp_path / "events.jsonl", ["a", "b", "a189", "a188", "x"])
    assert run_file_names(rule, events, tmp_path) == expected


@pytest.mark.parametrize(
    "predicate, reason",
    [
        (alternating(200), "its parser ran out of stack"),
        ("(" * 200 + "ProcessId" + " + 1)" * 200 + " > 5", "too many nested parentheses"),
    ],
    ids=["and-or", "arithmetic"],
)
def test_python_nesting_limit_error(predicate, reason, tmp_path):
    # CPython's parser rejects the module generated for 200 such levels; the other targets compile them.
    deep_rule(tmp_path / "nested.yaml", predicate)
    events = events_file(tmp_path / "events.jsonl", ["x"])
    result = rulecast("run", "nested.yaml", "--table", f"DeviceProcessEvents={events}", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        "nested.yaml:5:3: error: the query nests too deeply for the python target: CPython cannot compile the "
        f"generated module ({reason})")
    assert "internal error" not in result.stderr
    result = rulecast("compile", "nested.yaml", "--target", "all", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_too_deep_query_beside_good_rules(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    shutil.copy(ROOT / SEED, folder / "a_good.yaml")
    deep_rule(folder / "b_long.yaml", or_chain(330), "Long", ONE_MATCH_TEST)
    deep_rule(folder / "c_deep.yaml", alternating(1100), tests=ONE_MATCH_TEST)
    result = rulecast("check", "rules", cwd=tmp_path)
    assert result.returncode == 1
    assert "rules/a_good.yaml: ok (44 output columns)" in result.stdout
    assert "rules/b_long.yaml: ok (58 output columns)" in result.stdout
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    source = (folder / "c_deep.yaml").read_text(encoding="utf-8").splitlines()[5]
    # The query, its pipeline, the where, each parenthesis and each comparison count one level, so the
    # first name past 1000 levels is the column compared with "a104".
    column = source.index('FileName == "a104"') + 1
    assert errors == [f"rules/c_deep.yaml:6:{column}: error: the query nests too deeply (more than 1000 levels)"]
    assert "3 rules checked, 1 invalid" in result.stderr
    assert "internal error" not in result.stderr
    result = rulecast("compile", "rules", "--target", "all", cwd=tmp_path)
    assert result.returncode == 1
    for target in ("sentinel", "defender", "splunk", "python"):
        assert f"==> rules/a_good.yaml [{target} " in result.stdout
        assert f"==> rules/b_long.yaml [{target} " in result.stdout
        assert f"rules/c_deep.yaml:6:{column}: error: {target}: the query nests too deeply" in result.stderr
    assert "internal error" not in result.stderr
    result = rulecast("test", "rules/b_long.yaml", "rules/c_deep.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "  PASS  one match" in result.stdout
    assert f"rules/c_deep.yaml:6:{column}: error: the query nests too deeply (more than 1000 levels)" in result.stdout
    assert "internal error" not in result.stderr


def test_long_pipeline_too_deep(tmp_path):
    rule = tmp_path / "pipeline.yaml"
    predicate = "\n  | where ".join(["ProcessId > 0"] * 2001)
    rule.write_text(DEEP_HEAD.format(name="Pipeline", predicate=predicate), encoding="utf-8")
    result = rulecast("check", "pipeline.yaml", cwd=tmp_path)
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("pipeline.yaml:")
    assert first.endswith(": error: the query nests too deeply (more than 2000 levels)")


def test_recursion_error_names_the_rule(tmp_path, monkeypatch, capsys):
    import translator.compiler
    from translator.cli import main

    def recurse(*args):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(translator.compiler, "resolve", recurse)
    deep_rule(tmp_path / "rule.yaml", 'FileName == "a"')
    status = main(["check", str(tmp_path / "rule.yaml")])
    err = capsys.readouterr().err
    assert status == 1
    assert err.splitlines()[0] == f"{tmp_path / 'rule.yaml'}:5:3: error: the query nests too deeply (more than 2000 levels)"


# ---------------------------------------------------------------- documentation of the commands


def test_every_command_is_documented():
    from translator.cli import build_parser

    parser = build_parser()
    [subparsers] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    docs = (ROOT / "README.md").read_text(encoding="utf-8") + "".join(
        p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")))
    for name in subparsers.choices:
        assert f"rulecast {name}" in docs, name


def test_run_has_no_short_table_option(tmp_path):
    result = rulecast("run", "--help")
    assert result.returncode == 0
    assert "--table NAME=PATH" in result.stdout
    assert "-t NAME=PATH" not in result.stdout
    result = rulecast("run", SEED, "-t", "CloudAppEvents=events.jsonl")
    assert result.returncode == 2
    assert "unrecognized arguments: -t" in result.stderr
