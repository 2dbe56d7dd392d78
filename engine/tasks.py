"""The doit glue: everything a workspace's dodo.py hands to doit.

`dodo_namespace(root)` loads and validates marathon.yaml, reads the local issue snapshot (never
the network), compiles the workflow tasks, and adds the commands people type (`doit init`,
`doit graph` ...) as always-run tasks with options. A bad marathon.yaml stops here with one
line and exit code 2, before doit runs or writes anything.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from doit.exceptions import TaskError

from engine.commands.setup import run_setup
from engine.compile import Runners, TaskDict, compile_tasks, task_name
from engine.config.load import load_pipeline
from engine.config.model import Pipeline
from engine.doit_backend import backend_name
from engine.doit_run import load_without_gc
from engine.errors import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    MarathonError,
    internal_error,
    set_internal_log_dir,
)
from engine.issue import PRIORITY_NAMES, Edge, IssueDraft
from engine.report import output as console_output
from engine.report.session import reporter_for
from engine.run import process
from engine.run.check import check_up_to_date, run_check
from engine.run.phase import clean_issue, phase_up_to_date, run_phase, settled_tasks
from engine.run.runtime import interrupt_open_runs, runtime_for
from engine.trackers.open import open_snapshot, open_tracker

RUNNERS = Runners(
    run_check=run_check,
    check_up_to_date=check_up_to_date,
    run_phase=run_phase,
    phase_up_to_date=phase_up_to_date,
    clean_issue=clean_issue,
)


def doit_config() -> dict[str, Any]:
    return {
        # A bare `doit` verifies; it must never start a marathon.
        "default_tasks": ["verify"],
        # Threads: our actions wait on subprocesses, and Python 3.11-3.14 then behave the same
        # (no fork/forkserver differences, nothing to pickle).
        "par_type": "thread",
        "dep_file": ".marathon/doit.db",
        # sqlite3: safe with a second doit (`doit status`) reading beside a running marathon.
        "backend": backend_name(),
        # One failed issue must not stop independent issues; its dependents still wait.
        "continue": True,
    }


class CommandFailed(TaskError):  # type: ignore[misc]
    """A command's failure, carrying the exit code the run ends with (engine/errors.py)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def dodo_namespace(root: Path) -> dict[str, Any]:
    """The names a dodo.py exports: DOIT_CONFIG and the task creators."""
    try:
        return _namespace(root)
    except MarathonError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except Exception as exc:  # the last resort: one line and a log, never a traceback
        print(f"error: {internal_error('loading the tasks', exc)}", file=sys.stderr)
        raise SystemExit(EXIT_INTERNAL) from None


def _namespace(root: Path) -> dict[str, Any]:
    # `doit run` loads with the collector off already (engine/doit_run.py); the other
    # commands (list, info, clean ...) at least while the workflow is compiled.
    with load_without_gc():
        return _load(root)


def _load(root: Path) -> dict[str, Any]:
    set_internal_log_dir(root / ".marathon")
    pipeline = load_pipeline(root)
    issues = open_snapshot(pipeline).snapshot()
    set_internal_log_dir(pipeline.state_dir)
    pipeline.state_dir.mkdir(parents=True, exist_ok=True)
    _stop_children_on_signals()
    durations = runtime_for(pipeline).records.phase_durations()  # ranks ready tasks
    workflow = compile_tasks(pipeline, issues, RUNNERS, settled_tasks(pipeline, issues), durations)

    def task_workflow() -> Iterator[TaskDict]:
        yield from workflow

    config = doit_config()
    # Progress while tasks run, and a timeline report after each run that did something.
    open_at_load = {issue.id for issue in issues if issue.is_open}

    def filed() -> list[str]:
        return [
            f"{issue.id} {issue.title}"
            for issue in open_snapshot(pipeline).snapshot()
            if issue.is_open and issue.id not in open_at_load
        ]

    gates = frozenset(name for name, phase in pipeline.phases.items() if phase.kind == "checks")
    config["reporter"] = reporter_for(pipeline.state_dir, _task_deps(workflow), filed, gates)
    namespace: dict[str, Any] = {"DOIT_CONFIG": config, "task_workflow": task_workflow}
    for name, creator in _commands(pipeline).items():
        namespace[f"task_{name}"] = creator
    return namespace


