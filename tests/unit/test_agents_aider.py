"""The aider preset: message file, no commits; success from the exit code and, since aider
0.86.2 exits 0 when the model call failed, from the litellm errors it printed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.agents import aider
from engine.agents.presets import PRESETS, get_preset
from engine.config.model import AgentConfig
from engine.errors import MarathonError
from tests.fakes.agents import run_preset

AGENT = AgentConfig(name="aider", preset="aider", model="sonnet")
FIXTURES = Path(__file__).parents[1] / "fixtures" / "agents"

NO_KEY = (
    "aider's model call failed: litellm.AuthenticationError: Missing Anthropic API Key - A call "
    "is being made to anthropic but no key is set either in the environment variables or via "
    "param... (The API provider is not able to authenticate you. Check your API key.)"
)
SERVER_DOWN = (
    "aider's model call failed: litellm.InternalServerError: AnthropicException - [Errno -2] "
    "Name or service not known. Handle with `litellm.InternalServerError`. (The API provider's "
    "servers are down or overloaded.)"
)


def test_build_never_lets_aider_commit_or_touch_gitignore(tmp_path: Path) -> None:
    invocation = aider.build(AGENT, tmp_path / "p.md", tmp_path)
    argv = list(invocation.argv)
    assert argv[argv.index("--message-file") + 1] == str(tmp_path / "p.md")
    for flag in ("--yes-always", "--no-auto-commits", "--no-dirty-commits", "--no-gitignore"):
        assert flag in argv
    assert argv[argv.index("--chat-history-file") + 1] == os.devnull
    assert argv[argv.index("--model") + 1] == "sonnet"
    assert not invocation.prompt_on_stdin


def test_build_keeps_analytics_and_release_notes_out_of_the_run(tmp_path: Path) -> None:
    argv = aider.build(AGENT, tmp_path / "p.md", tmp_path).argv
    # per run, not the permanent `--analytics-disable` that writes ~/.aider and says so
    assert "--no-analytics" in argv and "--analytics-disable" not in argv
    assert "--no-show-release-notes" in argv  # --yes-always would open a browser otherwise


def test_the_repo_map_cache_is_scratch() -> None:
    # What the patterns match is git's business: tests/unit/test_git_repo.py runs them in git.
    assert "/.aider.tags.cache.v*/" in aider.PRESET.scratch
    assert all(pattern.startswith("/") for pattern in aider.PRESET.scratch)  # the root only
    assert get_preset(AGENT, check_binary=False).scratch == aider.PRESET.scratch
    # the only preset whose tool keeps state files in the working directory
    assert {name for name, preset in PRESETS.items() if preset.scratch} == {"aider"}


def test_success(tmp_path: Path) -> None:
    result, output = run_preset(aider.PRESET, AGENT, tmp_path, "Do PROJ-1")
    assert result.ok
    assert (tmp_path / "aider_output.txt").read_text() == "Do PROJ-1"
    assert "Analytics have been permanently disabled." not in output
    # like the real one, the fake leaves its repo-map cache behind: the preset's scratch
    assert (tmp_path / ".aider.tags.cache.v4").is_dir()


@pytest.mark.parametrize(
    ("fixture", "error"),
    [("aider-0.86.2-no-key.log", NO_KEY), ("aider-0.86.2-no-network.log", SERVER_DOWN)],
)
def test_real_model_failures_with_exit_zero_fail(fixture: str, error: str) -> None:
    result = aider.parse(0, (FIXTURES / fixture).read_text())
    assert not result.ok
    assert result.error == error


def test_run_cut_short_while_retrying_fails() -> None:
    """The runner parses a timed-out run's output with status 0: aider was still retrying."""
    output = (FIXTURES / "aider-0.86.2-no-network.log").read_text()
    cut = output[: output.index("Retrying in 0.5 seconds...") + len("Retrying in 0.5 seconds...")]
    assert aider.parse(0, cut + "\n").error == SERVER_DOWN


def test_an_error_before_the_last_usage_line_was_retried_successfully() -> None:
    output = (FIXTURES / "aider-0.86.2-no-network.log").read_text()
    retried = output.split("Retrying in 0.5 seconds...")[0] + "Retrying in 0.5 seconds...\n"
    later = "Applied edit to app.py\nTokens: 2.3k sent, 105 received. Cost: $0.0085 message.\n"
    assert aider.parse(0, retried + later).ok
    # ...but a failure after the usage line (the next message) counts again
    result = aider.parse(0, retried + later + "litellm.RateLimitError: slow down\n")
    assert result.error == "aider's model call failed: litellm.RateLimitError: slow down"


def test_a_nonzero_exit_names_the_litellm_error() -> None:
    # no explanation under it: aider has none for NotFoundError
    output = "Aider v0.86.2\nlitellm.NotFoundError: model not found\n\nbye\n"
    result = aider.parse(1, output)
    assert result.error == "aider exited with status 1: litellm.NotFoundError: model not found"


@pytest.mark.parametrize(
    ("mode", "error"), [("not_logged_in", NO_KEY), ("error_result", SERVER_DOWN)]
)
def test_model_failures_exit_zero_like_the_real_aider(
    tmp_path: Path, mode: str, error: str
) -> None:
    result, _ = run_preset(aider.PRESET, AGENT, tmp_path, "x", mode=mode)
    assert not result.ok
    assert result.error == error  # the fake prints the real aider's lines
    assert not (tmp_path / "aider_output.txt").exists()


def test_a_retried_error_then_an_answer_is_success(tmp_path: Path) -> None:
    result, output = run_preset(aider.PRESET, AGENT, tmp_path, "x", mode="reconnect")
    assert result.ok, result.error
    assert "Retrying in 0.2 seconds..." in output


@pytest.mark.parametrize("mode", ["max_turns", "crash"])
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
