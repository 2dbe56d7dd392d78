"""The gemini preset: headless JSON output and the documented exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.agents import gemini
from engine.agents.presets import get_preset
from engine.config.model import AgentConfig
from engine.errors import MarathonError
from tests.fakes.agents import run_preset

AGENT = AgentConfig(name="gemini", preset="gemini", model="gemini-2.5-pro")


def test_build_keeps_the_prompt_out_of_argv(tmp_path: Path) -> None:
    invocation = gemini.build(AGENT, tmp_path / "p.md", tmp_path)
    argv = list(invocation.argv)
    assert argv[:3] == ["gemini", "-p", gemini.PROMPT_TAIL]
    assert argv[argv.index("--output-format") + 1] == "json"
    assert argv[argv.index("--approval-mode") + 1] == "auto_edit"
    assert argv[argv.index("-m") + 1] == "gemini-2.5-pro"
    assert invocation.prompt_on_stdin


def test_success_reads_tokens_and_session(tmp_path: Path) -> None:
    result, _ = run_preset(gemini.PRESET, AGENT, tmp_path, "Do PROJ-2")
    assert result.ok, result.error
    assert result.input_tokens == 24401
    assert result.output_tokens == 215 + 103
    assert result.summary == "Done: wrote the file."
    assert len(result.session_id) == 36
    written = (tmp_path / "gemini_output.txt").read_text()
    assert written.startswith("Do PROJ-2") and written.endswith(gemini.PROMPT_TAIL)


def test_error_object_with_exit_zero_fails(tmp_path: Path) -> None:
    result, _ = run_preset(gemini.PRESET, AGENT, tmp_path, "x", mode="error_result")
    assert not result.ok
    assert result.error == "gemini reported an error: Rate limit exceeded"


def test_turn_limit_exit_53(tmp_path: Path) -> None:
    result, _ = run_preset(gemini.PRESET, AGENT, tmp_path, "x", mode="max_turns")
    assert not result.ok
    assert result.error.startswith("gemini failed: turn limit exceeded (exit 53)")
    assert "max session turns" in result.error


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        (1, "general error or API failure"),
        (41, "authentication error"),
        (42, "input error (invalid prompt or arguments)"),
        (52, "configuration error"),
        (54, "fatal tool execution error"),
        (7, "unexpected exit status"),
    ],
)
def test_exit_codes_map_to_messages(code: int, meaning: str) -> None:
    output = json.dumps({"error": {"type": "E", "message": "boom", "code": code}}, indent=2)
    result = gemini.parse(code, "Loaded cached credentials.\n" + output)
    assert not result.ok
    assert result.error == f"gemini failed: {meaning} (exit {code}): boom"


def test_rejected_tools_are_permission_denials(tmp_path: Path) -> None:
    result, _ = run_preset(gemini.PRESET, AGENT, tmp_path, "x", mode="permission_denied")
    assert result.ok
    assert result.permission_denials == ("write_file (rejected 1x)",)


def test_garbage_output_fails(tmp_path: Path) -> None:
    result, _ = run_preset(gemini.PRESET, AGENT, tmp_path, "x", mode="garbage")
    assert not result.ok
    assert "no JSON result" in result.error


def test_missing_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MarathonError, match=r"gemini preset.*@google/gemini-cli"):
        get_preset(AGENT)
