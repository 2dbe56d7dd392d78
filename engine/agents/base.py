"""The contract between the phase runner and an agent preset.

A preset is plain data plus two pure functions: `build` turns (agent settings, prompt file,
working directory) into an `Invocation` (an argument list, never a shell string), and `parse`
turns (exit code, captured output) into an `AgentResult`. The runner owns processes, timeouts and
logs; presets never start processes themselves, so they can be tested without any.

`scratch` lists the files a tool keeps as its own state inside the working directory (aider's
repo-map cache `.aider.tags.cache.v4/`, for instance), as gitignore-style patterns. They are
neither the agent's work nor a write outside the phase's write set, so they are for the runner
to ignore: listed in the worktree's git exclude file, they are neither checked nor committed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from engine.config.model import AgentConfig


@dataclass(frozen=True)
class Invocation:
    argv: tuple[str, ...]
    prompt_on_stdin: bool = True  # False: stdin is /dev/null (the prompt is in argv or a file)
    # defaults added to the phase's environment; a variable the user has set wins
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentResult:
    ok: bool
    error: str = ""  # one line saying why it failed; "" on success
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    turns: int | None = None
    session_id: str = ""
    permission_denials: tuple[str, ...] = ()
    summary: str = ""  # the agent's final message, when the format has one
    # The CLI says the failure is passing (overloaded, rate limited, network): the runner
    # retries it inside the phase, with backoff, and it never counts as "the same error".
    transient: bool = False


class Preset(NamedTuple):
    name: str
    binary: str  # "" when the argv comes from the user (command preset)
    install_hint: str
    build: Callable[[AgentConfig, Path, Path], Invocation]
    parse: Callable[[int, str], AgentResult]
    # gitignore-style patterns of files the tool writes as its own state (caches, history),
    # relative to the working directory; see the module docstring. Last, with a default, so
    # every Preset(...) written before it still builds.
    scratch: tuple[str, ...] = ()
    # Environment variables (names or fnmatch patterns) the CLI documents and needs: its own
    # credentials and settings. Nothing else of the engine's environment reaches it
    # (engine/run/environment.py).
    env: tuple[str, ...] = ()
    # Files and folders under HOME where the CLI keeps its login and settings: a sandboxed
    # agent (isolation: bwrap) gets them in its private home, nothing else of HOME.
    home: tuple[str, ...] = ()


def parse_by_exit_code(exit_code: int, output: str, *, name: str = "") -> AgentResult:
    """The rule for tools without a structured result: exit 0 is success; a failure says the
    status and the last line the tool printed (`name` prefixes it, e.g. "aider")."""
    if exit_code == 0:
        return AgentResult(ok=True)
    from engine.agents.jsonlines import last_line

    tail = last_line(output)
    who = f"{name} exited" if name else "exited"
    return AgentResult(
        ok=False, error=f"{who} with status {exit_code}" + (f": {tail}" if tail else "")
    )
