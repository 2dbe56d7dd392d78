"""Shared fixtures: temporary workspaces (git repositories) and real doit runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.workspace import scaffold

# A fast pipeline for integration tests: the seed's shape with the stand-in agent.
FAST_PIPELINE = """\
key_prefix: PROJ
agents:
  bot:
    preset: standin
    sleep: {plan: 0.1, code: 0.2, test: 0.6, qa: 0.6}
checks:
  unit: {command: "python -c 'import time; time.sleep(0.5)'", reads: ["src/**"]}
  lint: {command: "python -c 'import time; time.sleep(0.5)'", reads: ["src/**", "tests/**"]}
phases:
  verify: {checks: all}
  plan: {after: [verify], agent: bot, prompt: plan.md.j2, writes: [".marathon/plans/{id}.md"]}
  code:
    after: [plan]
    agent: bot
    prompt: code.md.j2
    reads: [".marathon/plans/{id}.md", "src/**"]
    writes: ["src/**"]
  test:
    {after: [code], agent: bot, prompt: test.md.j2, reads: ["src/**"], writes: ["tests/unit/**"]}
  qa: {after: [code], agent: bot, prompt: qa.md.j2, reads: ["src/**"], writes: ["tests/e2e/**"]}
  exit: {after: [test, qa], builtin: exit}
"""


def doit_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MARATHON_REPORTER", None)
    env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "test"
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "test@localhost"
    return env


def run_doit(
    root: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "doit", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**doit_env(), **(env or {})},
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return scaffold(tmp_path / "ws", pipeline_text=FAST_PIPELINE)
