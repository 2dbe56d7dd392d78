"""doit reporters: live progress for people, plain lines for pipes, JSON lines for machines.

doit builds a reporter as `Reporter(outstream, options)` and calls it as tasks are selected,
started and finished. With `-n N` most calls come from the main thread, but doit's thread
runner calls `execute_task` and `teardown_task` from worker threads, so every call takes
`self._lock`. Each callback becomes an `Event` (events.py) that a sink renders:

* `MarathonReporter` picks the sink from MARATHON_REPORTER=rich|plain|json (default auto:
  rich when the output is a terminal, plain otherwise);
* `RichReporter`, `PlainReporter`, `JsonReporter` force one mode (for doit's `--reporter`).

Task metadata comes from the task dict's `meta` (log, issue, phase, kind). Tasks whose kind is
"group" only do bookkeeping for doit: human modes never print a line for them and count them
only when doit skips them as up to date; the JSON mode reports them like any other task.

A run of commands only (`doit status`, `doit graph --format dot`, `doit -n 4 demo`) is a
question, not a build: the human modes print nothing of their own then (no panel, no "ok", no
summary), so the answer is all there is. Commands print through `engine.report.output`, which
the reporter points above the live panel, or into JSON events.

The reporter also decides the run's exit code (engine/errors.py): a failed task 1, a command's
bad input 2, a refused lock 3, an internal error 4; `engine.doit_run` returns it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Protocol, TextIO

from engine.errors import EXIT_FAILED, EXIT_INTERNAL, EXIT_LOCKED, EXIT_OK, internal_error
from engine.report import events as ev
from engine.report import output
from engine.report.events import Event, TaskInfo, log_tail, tail_lines_setting, task_info
from engine.report.jsonl import JsonSink
from engine.report.plain import PlainSink
from engine.report.state import RunState

MODES = ("auto", "rich", "plain", "json")
ENV_VAR = "MARATHON_REPORTER"
RUN_MARKER = "==="  # engine/run writes "=== <task> at <time>" when a run starts its log


class Sink(Protocol):
    def open(self, state: RunState) -> None: ...
    def emit(self, event: Event) -> None: ...
    def close(self) -> None: ...


class QuietSink:
    """A run of commands only: the commands' own output is the whole answer."""

    def open(self, state: RunState) -> None:
        pass

    def emit(self, event: Event) -> None:
        pass

    def close(self) -> None:
        pass


# doit's message for an exception raised inside a Python action (not returned as a failure)
_ACTION_EXCEPTION = "PythonAction Error"


def choose_mode(outstream: TextIO, requested: str | None = None) -> str:
    """The mode to use: `requested`, else MARATHON_REPORTER, else by whether out is a tty."""
    mode = (requested or os.environ.get(ENV_VAR, "") or "auto").strip().lower()
    if mode not in MODES:
        # A typo in an environment variable should not stop a run; fall back and say so.
        sys.stderr.write(
            f"marathon: {ENV_VAR}={mode!r} is not one of {', '.join(MODES)}; using auto\n"
        )
        mode = "auto"
    if mode == "auto":
        isatty = getattr(outstream, "isatty", None)
        mode = "rich" if callable(isatty) and isatty() else "plain"
    return mode


def make_sink(mode: str, outstream: TextIO, options: dict[str, Any]) -> Sink:
    if mode == "json":
        return JsonSink(outstream)
    if mode == "rich":
        # rich loads only for a terminal: pipes, CI and JSON never pay for its import.
        from rich.console import Console

        from engine.report.live import RichSink

        console = options.get("console")
        if not isinstance(console, Console):
            console = Console(file=outstream, force_terminal=options.get("force_terminal"))
        return RichSink(console)
    return PlainSink(outstream, heartbeat=options.get("heartbeat"))


# Runs reaching more tasks than this report up-to-date tasks as a count only.
UP_TO_DATE_LINES = 200


