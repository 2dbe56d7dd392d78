"""The gemini preset: headless JSON output, the documented exit codes, a trusted worktree."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from engine.agents import gemini
from engine.agents.presets import get_preset
from engine.config.model import AgentConfig
from engine.errors import MarathonError
from tests.fakes.agents import fake_env, run_preset

AGENT = AgentConfig(name="gemini", preset="gemini", model="gemini-2.5-pro")
FIXTURES = Path(__file__).parents[1] / "fixtures" / "agents"
UNTRUSTED = (
    "gemini failed: untrusted workspace (exit 55): Gemini CLI is not running in a trusted "
    "directory. To proceed, either use `--skip-trust`, set the `GEMINI_CLI_TRUST_WORKSPACE=true` "
    "environment variable, or trust this directory in interactive mode...."
)


def test_build_keeps_the_prompt_out_of_argv(tmp_path: Path) -> None:
    invocation = gemini.build(AGENT, tmp_path / "p.md", tmp_path)
    argv = list(invocation.argv)
    assert argv[:3] == ["gemini", "-p", gemini.PROMPT_TAIL]
    assert argv[argv.index("--output-format") + 1] == "json"
    assert argv[argv.index("--approval-mode") + 1] == "auto_edit"
    assert argv[argv.index("-m") + 1] == "gemini-2.5-pro"
    assert invocation.prompt_on_stdin


def test_build_trusts_the_worktree_through_the_environment(tmp_path: Path) -> None:
    invocation = gemini.build(AGENT, tmp_path / "p.md", tmp_path)
    assert invocation.env == {"GEMINI_CLI_TRUST_WORKSPACE": "true"}
    assert "--skip-trust" not in invocation.argv  # older CLIs reject unknown flags


def test_an_untrusted_folder_is_refused_with_exit_55(tmp_path: Path) -> None:
    """Without the variable the fake refuses as gemini-cli 0.61.0 does (red text, exit 55)."""
    env = fake_env()
    env.pop("GEMINI_CLI_TRUST_WORKSPACE", None)
    argv = gemini.build(AGENT, tmp_path / "p.md", tmp_path).argv
    completed = subprocess.run(
        argv, input=b"x", cwd=tmp_path, env=env, capture_output=True, check=False
    )
    assert completed.returncode == 55 and completed.stdout == b""
    assert b"\x1b[31m" in completed.stderr
    result = gemini.parse(55, completed.stderr.decode())
    assert result.error == UNTRUSTED
    assert not (tmp_path / "gemini_output.txt").exists()


def test_with_the_preset_env_the_approval_mode_is_kept(tmp_path: Path) -> None:
    result, output = run_preset(gemini.PRESET, AGENT, tmp_path, "x")
    assert result.ok, result.error
    assert "Approval mode overridden" not in output
    assert "Ripgrep is not available" in output  # the noise is still there, and skipped


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
        (44, "sandbox error"),
        (52, "configuration error"),
        (54, "fatal tool execution error"),
        (55, "untrusted workspace"),
        (7, "unexpected exit status"),
    ],
)
def test_exit_codes_map_to_messages(code: int, meaning: str) -> None:
    output = json.dumps({"error": {"type": "E", "message": "boom", "code": code}}, indent=2)
    noise = 'Approval mode overridden to "default" because the current folder is not trusted.\n'
    result = gemini.parse(code, noise + output)
    assert not result.ok
    assert result.error == f"gemini failed: {meaning} (exit {code}): boom"


def test_real_auth_error_json_on_stderr_after_a_notice() -> None:
    """gemini-cli 0.61.0, no credentials: stdout empty, a notice, then the JSON on stderr."""
    result = gemini.parse(41, (FIXTURES / "gemini-0.61.0-not-logged-in.log").read_text())
    assert not result.ok
    assert result.error.startswith(
        "gemini failed: authentication error (exit 41): Please set an Auth method in your "
    )
    assert result.session_id == "310fb7ff-abf2-45b2-abea-033df274f1f7"


def test_real_untrusted_refusal_without_escape_sequences() -> None:
    result = gemini.parse(55, (FIXTURES / "gemini-0.61.0-untrusted.log").read_text())
    assert result.error == UNTRUSTED
    assert "\x1b" not in result.error


def test_real_network_failure_quotes_the_json_error_not_a_stack_frame() -> None:
    result = gemini.parse(1, (FIXTURES / "gemini-0.61.0-no-network.log").read_text())
    assert result.error == (
        "gemini failed: general error or API failure (exit 1): "
        "exception TypeError: fetch failed sending request"
    )
    assert result.session_id == "0fbb328f-daeb-456d-b89b-4278e45d69e3"


def test_run_cut_short_while_retrying() -> None:
    """The runner parses a timed-out run's output with status 0: no JSON yet, only retries."""
    output = (FIXTURES / "gemini-0.61.0-no-network.log").read_text()
    result = gemini.parse(0, output.split("Error when talking")[0])
    assert not result.ok
    assert result.error == (
        "gemini's output ended without a JSON result while it was retrying the model API (the "
        "run was cut short?): Attempt 2 failed. Retrying with backoff... Error: exception "
        "TypeError: fetch failed sending request"
    )


@pytest.mark.parametrize(
    ("mode", "code", "message"),
    [
        ("not_logged_in", 41, "authentication error (exit 41): Please set an Auth method"),
        ("crash", 1, "general error or API failure (exit 1): exception TypeError: fetch failed"),
    ],
)
def test_fake_prints_errors_on_stderr_like_the_real_cli(
    tmp_path: Path, mode: str, code: int, message: str
) -> None:
    prompt_file = tmp_path / "p.md"
    invocation = gemini.build(AGENT, prompt_file, tmp_path)
    completed = subprocess.run(
        invocation.argv,
        input=b"x",
        cwd=tmp_path,
        env={**fake_env(mode), **invocation.env},
        capture_output=True,
        check=False,
    )
    assert completed.returncode == code and completed.stdout == b""
    merged = completed.stderr.decode()
    assert gemini.parse(code, merged).error.startswith(f"gemini failed: {message}")
    result, _ = run_preset(gemini.PRESET, AGENT, tmp_path, "x", mode=mode)
    assert result.error.startswith(f"gemini failed: {message}")


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
