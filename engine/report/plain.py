"""Plain lines for a log file, CI or a pipe: no colours, no cursor movement, one write per block.

A heartbeat line lists what is still running every MARATHON_HEARTBEAT seconds (default 30,
0 turns it off), so a long agent phase on CI shows signs of life and its elapsed time.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import TextIO

from engine.report import events as ev
from engine.report.events import Event, display_path, format_duration
from engine.report.state import RunState

DEFAULT_HEARTBEAT = 30.0


def summary_line(summary: dict[str, object]) -> str:
    """`ran 3, up to date 5, failed 1, wall 12.3s` plus counts that are not zero. Interrupted
    tasks are their own count: doit reports most of them as failures, which they are not."""
    interrupted = int(summary.get("interrupted") or 0)  # type: ignore[call-overload]
    failed = int(summary["failed"])  # type: ignore[call-overload]
    if failed >= interrupted:
        failed -= interrupted
    parts = [
        f"ran {summary['ran']}",
        f"up to date {summary['up_to_date']}",
        f"failed {failed}",
    ]
    if interrupted:
        parts.append(f"interrupted {interrupted}")
    if summary.get("not_run") and not summary.get("refused"):
        parts.append(f"not run {summary['not_run']}")
    if summary.get("refused"):
        parts.append("refused: another doit holds the workspace lock")
    if summary.get("ignored"):
        parts.append(f"ignored {summary['ignored']}")
    wall = summary.get("wall")
    parts.append(f"wall {format_duration(wall if isinstance(wall, float | int) else None)}")
    return ", ".join(parts)


def report_lines(summary: dict[str, object]) -> str:
    """Where the timeline of the run went (or why it did not), and the issues a failure filed,
    as lines under the summary."""
    text = ""
    if summary.get("report"):
        text += f"   timeline: {display_path(str(summary['report']))}\n"
    if summary.get("report_error"):
        text += f"   {summary['report_error']}\n"
    if summary.get("filed_error"):
        text += f"   {summary['filed_error']}\n"
    filed = summary.get("filed")
    if isinstance(filed, list) and filed:
        text += f"   filed or reopened during this run: {'; '.join(map(str, filed))}\n"
        text += "   run the same command again: it does them first\n"
    return text


def failure_body(event: Event) -> str:
    """The log tail, closed by the engine's one-line reason when it has one (a long or
    multi-line message is doit's own dump of a failed command, whose output is the tail)."""
    body = event.tail or ""
    message = (event.message or "").strip()
    if message and "\n" not in message and len(message) <= 400 and message not in body:
        body = f"{body.rstrip()}\n{message}" if body else message
    return body or event.message or "(no output)"


def failure_text(event: Event) -> str:
    """The failure block every human mode prints: a header, the tail, a footer."""
    assert event.task is not None
    where = f" (log: {display_path(event.task.log)})" if event.task.log else ""
    header = f"---- {event.task.name} failed: {event.error}{where} ----"
    body = failure_body(event)
    return f"{header}\n{body.rstrip()}\n---- end of {event.task.name} ----\n"


class PlainSink:
    def __init__(self, out: TextIO, heartbeat: float | None = None) -> None:
        self.out = out
        self.heartbeat = _heartbeat_setting() if heartbeat is None else heartbeat
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state: RunState | None = None

    def open(self, state: RunState) -> None:
        self._state = state
        if self.heartbeat > 0:
            self._thread = threading.Thread(target=self._beat, daemon=True, name="heartbeat")
            self._thread.start()

    def emit(self, event: Event) -> None:
        text = self._render(event)
        if text:
            # Thousands of up-to-date lines need not reach the screen one system call each;
            # the next event of any other kind (or the end of the run) flushes them.
            self._write(text, flush=event.kind != ev.UP_TO_DATE)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        self._write("", flush=True)

    def _render(self, event: Event) -> str:
        task = event.task
        if event.kind == ev.COMPLETE:
            return f"== {summary_line(event.summary)}\n" + report_lines(event.summary)
        if event.kind == ev.RUNTIME_ERROR:
            return f"!! doit: {event.message.rstrip()}\n"
        if event.kind == ev.REFUSED:
            return f"error: {event.message}\n"
        if event.kind == ev.OUTPUT:
            return f"{event.message}\n"
        if task is None or task.is_group:
            return ""
        if event.kind == ev.START:
            log = f"  (log: {display_path(task.log)})" if task.log else ""
            return f".. {task.name}{log}\n"
        if event.kind == ev.SUCCESS:
            return f"ok {task.name}  {format_duration(event.duration)}\n"
        if event.kind == ev.UP_TO_DATE:
            return f"-- {task.name}  up to date\n"
        if event.kind == ev.IGNORED:
            return f"!! {task.name}  ignored\n"
        if event.kind == ev.NOT_RUN:
            return f"xx {task.name}  not run: {event.message.strip()}\n"
        if event.kind == ev.FAILURE and event.error == "InternalError":
            return f"FAIL {task.name}  {format_duration(event.duration)}\nerror: {event.message}\n"
        if event.kind == ev.FAILURE:
            return f"FAIL {task.name}  {format_duration(event.duration)}\n" + failure_text(event)
        return ""

    def _write(self, text: str, *, flush: bool = True) -> None:
        # One write per block: blocks from concurrent tasks can never interleave.
        with self._lock, contextlib.suppress(BrokenPipeError):
            # A reader that stopped early (`| head`) ends the output, not the run.
            self.out.write(text)
            if flush:
                self.out.flush()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            state = self._state
            if state is None or not state.running:
                continue
            now = time.time()
            busy = ", ".join(
                f"{name} {format_duration(now - since)}"
                for name, (info, since) in sorted(state.running.items())
                if not info.is_group
            )
            if busy:
                self._write(f".. still running: {busy}\n")


def _heartbeat_setting() -> float:
    raw = os.environ.get("MARATHON_HEARTBEAT", "")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_HEARTBEAT
    except ValueError:
        return DEFAULT_HEARTBEAT
