"""The aider preset: message file, no commits, success from the exit code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.agents import aider
from engine.agents.presets import get_preset
from engine.config.model import AgentConfig
from engine.errors import MarathonError
from tests.fakes.agents import run_preset

AGENT = AgentConfig(name="aider", preset="aider", model="sonnet")


def test_build_never_lets_aider_commit_or_touch_gitignore(tmp_path: Path) -> None:
    invocation = aider.build(AGENT, tmp_path / "p.md", tmp_path)
    argv = list(invocation.argv)
    assert argv[argv.index("--message-file") + 1] == str(tmp_path / "p.md")
    for flag in ("--yes-always", "--no-auto-commits", "--no-dirty-commits", "--no-gitignore"):
        assert flag in argv
    assert argv[argv.index("--chat-history-file") + 1] == os.devnull
    assert argv[argv.index("--model") + 1] == "sonnet"
    assert not invocation.prompt_on_stdin


def test_success(tmp_path: Path) -> None:
    result, _ = run_preset(aider.PRESET, AGENT, tmp_path, "Do PROJ-1")
    assert result.ok
    assert (tmp_path / "aider_output.txt").read_text() == "Do PROJ-1"


@pytest.mark.parametrize("mode", ["error_result", "max_turns", "crash"])
def test_failures_come_from_the_exit_code(tmp_path: Path, mode: str) -> None:
    result, _ = run_preset(aider.PRESET, AGENT, tmp_path, "x", mode=mode)
    assert not result.ok
    assert result.error.startswith("aider exited with status 1")


@pytest.mark.parametrize("mode", ["garbage", "permission_denied"])
def test_exit_zero_is_success_and_the_runner_judges_the_diff(tmp_path: Path, mode: str) -> None:
    result, _ = run_preset(aider.PRESET, AGENT, tmp_path, "x", mode=mode)
    assert result.ok
    assert not (tmp_path / "aider_output.txt").exists()


def test_missing_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MarathonError, match="aider preset"):
        get_preset(AGENT)
