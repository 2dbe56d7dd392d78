"""The preset registry: preset name -> Preset, and the one lookup the engine uses.

`get_preset` is where "unknown agent preset" and "agent binary not installed" become one clear
MarathonError at load time, before any phase runs, instead of a failed subprocess mid-marathon.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from engine.agents import aider, claude, codex, command, gemini, replay
from engine.agents.base import Preset
from engine.config.model import AgentConfig
from engine.errors import MarathonError, did_you_mean

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        claude.PRESET,
        codex.PRESET,
        aider.PRESET,
        gemini.PRESET,
        command.PRESET,
        replay.PRESET,
    )
}

try:  # the lead's sleeping stand-in agent for benchmarks, when present
    from engine.agents import standin as _standin

    PRESETS["standin"] = _standin.PRESET
except (ImportError, AttributeError):
    pass


def get_preset(agent: AgentConfig, *, check_binary: bool = True) -> Preset:
    """The preset `agent` names; with `check_binary`, also prove its program can be started."""
    preset = PRESETS.get(agent.preset)
    if preset is None:
        raise MarathonError(
            f"unknown agent preset '{agent.preset}'" + did_you_mean(agent.preset, tuple(PRESETS)),
            where=f"agents.{agent.name}.preset",
        )
    if check_binary:
        program = preset.binary or (agent.command[0] if agent.command else "")
        if not program:
            raise MarathonError(
                "the command preset needs `command:` (an argument list)",
                where=f"agents.{agent.name}",
            )
        if not is_installed(program):
            raise MarathonError(
                f"agent '{agent.name}' uses the {preset.name} preset, but `{program}` is not "
                f"installed or not on PATH: {preset.install_hint}, or change "
                f"agents.{agent.name}.preset",
                where=f"agents.{agent.name}",
                exit_code=2,
            )
    return preset


def is_installed(program: str) -> bool:
    """True when `program` (a name looked up on PATH, or a path) is an executable file."""
    if os.sep in program or (os.altsep and os.altsep in program):
        path = Path(program)
        return path.is_file() and os.access(path, os.X_OK)
    return shutil.which(program) is not None