class MarathonReporter:
    """The reporter for our tasks; the mode comes from MARATHON_REPORTER (auto by default)."""

    desc = "marathon progress: live on a terminal, plain lines otherwise (MARATHON_REPORTER)"
    mode: str | None = None  # subclasses fix a mode

    def __init__(self, outstream: TextIO, options: dict[str, Any] | None = None) -> None:
        options = dict(options or {})
        self.outstream = outstream
        self.mode_used = choose_mode(outstream, self.mode or options.get("mode"))
        self.sink: Sink = make_sink(self.mode_used, outstream, options)
        self.state = RunState()
        self.tail_lines = tail_lines_setting()
        self._lock = threading.RLock()
        self._opened = False
        self._infos: dict[str, TaskInfo] = {}
        self._expected: dict[str, Any] = {}  # tasks this run should reach, by name
        self._finished: set[str] = set()  # tasks that got a final event
        self._list_up_to_date = True
        self._exit_code = EXIT_OK
        self._current = TaskInfo(name="")  # the task output events are attributed to
        self.not_run: list[tuple[str, str]] = []  # (task, why) never started, for the report

    # -- doit's reporter interface ----------------------------------------------------

    def initialize(self, tasks: Any, selected_tasks: Any) -> None:
        with self._lock:
            self._expected = _reachable(tasks, selected_tasks)
            # A run that reaches thousands of tasks would print thousands of "up to date"
            # lines: people get the count in the summary instead (JSON still has each one).
            self._list_up_to_date = (
                self.mode_used == "json" or len(self._expected) <= UP_TO_DATE_LINES
            )
            if self.mode_used != "json" and self._expected and _commands_only(self._expected):
                self.sink = QuietSink()
            self._open()

    def get_status(self, task: Any) -> None:
        pass  # selection is not news; start / skip events follow

    def execute_task(self, task: Any) -> None:
        with self._lock:
            self._open()
            info = self._info(task, final=False)
            now = time.time()
            self._current = info
            self.state.start(info, now)
            self.sink.emit(Event(ev.START, info, now))

    def add_success(self, task: Any) -> None:
        with self._lock:
            info = self._info(task)
            now = time.time()
            since = self.state.stop(info.name)
            if info.is_group:
                pass  # a group did no work of its own: not "ran"
            else:
                self.state.ran += 1
            duration = None if since is None else now - since
            self.sink.emit(Event(ev.SUCCESS, info, now, duration=duration))

    def add_failure(self, task: Any, fail: Any) -> None:
        with self._lock:
            self._open()
            info = self._info(task)
            now = time.time()
            since = self.state.stop(info.name)
            name = _fail_name(fail)
            message = _fail_message(fail)
            if since is None and name == "UnmetDependency":
                # Never started because something it needs failed: that failure is the news.
                # (doit's message is the names of the tasks it waited for.)
                reason = f"needs {', '.join(message.split())}, which did not succeed"
                if not info.is_group:
                    self.state.not_run += 1
                    self.not_run.append((info.name, reason))
                if not (self.state.refused and self.mode_used != "json"):
                    # (after a refused lock, "not run" under every task says nothing new)
                    self.sink.emit(Event(ev.NOT_RUN, info, now, error=name, message=reason))
                return
            if self.is_lock_refusal(message):
                # Not a failure of the task: it never began. Every task says the same: once.
                self._raise_exit(EXIT_LOCKED)
                self.state.refused += 1
                if self.state.refused == 1:
                    self.sink.emit(Event(ev.REFUSED, info, now, message=message.strip()))
                return
            self.state.failed += 1
            if since is not None:
                self.state.ran += 1
            code = getattr(fail, "exit_code", None)
            if name == "TaskError" and message.startswith(_ACTION_EXCEPTION):
                # An exception escaped the action: a bug. One line here, the rest in a log.
                self._raise_exit(EXIT_INTERNAL)
                traceback_text = "".join(getattr(fail, "traceback", ()) or ())
                line = internal_error(info.name, tb_text=traceback_text)
                self.sink.emit(
                    Event(
                        ev.FAILURE,
                        info,
                        now,
                        duration=None if since is None else now - since,
                        error="InternalError",
                        message=line,
                        tail=line,
                    )
                )
                return
            self._raise_exit(code if isinstance(code, int) and code else EXIT_FAILED)
            tail = ""
            if info.log:
                marker = f"{RUN_MARKER} {info.name} at "
                tail = log_tail(info.log, self.tail_lines, run_marker=marker)
            if not tail:
                tail = _fallback_output(task, message)
            self.sink.emit(
                Event(
                    ev.FAILURE,
                    info,
                    now,
                    duration=None if since is None else now - since,
                    error=name,
                    message=message,
                    tail=tail,
                )
            )

    def skip_uptodate(self, task: Any) -> None:
        with self._lock:
            self._open()
            self.state.up_to_date += 1
            if not self._list_up_to_date:
                self._finished.add(task.name)
                return
            info = self._info(task)
            self.sink.emit(Event(ev.UP_TO_DATE, info, time.time()))

    def skip_ignore(self, task: Any) -> None:
        with self._lock:
            self._open()
            info = self._info(task)
            self.state.ignored += 1
            self.sink.emit(Event(ev.IGNORED, info, time.time()))

    def output(self, line: str) -> None:
        """One line a command printed (JSON mode: every line on stdout is an event)."""
        with self._lock:
            self.sink.emit(Event(ev.OUTPUT, self._current, time.time(), message=line))

    def exit_code(self, doit_result: int) -> int:
        """The run's exit code (engine/errors.py) given what doit's runner returned."""
        if self._exit_code != EXIT_OK:
            return self._exit_code
        if doit_result == EXIT_OK:
            return EXIT_OK
        # doit's own 2 ("error while executing a task") is never our bad input: a bug.
        return EXIT_INTERNAL if self.state.errors else EXIT_FAILED

    def is_lock_refusal(self, message: str) -> bool:
        """Did a task fail because another doit holds the run lock (engine/run/lock.py)?"""
        return "run.lock: another doit" in message

    def _raise_exit(self, code: int) -> None:
        self._exit_code = max(self._exit_code, code)

    def cleanup_error(self, exception: Any) -> None:
        self.runtime_error(_fail_message(exception))

    def runtime_error(self, msg: str) -> None:
        with self._lock:
            self._open()
            self.state.errors.append(str(msg))
            self.sink.emit(Event(ev.RUNTIME_ERROR, None, time.time(), message=str(msg)))

    def teardown_task(self, task: Any) -> None:
        pass  # teardown output goes to the task's own log like its actions'

    def complete_run(self) -> None:
        with self._lock:
            self._open()
            now = time.time()
            self._report_unreached(now)
            for info, _ in self.state.running.values():
                if not info.is_group:
                    message = "interrupted: the run stopped while it ran"
                    self.sink.emit(
                        Event(ev.NOT_RUN, info, now, error="Interrupted", message=message)
                    )
            summary = self.state.summary(now)
            # The live panel goes first so the summary is the last line on the terminal.
            self.sink.close()
            output.route(None, None)
            summary["filed"] = []
            # Ctrl-C stops doit with tasks still running (they get no event from doit), or
            # ends them as failures: the records say which were interrupted.
            still = [info for info, _ in self.state.running.values() if not info.is_group]
            if self.state.failed or self.state.errors or still:
                try:
                    recorded = len(self.interrupted_tasks())
                except Exception:  # the records must not break the end of a run
                    recorded = 0
                summary["interrupted"] = max(recorded, len(still))
            if still:
                summary["ok"] = False
                self._raise_exit(EXIT_FAILED)
            if self.state.failed:
                # A failing gate files (or reopens) bug issues; doit's graph was fixed at
                # load, so the next run is the one that does them, first.
                try:
                    summary["filed"] = self.filed_issues()
                except Exception as exc:  # the tracker must not break the end of a run
                    summary["filed_error"] = f"could not read the tracker: {exc}"
            if self.state.ran:
                try:
                    summary["report"] = self.write_report()
                except Exception as exc:  # a report problem must not fail a finished run
                    summary["report"] = ""
                    summary["report_error"] = f"timeline report not written: {exc}"
            self.sink.emit(Event(ev.COMPLETE, None, now, summary=summary))

    def write_report(self) -> str:
        """Called once after a run in which a task ran; the path of a report written, or "".

        `engine.report.session.reporter_for(state_dir)` makes a reporter whose override writes
        the timeline of the run.
        """
        return ""

    def interrupted_tasks(self) -> list[str]:
        """Tasks of this run recorded as interrupted (Ctrl-C, SIGTERM); none by default."""
        return []

    def filed_issues(self) -> list[str]:
        """Issues (as "ID title") opened while this run went on: filed, or reopened; none by
        default.

        `engine.report.session.reporter_for` makes a reporter that reads the tracker."""
        return []

    # -- helpers ------------------------------------------------------------------------

    def _open(self) -> None:
        if not self._opened:
            self._opened = True
            self.sink.open(self.state)
            if self.mode_used == "json":
                output.route(output.LineWriter(self.output), None)
            else:
                streams = getattr(self.sink, "streams", None)
                output.route(*(streams() if callable(streams) else (None, None)))

    def _info(self, task: Any, *, final: bool = True) -> TaskInfo:
        """TaskInfo of `task`; `final` notes that the task got its last event of the run."""
        info = self._infos.get(task.name)
        if info is None:
            info = self._infos[task.name] = task_info(task)
        if final:
            self._finished.add(task.name)
        return info

    def _report_unreached(self, now: float) -> None:
        """Without --continue doit stops at the first failure and never mentions the tasks it
        did not reach; say so for each, so every selected task gets an event."""
        if not self.state.failed and not self.state.errors:
            return
        for name, task in self._expected.items():
            if name in self._finished:
                continue
            info = self._info(task)
            if not info.is_group:
                self.state.not_run += 1
            self.sink.emit(
                Event(
                    ev.NOT_RUN,
                    info,
                    now,
                    error="NotReached",
                    message="not reached: the run stopped after a failure",
                )
            )


