"""Progress events: what the console reporter turns doit's callbacks into.

The reporter (console.py) records one `Event` per thing that happened to a task and hands it
to a sink (plain lines, a rich live display, or JSON lines). Keeping the events as plain data
lets every output mode show exactly the same facts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Event kinds, in the words the JSON mode prints.
START = "start"
SUCCESS = "success"
FAILURE = "failure"
UP_TO_DATE = "up-to-date"
IGNORED = "ignored"
NOT_RUN = "not-run"  # a dependency failed, so doit never started this task
RUNTIME_ERROR = "runtime-error"
REFUSED = "refused"  # another doit holds the workspace's run lock: nothing was run
OUTPUT = "output"  # a line a command printed (JSON mode only; the others print it as is)
COMPLETE = "complete"

DEFAULT_TAIL_LINES = 40
# Read at most this much of a log to find its tail: a runaway log must not stall the console.
_TAIL_BYTES = 64 * 1024


@dataclass(frozen=True)
class TaskInfo:
    """What the console needs to know about a doit task, taken from its `meta`."""

    name: str
    kind: str = "task"  # check | phase | group | command | task (a task without our meta)
    issue: str = ""
    phase: str = ""
    log: str = ""  # path of the task's log file, "" when it has none

    @property
    def is_group(self) -> bool:
        return self.kind == "group"


@dataclass(frozen=True)
class Event:
    kind: str
    task: TaskInfo | None
    time: float
    duration: float | None = None  # seconds, for success / failure of a started task
    error: str = ""  # doit's failure class name, e.g. TaskFailed
    message: str = ""  # the failure text (exception message) or a runtime error
    tail: str = ""  # last lines of the log (or the exception text) for a failure
    summary: dict[str, Any] = field(default_factory=dict)  # only for COMPLETE


def task_info(task: Any) -> TaskInfo:
    """Read our `meta` from a doit Task; tasks that are not ours still get a sensible kind."""
    meta = getattr(task, "meta", None) or {}
    kind = str(meta.get("kind") or "")
    if not kind:
        # doit's own convention: a task without actions only groups its task_dep.
        kind = "task" if getattr(task, "actions", None) else "group"
    return TaskInfo(
        name=str(task.name),
        kind=kind,
        issue=str(meta.get("issue") or ""),
        phase=str(meta.get("phase") or ""),
        log=str(meta.get("log") or ""),
    )


def display_path(path: str) -> str:
    """A log path as short as possible for people: relative to the current directory if inside."""
    if not path:
        return ""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


def log_tail(path: str | Path, lines: int = DEFAULT_TAIL_LINES, *, run_marker: str = "") -> str:
    """The last `lines` lines of a log file, "" if it is missing or empty.

    Logs are appended to run after run; when `run_marker` is given (the engine starts each run
    with a line `=== <task> at <time>`), lines before the last such line belong to earlier runs
    and are left out.
    """
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            data = handle.read()
    except OSError:
        return ""
    all_lines = data.decode("utf-8", errors="replace").splitlines()
    if run_marker:
        starts = [i for i, line in enumerate(all_lines) if line.startswith(run_marker)]
        if starts:
            all_lines = all_lines[starts[-1] :]
    kept = all_lines[-lines:] if lines > 0 else []
    return "\n".join(kept)


def tail_lines_setting() -> int:
    """MARATHON_TAIL_LINES overrides how many log lines a failure shows."""
    raw = os.environ.get("MARATHON_TAIL_LINES", "")
    try:
        return max(1, int(raw)) if raw else DEFAULT_TAIL_LINES
    except ValueError:
        return DEFAULT_TAIL_LINES


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
