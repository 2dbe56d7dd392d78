"""Shared behaviour of the fake agent CLIs in this directory (claude, codex, aider, gemini).

Each fake prints what the real CLI prints (shapes copied from runs of claude-code 2.1.197,
codex-cli 0.169.0, gemini-cli 0.61.0 and aider 0.86.2, trimmed), noise lines included.

Environment:
- FAKE_AGENT_MODE: success (default) | error_result | max_turns | permission_denied | hang |
  garbage | crash (exit 1 with a message on stderr) | reconnect (a transient API error, then
  success) | not_logged_in (claude, gemini, aider: what the real CLI prints without
  credentials) | overloaded (claude: the API answered 529 Overloaded after the CLI's own
  retries) | no_write (claude: answers success but writes nothing)
- FAKE_AGENT_MODES with FAKE_AGENT_COUNTER: comma-separated modes, one per call, the last one
  repeated (`overloaded,success`: the first call is overloaded, later ones succeed); the
  counter file keeps the count between calls
  In hang mode each fake prints what the real CLI prints while it cannot reach its API (codex:
  "Reconnecting... waiting for network" forever) and never exits.
- FAKE_AGENT_FILE: the file written into the working directory on success
  (default `<agent>_output.txt`); its content is the prompt the fake received
- FAKE_AGENT_SLEEP: seconds to wait before answering (default 0)
- FAKE_AGENT_LOG: if set, a JSON file recording argv, cwd and the prompt received
- FAKE_AGENT_CHILD_PID_FILE: in hang mode, a sleeping grandchild is started and its pid
  written here, so runner tests can prove the whole process group was killed
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path


def mode() -> str:
    sequence = os.environ.get("FAKE_AGENT_MODES")
    counter = os.environ.get("FAKE_AGENT_COUNTER")
    if sequence and counter:
        path = Path(counter)
        calls = int(path.read_text() or 0) if path.exists() else 0
        path.write_text(str(calls + 1))
        modes = sequence.split(",")
        return modes[min(calls, len(modes) - 1)]
    return os.environ.get("FAKE_AGENT_MODE", "success")


def pause() -> None:
    time.sleep(float(os.environ.get("FAKE_AGENT_SLEEP", "0") or 0))


def read_stdin() -> str:
    if sys.stdin is None or sys.stdin.isatty():
        return ""
    return sys.stdin.read()


def log(agent: str, argv: list[str], prompt: str) -> None:
    path = os.environ.get("FAKE_AGENT_LOG")
    if path:
        Path(path).write_text(
            json.dumps({"agent": agent, "argv": argv, "cwd": os.getcwd(), "prompt": prompt})
        )


def output_file(agent: str, workdir: Path | None = None) -> Path:
    name = os.environ.get("FAKE_AGENT_FILE") or f"{agent}_output.txt"
    return (workdir or Path.cwd()) / name


def write_result(agent: str, prompt: str, workdir: Path | None = None) -> Path:
    target = output_file(agent, workdir)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(prompt)
    return target


def hang(first_line: str = "", repeat: str = "", every: float = 0.2) -> None:
    """Print `first_line`, then `repeat` every `every` seconds (or nothing), never exit."""
    if first_line:
        print(first_line, flush=True)
    pid_file = os.environ.get("FAKE_AGENT_CHILD_PID_FILE")
    if pid_file:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        Path(pid_file).write_text(str(child.pid))
    while True:
        if repeat:
            print(repeat, flush=True)
        time.sleep(every if repeat else 3600)


def garbage() -> int:
    print("Segmentation fault? <html><body>502 Bad Gateway</body></html>")
    print("{not json at all")
    return 0


def crash(agent: str) -> int:
    print(f"{agent}: fatal: could not reach the model API", file=sys.stderr)
    return 1


def new_id() -> str:
    return str(uuid.uuid4())
