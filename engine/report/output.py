"""Where the commands people type (`doit status`, `doit graph` ...) print their answer.

A command must never write straight to the terminal while the live panel is drawn there: the
panel's next refresh would overwrite the line. So commands print to `stdout()` / `stderr()`,
which the reporter points at the right place for the run:

* no live panel (a run of commands only, plain lines, a pipe): the real streams, untouched;
* a live panel: a proxy that prints each line above the panel, through the same console;
* MARATHON_REPORTER=json: one `{"event": "output", ...}` object per line, so every line on
  stdout stays JSON.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TextIO

_lock = threading.Lock()
_out: TextIO | None = None
_err: TextIO | None = None


def stdout() -> TextIO:
    return _out or sys.stdout


def stderr() -> TextIO:
    return _err or sys.stderr


def route(out: TextIO | None, err: TextIO | None) -> None:
    """Send command output to `out` / `err` (None: the process's own streams)."""
    global _out, _err
    with _lock:
        _out, _err = out, err


class LineWriter:
    """A text stream that hands each complete line to `emit` (the JSON mode's writer)."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._buffer = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._buffer += text
            *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            rest, self._buffer = self._buffer, ""
        if rest:
            self._emit(rest)

    def isatty(self) -> bool:
        return False
