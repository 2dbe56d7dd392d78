"""Agents through the real runner: the fake Claude CLI, the circuit breaker, bug issues, budgets."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from engine.compile import marathon_order
from engine.records import Records, RunRecord
from engine.trackers.local import LocalTracker
from engine.workspace import scaffold
from tests.conftest import FAST_PIPELINE, run_doit
from tests.fakes.agents import FAKE_BIN

pytestmark = pytest.mark.integration

CLAUDE_PIPELINE = """\
key_prefix: PROJ
agents:
  claude: {preset: claude, model: haiku, max_turns: 5, env: ["FAKE_AGENT_*"]}
phases:
  code: {agent: claude, prompt: code.md.j2, writes: ["claude_output.txt"], timeout: 3}
  exit: {after: [code], builtin: exit}
"""


def runs(ws: Path) -> list[RunRecord]:
    return Records(ws / ".marathon" / "records.db").runs()


def fake_path() -> dict[str, str]:
    return {"PATH": f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture
def claude_ws(tmp_path: Path) -> Path:
    ws = scaffold(tmp_path / "ws", pipeline_text=CLAUDE_PIPELINE)
    assert run_doit(ws, "add", "--title", "Use the fake claude").returncode == 0
    return ws


def test_claude_run_records_cost_tokens_turns_and_session(claude_ws: Path) -> None:
    result = run_doit(claude_ws, "issue:PROJ-1", env=fake_path())
    assert result.returncode == 0, result.stdout + result.stderr
    code = next(r for r in runs(claude_ws) if r.phase == "code")
    assert code.status == "success"
    assert code.cost_usd == pytest.approx(0.0123)
    assert code.input_tokens and code.output_tokens and code.turns
    assert code.session_id
    # the prompt reached the CLI on stdin and its file was committed by the engine
    assert (claude_ws / "claude_output.txt").read_text().startswith("You are implementing")


def test_claude_error_result_with_exit_0_fails_the_phase(claude_ws: Path) -> None:
    result = run_doit(
        claude_ws, "issue:PROJ-1", env={**fake_path(), "FAKE_AGENT_MODE": "error_result"}
    )
    assert result.returncode != 0
    code = next(r for r in runs(claude_ws) if r.phase == "code")
    assert code.status == "failed" and code.error and code.signature


def test_hanging_agent_is_killed_with_its_children(claude_ws: Path, tmp_path: Path) -> None:
    child_pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    result = run_doit(
        claude_ws,
        "issue:PROJ-1",
        env={
            **fake_path(),
            "FAKE_AGENT_MODE": "hang",
            "FAKE_AGENT_CHILD_PID_FILE": str(child_pid_file),
        },
    )
    assert result.returncode != 0
    assert time.monotonic() - started < 20
    code = next(r for r in runs(claude_ws) if r.phase == "code")
    assert code.error.startswith("timed out after 3s (process group killed); the agent's output: ")
    assert "without a final `result` message" in code.error  # it printed its init line only
    pid = int(child_pid_file.read_text())
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def agent_ws(tmp_path: Path, agent: str) -> Path:
    """A workspace whose CODE phase runs the fake `agent` CLI (writes `<agent>_output.txt`)."""
    pipeline = CLAUDE_PIPELINE.replace("claude", agent).replace("model: haiku, ", "")
    ws = scaffold(tmp_path / "ws", pipeline_text=pipeline)
    assert run_doit(ws, "add", "--title", f"Use the fake {agent}").returncode == 0
    return ws


def test_codex_without_network_times_out_with_what_it_said(tmp_path: Path) -> None:
    """codex-cli 0.169.0 without a network reconnects forever: the timeout stops it and the
    phase's error says what it was doing."""
    ws = agent_ws(tmp_path, "codex")
    result = run_doit(ws, "issue:PROJ-1", env={**fake_path(), "FAKE_AGENT_MODE": "hang"})
    assert result.returncode != 0
    code = next(r for r in runs(ws) if r.phase == "code")
    assert code.status == "failed"
    assert code.error.startswith(
        "timed out after 3s (process group killed); the agent's output: codex's output ended "
        "before its turn completed (the run was cut short?); last error: Reconnecting... "
        "waiting for network (Connection failed: error sending request) ("
    )
    assert code.error.endswith(" times in a row)")


