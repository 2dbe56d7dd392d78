"""The one error type users see (a single line naming the place and the fix), the exit codes,
and the last-resort handler for everything else.

Exit codes of every `doit` run in a workspace (documented in the README):

    0  everything asked for succeeded or was up to date
    1  a task failed (a phase, a check, an issue skipped by the breaker)
    2  bad input: marathon.yaml, a spec, an unknown task or option, a bad argument; nothing ran
    3  refused: another doit holds this workspace's run lock (MARATHON_WAIT=1 queues instead)
    4  an internal error (a bug): one line on the console, the traceback in a log file
  130  interrupted (Ctrl-C): what ran is recorded as interrupted
"""

from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_LOCKED = 3
EXIT_INTERNAL = 4

INTERNAL_LOG = "internal-error.log"


class MarathonError(Exception):
    """An error caused by the user's input or environment, shown as one line.

    `where` is a location such as ``marathon.yaml:14:5`` or ``app_spec.xml:3``; `exit_code` is 2
    for bad input (nothing was run or written) and 1 for failures while running.
    """

    def __init__(self, message: str, *, where: str = "", exit_code: int = EXIT_BAD_INPUT) -> None:
        self.message = message
        self.where = where
        self.exit_code = exit_code
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return " ".join(text.split("\n"))


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`" (did you mean 'test'?)"` for the closest choice, or a list of what exists."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{close[0]}'?)"
    if choices:
        return f" (expected one of: {', '.join(sorted(choices))})"
    return ""


# -- the last-resort handler ---------------------------------------------------------------

_log_dir: Path | None = None


def set_internal_log_dir(state_dir: Path) -> None:
    """Where internal errors are logged: the workspace's state folder, once it is known."""
    global _log_dir
    _log_dir = state_dir


def internal_log_path() -> Path:
    if _log_dir is not None:
        return _log_dir / INTERNAL_LOG
    local = Path.cwd() / ".marathon"
    if local.is_dir():
        return local / INTERNAL_LOG
    import tempfile

    return Path(tempfile.gettempdir()) / f"marathon-{INTERNAL_LOG}"


def internal_error(where: str, exc: BaseException | None = None, tb_text: str = "") -> str:
    """Log an unexpected exception (traceback, versions, command line) and return the one
    line to show. `tb_text` is a traceback already formatted (doit hands those over as text).

    Like pre-commit's error handler: people see one line and a file to attach to a report.
    """
    if exc is not None and not tb_text:
        tb_text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if exc is not None:
        summary = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    else:
        summary = _last_line(tb_text)
    path = internal_log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_log_text(where, tb_text or summary), encoding="utf-8")
        shown = _display(path)
        tail = f"the traceback and versions are in {shown}: please attach it to a bug report"
    except OSError as write_error:
        tail = f"(could not write {path}: {write_error.strerror})"
    return f"internal error in {where}: {summary}; {tail}"


def _last_line(tb_text: str) -> str:
    """`Type: message` of a formatted traceback: what follows its last indented line (the
    message may span lines)."""
    lines = tb_text.rstrip().splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith(" ")]
    tail = lines[frames[-1] + 1 :] if frames else lines[-1:]
    return " ".join(" ".join(tail).split())[:300] or "unknown error"


def _log_text(where: str, tb_text: str) -> str:
    from importlib import metadata

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return (
        f"# marathon-engine internal error, {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
        f"where:          {where}\n"
        f"command:        {' '.join(sys.argv)}\n"
        f"cwd:            {os.getcwd()}\n"
        f"python:         {sys.version.split()[0]} ({sys.executable})\n"
        f"platform:       {platform.platform()}\n"
        f"marathon-engine {version('marathon-engine')}\n"
        f"doit            {version('doit')}\n\n"
        f"{tb_text.rstrip()}\n"
    )


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