class RichReporter(MarathonReporter):
    desc = "marathon progress, rich live display"
    mode = "rich"


class PlainReporter(MarathonReporter):
    desc = "marathon progress, plain lines"
    mode = "plain"


class JsonReporter(MarathonReporter):
    desc = "marathon progress, one JSON object per event"
    mode = "json"


def _commands_only(tasks: dict[str, Any]) -> bool:
    return all(task_info(task).kind == "command" for task in tasks.values())


def _reachable(tasks: Any, selected: Any) -> dict[str, Any]:
    """The selected tasks and everything they need (task_dep, setup), by name."""
    if not isinstance(tasks, dict):
        return {}
    found: dict[str, Any] = {}
    todo = [name for name in (selected or ()) if name in tasks]
    while todo:
        name = todo.pop()
        if name in found or name not in tasks:
            continue
        task = found[name] = tasks[name]
        todo.extend(getattr(task, "task_dep", ()) or ())
        todo.extend(getattr(task, "setup_tasks", ()) or ())
    return found


def _fail_name(fail: Any) -> str:
    get_name = getattr(fail, "get_name", None)
    return str(get_name()) if callable(get_name) else type(fail).__name__


def _fail_message(fail: Any) -> str:
    get_msg = getattr(fail, "get_msg", None)
    return str(get_msg()) if callable(get_msg) else str(fail)


def _fallback_output(task: Any, message: str) -> str:
    """For a task without a log: its captured output (if doit kept any), then the error."""
    captured = [
        text
        for action in getattr(task, "actions", ()) or ()
        for text in (getattr(action, "out", None), getattr(action, "err", None))
        if text
    ]
    parts = [*captured, message] if captured else [message]
    text = "\n".join(part.rstrip() for part in parts if part)
    return "\n".join(text.splitlines()[-tail_lines_setting() :])
