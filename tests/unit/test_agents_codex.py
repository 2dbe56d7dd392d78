"""The codex preset: `codex exec --json`, success from exit code and the event stream."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from engine.agents import codex
from engine.agents.presets import get_preset
from engine.config.model import AgentConfig
from engine.errors import MarathonError
from tests.fakes.agents import fake_env, run_preset

AGENT = AgentConfig(name="codex", preset="codex", model="gpt-5-codex")
FIXTURES = Path(__file__).parents[1] / "fixtures" / "agents"
WAITING = "Reconnecting... waiting for network (Connection failed: error sending request)"


def test_build(tmp_path: Path) -> None:
    invocation = codex.build(AGENT, tmp_path / "p.md", tmp_path)
    argv = list(invocation.argv)
    assert argv[:3] == ["codex", "exec", "--json"]
    assert argv[argv.index("--sandbox") + 1] == "workspace-write"
    assert argv[argv.index("-C") + 1] == str(tmp_path)
    assert argv[argv.index("-m") + 1] == "gpt-5-codex"
    assert argv[-1] == "-"  # the prompt is read from stdin, never put in argv
    assert invocation.prompt_on_stdin


def test_success_reads_usage_thread_and_message(tmp_path: Path) -> None:
    result, _ = run_preset(codex.PRESET, AGENT, tmp_path, "Fix PROJ-7")
    assert result.ok, result.error
    assert result.input_tokens == 24763
    assert result.output_tokens == 122
    assert result.turns == 1
    assert len(result.session_id) == 36
    assert result.summary == "Wrote the file."
    assert result.cost_usd is None
    assert (tmp_path / "codex_output.txt").read_text() == "Fix PROJ-7"


def test_turn_failed_with_exit_zero_fails(tmp_path: Path) -> None:
    result, _ = run_preset(codex.PRESET, AGENT, tmp_path, "x", mode="error_result")
    assert not result.ok
    assert result.error == "codex turn failed: stream error: unexpected status 401 Unauthorized"


def test_turn_limit_failure(tmp_path: Path) -> None:
    result, _ = run_preset(codex.PRESET, AGENT, tmp_path, "x", mode="max_turns")
    assert not result.ok
    assert "turn limit reached" in result.error
    assert "exit status 1" in result.error


def test_transient_reconnect_error_followed_by_completion_is_success(tmp_path: Path) -> None:
    result, _ = run_preset(codex.PRESET, AGENT, tmp_path, "x", mode="reconnect")
    assert result.ok, result.error


def test_error_event_without_completion_fails() -> None:
    lines = [
        {"type": "thread.started", "thread_id": "t"},
        {"type": "turn.started"},
        {"type": "error", "message": "Reconnecting... 5/5"},
    ]
    result = codex.parse(1, "\n".join(json.dumps(line) for line in lines))
    assert not result.ok
    assert result.error.startswith("codex reported an error: Reconnecting... 5/5")


def test_declined_commands_are_permission_denials(tmp_path: Path) -> None:
    result, _ = run_preset(codex.PRESET, AGENT, tmp_path, "x", mode="permission_denied")
    assert result.ok
    assert result.permission_denials == ("command(bash -lc 'touch /etc/x')",)


def test_garbage_output_fails(tmp_path: Path) -> None:
    result, _ = run_preset(codex.PRESET, AGENT, tmp_path, "x", mode="garbage")
    assert not result.ok
    assert "no JSON events" in result.error


def test_missing_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MarathonError, match=r"codex preset.*npm install -g @openai/codex"):
        get_preset(AGENT)


def test_real_stream_cut_short_while_waiting_for_network() -> None:
    """codex-cli 0.169.0 without a network never exits; the runner kills it at its timeout and
    parses what it printed with status 0 (stderr log lines included)."""
    result = codex.parse(0, (FIXTURES / "codex-0.169.0-no-network.log").read_text())
    assert not result.ok
    assert result.error == (
        "codex's output ended before its turn completed (the run was cut short?); "
        f"last error: {WAITING} (2 times in a row)"
    )
    assert result.session_id == "01a21562-4ff2-7403-91e0-fc98b1fa4aa6"
    assert result.turns == 0


def test_real_stream_killed_by_a_signal_names_the_status() -> None:
    result = codex.parse(-15, (FIXTURES / "codex-0.169.0-no-network.log").read_text())
    assert result.error == f"codex reported an error: {WAITING} (exit status -15)"


def test_error_items_are_warnings_not_failures() -> None:
    lines = [
        {"type": "thread.started", "thread_id": "t"},
        {"type": "item.completed", "item": {"id": "item_0", "type": "error", "message": "w"}},
        {"type": "turn.started"},
        {"type": "turn.completed", "usage": {"input_tokens": 5, "output_tokens": 1}},
    ]
    assert codex.parse(0, "\n".join(json.dumps(line) for line in lines)).ok


def test_fake_prints_no_stdin_notice_for_dash(tmp_path: Path) -> None:
    """codex-cli 0.169.0 says "Reading prompt from stdin..." only when no prompt argument is
    given at all; the preset passes `-`."""
    _, output = run_preset(codex.PRESET, AGENT, tmp_path, "x")
    assert "Reading prompt from stdin" not in output
    completed = subprocess.run(
        ["codex", "exec", "--json"],
        input=b"x",
        cwd=tmp_path,
        env=fake_env(),
        capture_output=True,
        check=False,
    )
    assert completed.stderr.decode().splitlines() == ["Reading prompt from stdin..."]
