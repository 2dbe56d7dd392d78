"""Shared fixtures: temporary workspaces (git repositories) and real doit runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
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


def git_stdout(root: Path, *args: str) -> str:
    """git in `root` as a test user; its output, stripped (a failure fails the test)."""
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def doit_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MARATHON_REPORTER", None)
    env.pop("MARATHON_EXECUTOR", None)
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


def start_doit(
    root: Path,
    *args: str,
    env: dict[str, str] | None = None,
    capture: bool = False,
    new_session: bool = False,
) -> subprocess.Popen[str]:
    """doit in the background, for tests that kill or interrupt it part way. `new_session`:
    doit leads its own process group, which a test can kill whole (as a container kill)."""
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "doit", *args],
        cwd=root,
        env={**doit_env(), **(env or {})},
        stdout=out,
        stderr=out,
        text=True,
        start_new_session=new_session,
    )


def wait_for_run(root: Path, task: str, status: str, timeout: float = 60) -> None:
    """Until the records show a run of `task` with `status` (a background doit got there)."""
    from engine.records import Records

    records = Records(root / ".marathon" / "records.db")
    deadline = time.monotonic() + timeout
    while not any(r.task == task and r.status == status for r in records.runs()):
        assert time.monotonic() < deadline, f"{task} never reached {status}"
        time.sleep(0.05)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return scaffold(tmp_path / "ws", pipeline_text=FAST_PIPELINE)
