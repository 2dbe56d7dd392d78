"""Loading and validating marathon.yaml: every bad input is one located line with a fix."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from engine.config.load import default_config_path, load_pipeline, parse_pipeline, schema
from engine.errors import MarathonError
from engine.workspace import DODO_PY

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
key_prefix: PROJ
agents:
  bot: {preset: standin}
checks:
  lint: {command: ruff check src, reads: ["src/**"]}
  unit: {command: [python, -m, pytest], reads: ["src/**", "tests/**"], timeout: 60}
phases:
  verify: {checks: all}
  plan: {after: [verify], agent: bot, prompt: plan.md.j2, writes: [".marathon/plans/{id}.md"]}
  code: {after: [plan], agent: bot, prompt: code.md.j2, reads: ["src/**"], writes: ["src/**"]}
  test: {after: [code], agent: bot, prompt: test.md.j2, writes: ["tests/unit/**"]}
  qa: {after: [code], agent: bot, prompt: qa.md.j2, writes: ["tests/e2e/**"]}
  exit: {after: [test, qa], builtin: exit}
"""


def parse(text: str, tmp_path: Path):
    return parse_pipeline(text, path=tmp_path / "marathon.yaml", root=tmp_path)


def refusal(text: str, tmp_path: Path) -> str:
    with pytest.raises(MarathonError) as info:
        parse(text, tmp_path)
    assert info.value.exit_code == 2
    line = info.value.one_line()
    assert "\n" not in line
    return line


def test_good_pipeline_builds_typed_config(tmp_path: Path) -> None:
    pipeline = parse(GOOD, tmp_path)
    assert list(pipeline.phases) == ["verify", "plan", "code", "test", "qa", "exit"]
    assert pipeline.checks["lint"].command == ("ruff", "check", "src")
    assert pipeline.checks["unit"].command == ("python", "-m", "pytest")
    assert pipeline.checks["unit"].timeout == 60
    assert pipeline.phases["verify"].checks == ("lint", "unit")
    assert pipeline.phases["exit"].after == ("test", "qa")
    assert pipeline.agents["bot"].preset == "standin"
    assert pipeline.records_db == tmp_path / ".marathon" / "records.db"


def test_packaged_default_is_the_seed_workflow(tmp_path: Path) -> None:
    pipeline = load_pipeline(tmp_path)  # no marathon.yaml here: the packaged default
    assert pipeline.path == default_config_path()
    assert list(pipeline.phases) == ["verify", "plan", "code", "test", "qa", "gate", "exit"]
    assert set(pipeline.checks) == {"unit", "integration", "lint", "typecheck"}
    assert pipeline.phases["test"].after == pipeline.phases["qa"].after == ("code",)
    assert "tests/unit/**" in pipeline.phases["test"].writes
    assert pipeline.phases["qa"].writes == ("tests/e2e/**",)


def test_shipped_files_validate_against_the_json_schema() -> None:
    for path in (default_config_path(), REPO / "marathon.yaml"):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema())
    # and the schema file itself is a valid draft 2020-12 schema
    jsonschema.Draft202012Validator.check_schema(
        json.loads((REPO / "engine/config/marathon.schema.json").read_text())
    )


def test_repository_dodo_is_the_scaffolded_one() -> None:
    assert (REPO / "dodo.py").read_text() == DODO_PY


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    text = GOOD.replace("  qa: {after: [code],", "  qa: {aftr: [code],")
    line = refusal(text, tmp_path)
    assert line.startswith("marathon.yaml:12:")
    assert "phases.qa.aftr: unknown key (did you mean 'after'?)" in line


def test_unknown_top_level_key(tmp_path: Path) -> None:
    line = refusal("phaces: {}\n" + GOOD, tmp_path)
    assert line.startswith("marathon.yaml:1:1: phaces: unknown key (did you mean 'phases'?)")


def test_wrong_type_names_the_expected_type(tmp_path: Path) -> None:
    line = refusal(GOOD.replace("timeout: 60", "timeout: soon"), tmp_path)
    assert "marathon.yaml:6:" in line
    assert "checks.unit.timeout: expected a number, got a string" in line


def test_unknown_phase_in_after(tmp_path: Path) -> None:
    text = GOOD.replace("exit: {after: [test, qa]", "exit: {after: [tset, qa]")
    line = refusal(text, tmp_path)
    assert "marathon.yaml:13:" in line
    assert "phases.exit.after.0: unknown phase 'tset' (did you mean 'test'?)" in line


def test_cycle_among_phases_is_named(tmp_path: Path) -> None:
    text = GOOD.replace("plan: {after: [verify]", "plan: {after: [code]")
    line = refusal(text, tmp_path)
    assert "cycle among phases: plan -> code -> plan" in line


