"""The claude preset: command line, and success read from the stream-json result message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.agents import claude
from engine.agents.presets import get_preset
from engine.config.model import AgentConfig
from engine.errors import MarathonError
from tests.fakes.agents import fake_env, run_preset

AGENT = AgentConfig(name="claude", preset="claude", model="opus", max_turns=40)
FIXTURES = Path(__file__).parents[1] / "fixtures" / "agents"
NOT_LOGGED_IN = (
    "claude reported an error: Not logged in · Please run /login (exit status 1); "
    "log in with `claude` then /login, or set ANTHROPIC_API_KEY"
)


def test_build_carries_every_setting_as_separate_argv_elements(tmp_path: Path) -> None:
    agent = AgentConfig(
        name="claude",
        preset="claude",
        model="opus",
        max_turns=40,
        options={
            "allowed_tools": ["Read", "Bash(git diff:*)"],
            "disallowed_tools": "WebFetch",
            "permission_mode": "acceptEdits",
            "append_system_prompt": "Never commit.",
        },
    )
    invocation = claude.build(agent, tmp_path / "p.md", tmp_path)
    argv = list(invocation.argv)
    assert argv[:5] == ["claude", "-p", "--output-format", "stream-json", "--verbose"]
    assert argv[argv.index("--model") + 1] == "opus"
    assert argv[argv.index("--max-turns") + 1] == "40"
    assert argv[argv.index("--permission-mode") + 1] == "acceptEdits"
    assert argv[argv.index("--append-system-prompt") + 1] == "Never commit."
    allowed = argv.index("--allowedTools")
    assert argv[allowed + 1 : allowed + 3] == ["Read", "Bash(git diff:*)"]
    assert argv[argv.index("--disallowedTools") + 1] == "WebFetch"
    assert invocation.prompt_on_stdin


def test_edits_are_allowed_by_default(tmp_path: Path) -> None:
    argv = list(claude.build(AGENT, tmp_path / "p.md", tmp_path).argv)
    assert argv[argv.index("--permission-mode") + 1] == "acceptEdits"
    assert "--allowedTools" not in argv and "--append-system-prompt" not in argv


def test_bad_option_type_is_a_one_line_error(tmp_path: Path) -> None:
    agent = AgentConfig(name="c", preset="claude", options={"allowed_tools": {"a": 1}})
    with pytest.raises(MarathonError, match=r"agents\.c\.options\.allowed_tools"):
        claude.build(agent, tmp_path / "p.md", tmp_path)


def test_success_records_cost_tokens_turns_session(tmp_path: Path) -> None:
    result, _ = run_preset(claude.PRESET, AGENT, tmp_path, "Implement PROJ-5")
    assert result.ok, result.error
    assert result.error == ""
    assert result.cost_usd == pytest.approx(0.0123)
    assert result.input_tokens == 12 + 300 + 700  # uncached + cache writes + cache reads
    assert result.output_tokens == 85
    assert result.turns == 3
    assert len(result.session_id) == 36
    assert result.summary.startswith("Done")
    assert (tmp_path / "claude_output.txt").read_text() == "Implement PROJ-5"


def test_error_result_with_exit_zero_fails(tmp_path: Path) -> None:
    result, _ = run_preset(claude.PRESET, AGENT, tmp_path, "x", mode="error_result")
    assert not result.ok
    assert "error_during_execution" in result.error
    assert "529 Overloaded" in result.error
    assert result.cost_usd == pytest.approx(0.0123)  # a failed run still cost money


def test_max_turns_fails_with_clear_error(tmp_path: Path) -> None:
    result, _ = run_preset(claude.PRESET, AGENT, tmp_path, "x", mode="max_turns")
    assert not result.ok
    assert "turn limit after 40 turns" in result.error
    assert "max_turns" in result.error
    assert result.turns == 40


def test_permission_denials_are_surfaced(tmp_path: Path) -> None:
    result, _ = run_preset(claude.PRESET, AGENT, tmp_path, "x", mode="permission_denied")
    (denial,) = result.permission_denials
    assert denial.startswith("Write(") and denial.endswith("/claude_output.txt)")
    assert not (tmp_path / "claude_output.txt").exists()
    # The run itself succeeded; whether an empty diff is acceptable is the runner's call.
    assert result.ok


def test_garbage_output_fails(tmp_path: Path) -> None:
    result, _ = run_preset(claude.PRESET, AGENT, tmp_path, "x", mode="garbage")
    assert not result.ok
    assert "no stream-json messages" in result.error


def test_crash_reports_exit_status_and_last_line(tmp_path: Path) -> None:
    result, _ = run_preset(claude.PRESET, AGENT, tmp_path, "x", mode="crash")
    assert not result.ok
    assert result.error.startswith("claude exited with status 1")
    assert "could not reach the model API" in result.error


def test_cut_short_stream_fails() -> None:
    init = {"type": "system", "subtype": "init", "session_id": "s-1"}
    result = claude.parse(0, json.dumps(init) + "\n")
    assert not result.ok
    assert "without a final `result` message" in result.error
    assert result.session_id == "s-1"


@pytest.mark.parametrize("as_array", [False, True])
def test_json_output_format_object_or_array(tmp_path: Path, as_array: bool) -> None:
    import subprocess

    env = fake_env("success", **({"FAKE_CLAUDE_JSON_ARRAY": "1"} if as_array else {}))
    completed = subprocess.run(
        ["claude", "-p", "--output-format", "json"],
        input=b"x",
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,
    )
    output = completed.stdout.decode()
    assert output.lstrip().startswith("[" if as_array else "{")
    result = claude.parse(completed.returncode, output)
    assert result.ok and result.turns == 3 and result.cost_usd == pytest.approx(0.0123)


def test_success_subtype_with_is_error_fails() -> None:
    message = {
        "type": "result",
        "subtype": "success",
        "is_error": True,
        "result": "Invalid API key · Fix external API key",
        "session_id": "s",
    }
    result = claude.parse(0, json.dumps(message))
    assert not result.ok
    assert result.error == "claude reported an error: Invalid API key · Fix external API key"


def test_nonzero_exit_after_success_result_fails() -> None:
    message = {"type": "result", "subtype": "success", "is_error": False, "result": "ok"}
    result = claude.parse(1, json.dumps(message))
    assert not result.ok
    assert "exited with status 1" in result.error


def test_long_denied_paths_keep_their_file_name() -> None:
    path = "/very/long/" + "d" * 100 + "/target.py"
    message = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "permission_denials": [
            {"tool_name": "Edit", "tool_use_id": "t", "tool_input": {"file_path": path}}
        ],
    }
    (denial,) = claude.parse(0, json.dumps(message)).permission_denials
    assert denial.startswith("Edit(...") and denial.endswith("/target.py)")
    assert len(denial) == len("Edit()") + 80


def test_legacy_cost_field_is_read() -> None:
    message = {"type": "result", "subtype": "success", "is_error": False, "cost_usd": 0.5}
    assert claude.parse(0, json.dumps(message)).cost_usd == 0.5


def test_missing_binary_names_preset_and_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MarathonError) as caught:
        get_preset(AGENT)
    message = caught.value.one_line()
    assert "claude preset" in message
    assert "npm install -g @anthropic-ai/claude-code" in message
    assert "agents.claude.preset" in message


def test_killed_run_error_does_not_quote_json() -> None:
    init = json.dumps({"type": "system", "subtype": "init", "session_id": "s"})
    result = claude.parse(-15, init + "\n")
    assert result.error == "claude exited with status -15"


def test_real_not_logged_in_stream_fails_with_a_hint() -> None:
    """claude-code 2.1.197 without login: a synthetic assistant message with `error`, then a
    `success` result with `is_error: true`, exit 1."""
    result = claude.parse(1, (FIXTURES / "claude-2.1.197-not-logged-in.jsonl").read_text())
    assert not result.ok
    assert result.error == NOT_LOGGED_IN
    assert result.session_id == "eea29d61-63f0-45f2-b45f-46e9218630df"
    assert result.cost_usd == 0 and result.turns == 1


def test_fake_not_logged_in_mode(tmp_path: Path) -> None:
    result, _ = run_preset(claude.PRESET, AGENT, tmp_path, "x", mode="not_logged_in")
    assert result.error == NOT_LOGGED_IN
    assert not (tmp_path / "claude_output.txt").exists()


def _shape(value: object) -> object:
    """A JSON value's structure: the keys of objects, the element shape of lists, the type of
    the rest."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _fits(fake: object, real: object, where: str = "") -> list[str]:
    """Where `fake` has a key the real message lacks or a value of another type."""
    if isinstance(fake, dict):
        if not isinstance(real, dict):
            return [where]
        return [
            problem
            for key, item in fake.items()
            for problem in (
                _fits(item, real[key], f"{where}.{key}") if key in real else [f"{where}.{key}"]
            )
        ]
    if isinstance(fake, list):
        return [] if not fake or not real else _fits(fake[0], real[0], f"{where}[0]")
    return [] if fake == real or {fake, real} == {"int", "float"} else [where]


