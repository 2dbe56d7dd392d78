"""Run a preset's Invocation against the fake CLIs in tests/fakes/bin, the way the runner would.

A deliberately small stand-in for the lead's runner: argv list, cwd = workdir, the prompt on
stdin or /dev/null, stdout and stderr captured together (the harder case for the parsers).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from engine.agents.base import AgentResult, Preset
from engine.config.model import AgentConfig

FAKE_BIN = Path(__file__).parent / "bin"


def fake_env(mode: str = "success", **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{FAKE_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["FAKE_AGENT_MODE"] = mode
    env.update(extra)
    return env


def run_preset(
    preset: Preset,
    agent: AgentConfig,
    workdir: Path,
    prompt: str,
    mode: str = "success",
    timeout: float = 30,
    **extra_env: str,
) -> tuple[AgentResult, str]:
    prompt_file = workdir / ".prompt.md"
    prompt_file.write_text(prompt)
    invocation = preset.build(agent, prompt_file, workdir)
    env = {**fake_env(mode, **extra_env), **invocation.env}
    with prompt_file.open("rb") as prompt_in:
        completed = subprocess.run(
            list(invocation.argv),
            cwd=workdir,
            env=env,
            stdin=prompt_in if invocation.prompt_on_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    prompt_file.unlink()
    output = completed.stdout.decode("utf-8", "replace")
    return preset.parse(completed.returncode, output), output