def test_gemini_runs_in_the_untrusted_worktree(tmp_path: Path) -> None:
    """The fake gemini refuses untrusted folders (exit 55) as gemini-cli 0.61.0 does; the
    preset's GEMINI_CLI_TRUST_WORKSPACE reaches it through the runner."""
    ws = agent_ws(tmp_path, "gemini")
    result = run_doit(ws, "issue:PROJ-1", env=fake_path())
    assert result.returncode == 0, result.stdout + result.stderr
    code = next(r for r in runs(ws) if r.phase == "code")
    assert code.status == "success" and code.input_tokens == 24401
    assert (ws / "gemini_output.txt").read_text().startswith("You are implementing")


def test_a_users_own_gemini_trust_setting_wins(tmp_path: Path) -> None:
    ws = agent_ws(tmp_path, "gemini")
    env = {**fake_path(), "GEMINI_CLI_TRUST_WORKSPACE": "false"}
    result = run_doit(ws, "issue:PROJ-1", env=env)
    assert result.returncode != 0
    code = next(r for r in runs(ws) if r.phase == "code")
    assert code.status == "failed" and "untrusted workspace" in code.error


def test_aider_model_failure_with_exit_0_fails_the_phase(tmp_path: Path) -> None:
    """aider 0.86.2 exits 0 without an API key; the phase fails with aider's own words."""
    ws = agent_ws(tmp_path, "aider")
    result = run_doit(ws, "issue:PROJ-1", env={**fake_path(), "FAKE_AGENT_MODE": "not_logged_in"})
    assert result.returncode != 0
    code = next(r for r in runs(ws) if r.phase == "code")
    assert code.status == "failed"
    assert code.error.startswith("aider's model call failed: litellm.AuthenticationError: ")
    assert code.error.endswith(
        "(The API provider is not able to authenticate you. Check your API key.)"
    )


def test_aider_repo_map_cache_is_not_a_write_outside_the_write_set(tmp_path: Path) -> None:
    """aider 0.86.2 (and the fake) leaves `.aider.tags.cache.v4/` in the repository root; the
    preset declares it as `scratch`, so a successful phase must not fail because of it."""
    ws = agent_ws(tmp_path, "aider")
    result = run_doit(ws, "issue:PROJ-1", env=fake_path())
    code = next(r for r in runs(ws) if r.phase == "code")
    assert code.status == "success", code.error
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/.aider.tags.cache.v*/" in (ws / ".git" / "info" / "exclude").read_text().split()
    committed = subprocess.run(
        ["git", "log", "--name-only", "--format="], cwd=ws, capture_output=True, text=True
    ).stdout
    assert "aider_output.txt" in committed and ".aider" not in committed


