"""The preset registry, the command preset and the JSON-finding helper."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.agents import command
from engine.agents.jsonlines import json_objects, last_line, last_text_line, strip_ansi
from engine.agents.presets import PRESETS, get_preset
from engine.config.model import AgentConfig
from engine.errors import MarathonError
from tests.fakes.agents import run_preset


def test_registry_has_every_real_preset() -> None:
    assert {"claude", "codex", "aider", "gemini", "command", "replay"} <= set(PRESETS)
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert isinstance(preset.scratch, tuple)


def test_unknown_preset_suggests_the_closest() -> None:
    with pytest.raises(MarathonError) as caught:
        get_preset(AgentConfig(name="x", preset="cladue"), check_binary=False)
    assert caught.value.where == "agents.x.preset"
    assert "did you mean 'claude'" in caught.value.message


def test_check_binary_false_skips_the_path_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    agent = AgentConfig(name="c", preset="claude")
    assert get_preset(agent, check_binary=False).name == "claude"


def test_command_preset_runs_argv_with_prompt_on_stdin(tmp_path: Path) -> None:
    script = "import sys; data = sys.stdin.read(); open('out.txt', 'w').write(data)"
    agent = AgentConfig(name="sh", preset="command", command=(sys.executable, "-c", script))
    preset = get_preset(agent)
    result, _ = run_preset(preset, agent, tmp_path, "issue text; $(rm -rf /) `x`")
    assert result.ok
    assert (tmp_path / "out.txt").read_text() == "issue text; $(rm -rf /) `x`"


def test_command_preset_failure_carries_last_line(tmp_path: Path) -> None:
    script = "import sys; print('first'); print('it broke'); sys.exit(3)"
    agent = AgentConfig(name="sh", preset="command", command=(sys.executable, "-c", script))
    result, _ = run_preset(command.PRESET, agent, tmp_path, "x")
    assert not result.ok
    assert result.error == "exited with status 3: it broke"


def test_command_preset_missing_program() -> None:
    agent = AgentConfig(name="mine", preset="command", command=("no-such-agent-binary", "-x"))
    with pytest.raises(MarathonError) as caught:
        get_preset(agent)
    assert "`no-such-agent-binary` is not installed" in caught.value.message
    assert "change `command:`" in caught.value.message


def test_command_preset_without_command() -> None:
    with pytest.raises(MarathonError, match="needs `command:`"):
        get_preset(AgentConfig(name="mine", preset="command"))


def test_json_objects_handles_mixed_and_pretty_output() -> None:
    output = 'log line\n{\n  "a": 1,\n  "b": [1, 2]\n}\n{"c": 2}\nnot json {\n[{"d": 3}, 4]\n'
    assert json_objects(output) == [{"a": 1, "b": [1, 2]}, {"c": 2}, {"d": 3}]


def test_extra_args_reach_the_cli(tmp_path: Path) -> None:
    from engine.agents import codex

    agent = AgentConfig(name="c", preset="codex", options={"extra_args": ["--skip-git-repo-check"]})
    argv = codex.build(agent, tmp_path / "p.md", tmp_path).argv
    assert argv[-2:] == ("--skip-git-repo-check", "-")


def test_line_helpers_strip_escape_sequences() -> None:
    red = "\x1b[31mGemini CLI is not running in a trusted directory.\x1b[0m"
    assert last_line(red) == "Gemini CLI is not running in a trusted directory."
    assert last_text_line('{"a": 1}\n' + red + "\n") == (
        "Gemini CLI is not running in a trusted directory."
    )
    link = "see \x1b]8;;https://x.test\x1b\\the docs\x1b]8;;\x1b\\ \x1b[1;38;5;208mnow\x1b[m\x1b(B"
    assert strip_ansi(link) == "see the docs now"
    assert strip_ansi("plain [text] {x}") == "plain [text] {x}"


def test_last_text_line_skips_stack_frames() -> None:
    output = (
        "Attempt 1 failed. Retrying with backoff... Error: fetch failed\n"
        "    at file:///cli/bundle/chunk.js:267671:13\n"
        "    at async GeminiClient.processTurn (file:///cli/bundle/chunk.js:346675:22)\n"
    )
    assert (
        last_text_line(output) == "Attempt 1 failed. Retrying with backoff... Error: fetch failed"
    )
    # an indented line that only starts with "at" is text, not a frame
    assert last_text_line(output + "  at least one test failed\n") == "at least one test failed"


def test_exit_code_errors_carry_no_escape_sequences(tmp_path: Path) -> None:
    """parse_by_exit_code (command, aider, stand-in) quotes the last line without colours."""
    script = "import sys; print('\\x1b[31mit broke\\x1b[0m'); sys.exit(3)"
    agent = AgentConfig(name="sh", preset="command", command=(sys.executable, "-c", script))
    result, output = run_preset(command.PRESET, agent, tmp_path, "x")
    assert "\x1b[31m" in output
    assert result.error == "exited with status 3: it broke"