def test_fake_not_logged_in_stream_has_the_real_shape(tmp_path: Path) -> None:
    """The fake trims fields but keeps the names, types and nesting of the real stream."""
    _, output = run_preset(claude.PRESET, AGENT, tmp_path, "x", mode="not_logged_in")
    real_text = (FIXTURES / "claude-2.1.197-not-logged-in.jsonl").read_text()
    fake_messages = [json.loads(line) for line in output.splitlines()]
    real_messages = [json.loads(line) for line in real_text.splitlines()]
    assert [(m["type"], m.get("subtype")) for m in fake_messages] == [
        (m["type"], m.get("subtype")) for m in real_messages
    ]
    for fake_message, real_message in zip(fake_messages, real_messages, strict=True):
        assert _fits(_shape(fake_message), _shape(real_message)) == []
    assert fake_messages[1]["message"]["model"] == "<synthetic>"
    assert fake_messages[1]["error"] == "authentication_failed"
    assert "errors" not in fake_messages[2]


def test_api_retry_messages_are_ignored(tmp_path: Path) -> None:
    result, output = run_preset(claude.PRESET, AGENT, tmp_path, "x", mode="reconnect")
    assert output.count('"subtype":"api_retry"') == 2
    assert result.ok, result.error
    assert result.turns == 3 and result.summary.startswith("Done")


def test_real_api_failure_after_retries() -> None:
    """claude-code 2.1.197 with a key but no network: 10 `api_retry` messages, then a synthetic
    assistant message with `"error": "server_error"` and an error result (no login hint)."""
    result = claude.parse(1, (FIXTURES / "claude-2.1.197-api-unreachable.jsonl").read_text())
    assert result.error == (
        "claude reported an error: API Error: Unable to connect to API (ConnectionRefused) "
        "(exit status 1)"
    )
    assert result.session_id == "03d5164d-6643-434c-b703-1cd3e330c628"


def test_real_stream_cut_short_while_retrying() -> None:
    """The runner parses a timed-out run's output with status 0: it ends on `api_retry`."""
    output = (FIXTURES / "claude-2.1.197-api-retry-cut-short.jsonl").read_text()
    result = claude.parse(0, output)
    assert not result.ok
    assert result.error == (
        "claude's output ended without a final `result` message (the run was cut short?); "
        "it was retrying the API (attempt 8/10, error: unknown)"
    )
    assert result.session_id == "ffd6f4a4-7b4c-4f40-89c4-1fef7dbdc53f"
    assert claude.parse(-15, output).error == (
        "claude exited with status -15; it was retrying the API (attempt 8/10, error: unknown)"
    )