def test_missing_agent_binary_is_one_clear_line(claude_ws: Path) -> None:
    result = run_doit(claude_ws, "issue:PROJ-1", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    code = next(r for r in runs(claude_ws) if r.phase == "code")
    assert "uses the claude preset, but `claude` is not installed" in code.error


def test_breaker_skips_the_issue_after_repeated_failures(workspace: Path) -> None:
    text = (workspace / "marathon.yaml").read_text()
    text = text.replace("preset: standin", "preset: standin\n    fail: [plan]")
    (workspace / "marathon.yaml").write_text(text + "breaker: {attempts: {plan: 2}}\n")
    assert run_doit(workspace, "add", "--title", "Always fails").returncode == 0
    add = ["add", "--title", "After it", "--after", "PROJ-1"]
    assert run_doit(workspace, *add).returncode == 0
    for _ in range(3):
        assert run_doit(workspace, "-n", "4", "issue:PROJ-1").returncode != 0
    plan = [r for r in runs(workspace) if r.phase == "plan"]
    assert [r.status for r in plan] == ["failed", "failed", "skipped"]
    assert "PROJ-1 plan failed 2 times in a row (limit 2)" in plan[-1].error
    status = run_doit(workspace, "status")
    lines = status.stdout.splitlines()
    first = next(line for line in lines if line.startswith("PROJ-1 "))
    assert "skipped" in first and "failed 2 times in a row" in first
    # its dependent is held back, and says by what
    second = next(line for line in lines if line.startswith("PROJ-2 "))
    assert "waiting" in second and "(waits for PROJ-1; held back: PROJ-1 skipped)" in second


def test_failed_verify_files_one_bug_issue_that_blocks_the_issue(workspace: Path) -> None:
    failing = "[python, -c, 'import sys; print(\"E501 line too long\"); sys.exit(1)']"
    text = (
        (workspace / "marathon.yaml")
        .read_text()
        .replace(
            "lint: {command: \"python -c 'import time; time.sleep(0.5)'\"",
            f"lint: {{command: {failing}",
        )
    )
    (workspace / "marathon.yaml").write_text(text)
    assert run_doit(workspace, "add", "--title", "Feature").returncode == 0
    first = run_doit(workspace, "-n", "4", "issue:PROJ-1")
    assert first.returncode != 0
    tracker = LocalTracker(workspace / ".marathon/tracker.db", "PROJ")
    bugs = [i for i in tracker.snapshot() if i.kind == "bug"]
    assert len(bugs) == 1
    bug = bugs[0]
    # The run's last lines name the bug it filed and what to do next.
    assert f"filed or reopened during this run: {bug.id} [Bug] verify:lint fails" in first.stdout
    assert "run the same command again: it does them first" in first.stdout
    assert bug.priority == 1 and bug.title.startswith("[Bug] verify:lint fails: E501 line too long")
    assert "python -c" in bug.description and "E501 line too long" in bug.description
    assert bug.id in tracker.get("PROJ-1").dependencies
    # The next run works on the bug first (the stand-in "fixes" it), then VERIFY fails the
    # same way again: no second bug, the first one is reopened.
    second = run_doit(workspace, "-n", "4", "issue:PROJ-1")
    assert second.returncode != 0
    # open when this run began (it was done and reopened within the run): the failure says so
    assert "during this run" not in second.stdout
    assert f"filed {bug.id} to fix first" in second.stdout
    assert [r.task for r in runs(workspace)].count(f"issue:{bug.id}:exit") == 1
    bugs = [i for i in tracker.snapshot() if i.kind == "bug"]
    assert [b.id for b in bugs] == [bug.id] and bugs[0].is_open
    assert tracker.comments(bug.id)[-1].startswith("reopened: verify:lint fails the same way")
    # the marathon puts the bug first
    assert [i.id for i in marathon_order(tracker.snapshot())] == [bug.id, "PROJ-1"]


def test_budget_stops_new_phases(tmp_path: Path) -> None:
    from engine.agents.base import AgentResult
    from engine.agents.cassette import save_cassette

    pipeline = (
        FAST_PIPELINE.replace(
            "  bot:\n    preset: standin\n    sleep: {plan: 0.1, code: 0.2, test: 0.6, qa: 0.6}",
            "  bot: {preset: replay, speed: 1000}",
        )
        + "budgets: {issue: {max_cost_usd: 1.5}}\n"
    )
    ws = scaffold(tmp_path / "ws", pipeline_text=pipeline)
    assert run_doit(ws, "add", "--title", "Expensive").returncode == 0
    for phase in ("plan", "code", "test", "qa"):
        save_cassette(
            ws / ".marathon" / "cassettes",
            "PROJ-1",
            phase,
            "spent\n",
            {},
            1.0,
            AgentResult(ok=True, cost_usd=1.0, turns=3),
        )
    result = run_doit(ws, "-n", "4", "issue:PROJ-1")
    assert result.returncode != 0
    by_phase = {r.phase: r for r in runs(ws)}
    assert by_phase["plan"].status == "success" and by_phase["plan"].cost_usd == 1.0
    assert by_phase["code"].status == "success"  # started at $1.00, under the limit
    assert by_phase["test"].status == "skipped"
    assert "budget reached: PROJ-1 has spent $2.00 of its $1.50" in by_phase["test"].error


def test_recorded_marathon_replays_to_the_same_files(tmp_path: Path) -> None:
    """record: saves each agent phase as a cassette; the replay agent rebuilds the same tree."""
    cassettes = tmp_path / "cassettes"
    recording = FAST_PIPELINE.replace(
        "    preset: standin\n", f"    preset: standin\n    record: {cassettes}\n"
    )
    first = scaffold(tmp_path / "first", pipeline_text=recording)
    assert run_doit(first, "add", "--title", "Record me").returncode == 0
    assert run_doit(first, "-n", "4", "issue:PROJ-1").returncode == 0
    assert sorted(p.name for p in (cassettes / "PROJ-1").iterdir()) == [
        "code",
        "plan",
        "qa",
        "test",
    ]

    replaying = FAST_PIPELINE.replace(
        "  bot:\n    preset: standin\n    sleep: {plan: 0.1, code: 0.2, test: 0.6, qa: 0.6}",
        f"  bot: {{preset: replay, cassettes: {cassettes}, speed: 100}}",
    )
    second = scaffold(tmp_path / "second", pipeline_text=replaying)
    assert run_doit(second, "add", "--title", "Record me").returncode == 0
    result = run_doit(second, "-n", "4", "issue:PROJ-1")
    assert result.returncode == 0, result.stdout + result.stderr

    def tree(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): p.read_text()
            for area in ("src", "tests")
            for p in (root / area).rglob("*")
            if p.is_file()
        }

    assert tree(first) and tree(second) == tree(first)