def _task_deps(tasks: list[TaskDict]) -> dict[str, list[str]]:
    """Task name -> the tasks it waits for: makes the timeline's critical path exact."""
    return {task_name(t): list(t.get("task_dep", ())) for t in tasks if t.get("name")}


def _stop_children_on_signals() -> None:
    """Ctrl-C or SIGTERM stops every running agent and check before doit unwinds."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        process.interrupt_all()
        interrupt_open_runs(f"interrupted by {signal.Signals(signum).name}")
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _command_task(
    doc: str, action: Callable[..., Any], params: list[dict[str, Any]], pos_arg: str | None = None
) -> Callable[[], TaskDict]:
    def run(**kwargs: Any) -> bool | TaskError:
        try:
            try:
                code = action(**kwargs)
            finally:
                console_output.stdout().flush()
        except BrokenPipeError:
            # The reader went away (`doit status | head`): nothing is wrong, say nothing more.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return True
        except MarathonError as exc:
            print(f"error: {exc.one_line()}", file=console_output.stderr())
            return CommandFailed(exc.one_line(), exc.exit_code)
        except Exception as exc:  # the last resort: one line and a log, never a traceback
            line = internal_error(f"doit {action.__name__}", exc)
            print(f"error: {line}", file=console_output.stderr())
            return CommandFailed(line, EXIT_INTERNAL)
        if code is None or code is True or (code == 0 and code is not False):
            return True
        # A command's own "no" (hooks status: not installed ...): its code, as documented.
        exit_code = code if isinstance(code, int) and code is not False else EXIT_FAILED
        return CommandFailed(f"doit {action.__name__} answered {code}", exit_code)

    def creator() -> TaskDict:
        task: TaskDict = {
            "doc": doc,
            "actions": [run],
            "params": params,
            "uptodate": [False],  # commands run whenever they are asked for
            "verbosity": 2,
            "meta": {"kind": "command", "issue": "", "phase": "", "log": ""},
        }
        if pos_arg:
            task["pos_arg"] = pos_arg
        return task

    creator.__doc__ = doc
    return creator


def _param(
    name: str,
    default: Any,
    help_text: str,
    *,
    short: str = "",
    kind: type = str,
    choices: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    param: dict[str, Any] = {
        "name": name,
        "long": name.replace("_", "-"),
        "default": default,
        "type": kind,
        "help": help_text,
    }
    if short:
        param["short"] = short
    if choices:
        param["choices"] = choices
    return param


def _commands(pipeline: Pipeline) -> dict[str, Callable[[], TaskDict]]:
    # Commands print to console_output.stdout(), asked when they run: the reporter points it
    # above the live panel, or into JSON events, while a run is on (engine/report/output.py).
    def init(spec: str, dry_run: bool) -> int:
        from engine.commands.init import run_init

        if not spec:
            raise MarathonError("doit init needs --spec PATH (an XML or Markdown spec)")
        tracker = open_snapshot(pipeline) if dry_run else open_tracker(pipeline)
        return run_init(tracker, Path(spec), dry_run=dry_run, out=console_output.stdout())

    def graph(format: str, output: str, phases: bool) -> int:
        from engine.commands.graph import run_graph
        from engine.commands.status import issue_rows

        snapshot = open_snapshot(pipeline)
        states = {
            row.issue.id: row.graph_state for row in issue_rows(pipeline, snapshot.snapshot())
        }

        return run_graph(
            snapshot,
            fmt=format,
            output=Path(output) if output else None,
            out=console_output.stdout(),
            phases=pipeline.phases if phases else None,
            states=states,
            err=console_output.stderr(),
        )

    def sync() -> int:
        from engine.commands.sync import run_sync

        return run_sync(open_tracker(pipeline), out=console_output.stdout())

    def add(title: str, description: str, priority: int, after: str) -> int:
        if not title.strip():
            raise MarathonError("doit add needs --title TEXT")
        if priority not in PRIORITY_NAMES:
            raise MarathonError(f"--priority {priority}: use 0 (none), 1 (urgent) .. 4 (low)")
        tracker = open_tracker(pipeline)  # with Linear, the issue is made there too
        known = {issue.id for issue in tracker.snapshot()}
        blockers = [dep.strip() for dep in after.split(",") if dep.strip()]
        for dep in blockers:
            if dep not in known:
                raise MarathonError(f"--after {dep}: no such issue (see doit list)")
        issue = tracker.create_issue(
            IssueDraft(key="", title=title.strip(), description=description, priority=priority)
        )
        for dep in blockers:
            tracker.add_edge(Edge(dep, issue.id, "added by hand"))
        print(
            f"{issue.id} {issue.title} (priority {PRIORITY_NAMES[priority]})",
            file=console_output.stdout(),
        )
        return 0

    def report(open_browser: bool) -> int:
        from engine.commands.report import run_report

        return run_report(
            pipeline.state_dir, out=console_output.stdout(), open_browser=open_browser
        )

    def hooks(action_args: list[str]) -> int:
        from engine.commands.hooks import run_hooks

        if len(action_args) > 1:
            raise MarathonError("doit hooks takes one action: install, uninstall or status")
        return run_hooks(
            pipeline.root, action_args[0] if action_args else "status", out=console_output.stdout()
        )

    def demo(dir: str, jobs: int, compare: bool) -> int:
        from engine.commands.demo import run_demo

        return run_demo(directory=dir, jobs=jobs, compare=compare, out=console_output.stdout())

    def status(json: bool) -> int:
        from engine.commands.status import run_status

        issues = open_snapshot(pipeline).snapshot()
        return run_status(pipeline, issues, out=console_output.stdout(), as_json=json)

    def why(task_names: list[str]) -> int:
        from engine.commands.why import run_why

        return run_why(
            pipeline, open_snapshot(pipeline).snapshot(), task_names, out=console_output.stdout()
        )

    return {
        "status": _command_task(
            "done / running / waiting / skipped issues, cost so far, what runs now",
            status,
            [_param("json", False, "print it as one JSON document", kind=bool)],
        ),
        "why": _command_task(
            "why TASK... would run or is up to date (changes nothing)",
            why,
            [],
            pos_arg="task_names",
        ),
        "demo": _command_task(
            "build the example todo app end to end with recorded agents (no keys needed)",
            demo,
            [
                _param("dir", "", "where to build it (default: a new temporary folder)"),
                _param("jobs", 4, "issues at once in the demo marathon", kind=int),
                {
                    **_param(
                        "compare", True, "also run it with -n 1 and print both times", kind=bool
                    ),
                    "inverse": "no-compare",
                },
            ],
        ),
        "init": _command_task(
            "spec -> issues with dependencies in the tracker (--spec PATH [--dry-run])",
            init,
            [
                _param("spec", "", "the spec file (XML or Markdown)"),
                _param("dry_run", False, "print the issues and graph, write nothing", kind=bool),
            ],
        ),
        "graph": _command_task(
            "the issue graph: levels, widest level, critical path (--format mermaid|dot|svg|png)",
            graph,
            [
                _param("format", "mermaid", "mermaid, dot, json, svg or png", short="f"),
                _param("output", "", "write the picture to this file", short="o"),
                _param("phases", False, "the phases of one issue instead of the issues", kind=bool),
            ],
        ),
        "sync": _command_task("pull issues, states and relations from the tracker", sync, []),
        "add": _command_task(
            "add an issue by hand (--title T [--description D] [--priority 0-4] [--after IDS])",
            add,
            [
                _param("title", "", "the issue title"),
                _param("description", "", "what to do"),
                _param("priority", 3, "0 none, 1 urgent, 2 high, 3 medium, 4 low", kind=int),
                _param("after", "", "comma-separated ids this issue waits for"),
            ],
        ),
        "report": _command_task(
            "print the path of the latest timeline report",
            report,
            [_param("open_browser", False, "open it in a browser", kind=bool)],
        ),
        "hooks": _command_task(
            "install | uninstall | status the git pre-push hook", hooks, [], pos_arg="action_args"
        ),
        "setup": _command_task(
            "detect the project's checks again (--refresh: show the diff, rewrite marathon.yaml)",
            lambda refresh, dry_run, no_run: run_setup(
                pipeline.root,
                out=console_output.stdout(),
                refresh=refresh,
                dry_run=dry_run,
                run_checks=not no_run,
            ),
            [
                _param("refresh", False, "show the diff, then rewrite marathon.yaml", kind=bool),
                _param("dry_run", False, "show the diff and the table, write nothing", kind=bool),
                _param("no_run", False, "detect only; do not run each check once", kind=bool),
            ],
        ),
    }