def test_missing_template(tmp_path: Path) -> None:
    line = refusal(GOOD.replace("prompt: qa.md.j2", "prompt: qa.md"), tmp_path)
    assert "phases.qa.prompt: template 'qa.md' not found" in line


def test_template_with_undefined_variable_names_template_and_line(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "mine.j2").write_text("Do it.\n\nFix {{ isue.title }} now\n")
    line = refusal(GOOD.replace("prompt: qa.md.j2", "prompt: mine.j2"), tmp_path)
    assert "mine.j2:3 names undefined variable 'isue' (did you mean 'issue'?)" in line
    assert line.startswith("marathon.yaml:12:")


def test_concurrent_phases_with_overlapping_writes(tmp_path: Path) -> None:
    text = GOOD.replace('writes: ["tests/e2e/**"]', 'writes: ["tests/**"]')
    line = refusal(text, tmp_path)
    assert "phases.qa.writes: 'tests/**' overlaps 'tests/unit/**' of phase 'test'" in line
    assert "add 'test' to phases.qa.after" in line


def test_sequential_phases_may_share_writes(tmp_path: Path) -> None:
    text = GOOD.replace('writes: ["tests/e2e/**"]}', 'writes: ["tests/**"]}').replace(
        "qa: {after: [code]", "qa: {after: [test]"
    )
    assert parse(text, tmp_path).phases["qa"].writes == ("tests/**",)


def test_rewriting_check_in_a_parallel_group(tmp_path: Path) -> None:
    text = GOOD.replace(
        "lint: {command: ruff check src,", "lint: {command: ruff format, rewrites: true,"
    )
    line = refusal(text, tmp_path)
    assert (
        "checks.lint.rewrites: check 'lint' rewrites files but runs in parallel with unit" in line
    )


def test_unknown_agent_and_check(tmp_path: Path) -> None:
    line = refusal(GOOD.replace("agent: bot, prompt: plan", "agent: bott, prompt: plan"), tmp_path)
    assert "phases.plan.agent: unknown agent 'bott' (did you mean 'bot'?)" in line
    line = refusal(GOOD.replace("verify: {checks: all}", "verify: {checks: [lintt]}"), tmp_path)
    assert "phases.verify.checks.0: unknown check 'lintt' (did you mean 'lint'?)" in line


def test_phase_needs_exactly_one_action(tmp_path: Path) -> None:
    line = refusal(
        GOOD.replace(
            "exit: {after: [test, qa], builtin: exit}",
            "exit: {after: [test, qa], builtin: exit, command: ['true']}",
        ),
        tmp_path,
    )
    assert "phases.exit: give exactly one of checks:, agent:, command: or builtin:" in line


def test_bad_enum_value(tmp_path: Path) -> None:
    line = refusal(GOOD.replace("preset: standin", "preset: claud"), tmp_path)
    assert "agents.bot.preset: 'claud' is not allowed (did you mean 'claude'?)" in line


def test_invalid_yaml_and_duplicate_keys(tmp_path: Path) -> None:
    line = refusal("phases: {verify: [\n", tmp_path)
    assert line.startswith("marathon.yaml:") and "not valid YAML" in line
    line = refusal(GOOD + "key_prefix: OTHER\n", tmp_path)
    assert line.startswith("marathon.yaml:14:1: key_prefix: key written twice")


def test_linear_tracker_needs_a_team(tmp_path: Path) -> None:
    line = refusal("tracker: {kind: linear}\n" + GOOD, tmp_path)
    assert "tracker: a linear tracker needs team:" in line


def test_templates_are_checked_again_when_one_changes(tmp_path: Path) -> None:
    """A load whose marathon.yaml and templates passed before skips the template checks (and
    jinja2 itself); a template edited since is checked again and refused when wrong."""
    import subprocess
    import sys

    from engine.config.load import load_pipeline
    from engine.workspace import scaffold

    root = scaffold(tmp_path / "ws")
    (root / ".marathon").mkdir(exist_ok=True)  # as after the first doit command
    load_pipeline(root)  # checked, and remembered
    probe = (
        "import sys; from pathlib import Path; from engine.config.load import load_pipeline; "
        f"load_pipeline(Path({str(root)!r})); print('jinja2' in sys.modules)"
    )
    again = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert again.stdout.strip() == "False", again.stderr
    (root / "templates").mkdir(exist_ok=True)
    (root / "templates" / "code.md.j2").write_text("Implement {{ issue.title }} with {{ plna }}\n")
    with pytest.raises(MarathonError, match="names undefined variable 'plna'"):
        load_pipeline(root)
