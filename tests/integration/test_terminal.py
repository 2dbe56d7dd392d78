"""In a real terminal (tmux), nothing printed is lost under or glued to the live panel.

tmux is the terminal emulator: the commands run in its pane with the rich live reporter
(stdout is a tty), and the final screen plus the scrollback must hold every line each command
prints, the same lines as through a pipe. Skipped, with the reason, where tmux is missing.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import doit_env, run_doit

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]
END = "__all_done__"


def in_tmux(ws: Path, commands: list[list[str]], timeout: float = 90) -> list[str]:
    """Run `commands` one after another in a 120x40 tmux pane; the scrollback and screen."""
    socket = f"marathon-test-{os.getpid()}-{time.monotonic_ns()}"
    env = {**doit_env(), "TERM": "xterm-256color", "COLUMNS": "120"}
    script = ws / "commands.sh"
    doit = [sys.executable, "-m", "doit"]
    script.write_text(
        "".join(shlex.join([*doit, *args]) + "\n" for args in commands) + f"echo {END}\n"
    )
    tmux = ["tmux", "-L", socket]
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.isidentifier())
    subprocess.run(
        [
            *tmux,
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            str(ws),
            f"env {exports} bash --norc --noprofile {shlex.quote(str(script))}; sleep 600",
        ],
        check=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            pane = subprocess.run(
                [*tmux, "capture-pane", "-p", "-J", "-S", "-", "-E", "-"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            if f"\n{END}" in pane or pane.startswith(END):
                return [line.rstrip() for line in pane.splitlines()]
            assert time.monotonic() < deadline, pane
            time.sleep(0.2)
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)


def test_every_line_reaches_the_terminal(workspace: Path) -> None:
    ws = workspace
    assert run_doit(ws, "add", "--title", "Add login").returncode == 0
    assert run_doit(ws, "add", "--title", "Add logout", "--after", "PROJ-1").returncode == 0
    screen = in_tmux(
        ws,
        [
            ["-n", "4", "issue:PROJ-1"],
            ["status"],
            ["report"],
            ["graph", "--format", "dot"],
        ],
    )
    text = "\n".join(screen)
    # the run: one line per task, then the summary and where its timeline went
    for phase in ("verify", "plan", "code", "test", "qa", "exit"):
        assert sum(line.startswith(f"✓ issue:PROJ-1:{phase} ") for line in screen) == 1, text
    summary = next(i for i, line in enumerate(screen) if line.startswith("ran 6, up to date"))
    assert screen[summary + 1].startswith("   timeline: .marathon/reports/timeline-"), text
    # the live panel stepped aside: its header is not left behind in the scrollback
    assert not any(line.startswith("running ") and " · ran " in line for line in screen), text
    # the question commands: exactly what they print through a pipe, every line of it
    for args in (["status"], ["report"], ["graph", "--format", "dot"]):
        piped = run_doit(ws, *args).stdout.splitlines()
        assert piped, args
        start = screen.index(piped[0])
        assert screen[start : start + len(piped)] == piped, (args, text)
    assert not any(line.startswith(("ok status", ".. status", "== ran")) for line in screen)
