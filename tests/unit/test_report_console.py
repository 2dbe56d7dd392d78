"""The doit reporter in its three modes, driven by real doit runs (threads) and directly."""

from __future__ import annotations

import io
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from doit.cmd_base import TaskLoader2
from doit.doit_cmd import DoitMain
from doit.exceptions import TaskFailed, UnmetDependency
from doit.task import Task, dict_to_task
from rich.console import Console

from engine.report.console import (
    JsonReporter,
    MarathonReporter,
    PlainReporter,
    RichReporter,
    choose_mode,
)
from engine.report.events import log_tail

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def check(name: str, log: Path, lines: list[str], code: int, sleep: float = 0.3) -> dict[str, Any]:
    """A verify-like task that writes its output only to its own log."""
    script = (
        "import sys, time\n"
        f"with open({str(log)!r}, 'w') as f:\n"
        f"    for line in {lines!r}:\n"
        "        f.write(line + '\\n'); f.flush(); time.sleep(0.003)\n"
        f"time.sleep({sleep})\n"
        f"sys.exit({code})\n"
    )
    return {
        "name": f"verify:{name}",
        "actions": [[sys.executable, "-c", script]],
        "meta": {"log": str(log), "issue": "", "phase": name, "kind": "check"},
        "doc": f"check {name}",
        "verbosity": 0,
    }


def group(name: str, deps: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "actions": None,
        "task_dep": deps,
        "meta": {"log": "", "issue": "", "phase": "", "kind": "group"},
        "doc": name,
    }


class Loader(TaskLoader2):
    def __init__(self, tasks: list[dict[str, Any]], reporter: Any, db: Path) -> None:
        super().__init__()
        self.tasks = tasks
        self.doit_config = {"reporter": reporter, "dep_file": str(db), "verbosity": 0}

    def setup(self, opt_values: dict[str, Any]) -> None:
        pass

    def load_doit_config(self) -> dict[str, Any]:
        return self.doit_config

    def load_tasks(self, cmd: Any, pos_args: list[str]) -> list[Task]:
        return [dict_to_task(dict(task)) for task in self.tasks]


def run_doit(tasks: list[dict[str, Any]], reporter: Any, tmp_path: Path, *args: str) -> int:
    loader = Loader(tasks, reporter, tmp_path / "doit.db")
    return DoitMain(loader, extra_config={"GLOBAL": {}}).run(["-n", "4", "-P", "thread", *args])


def captured(cls: type[MarathonReporter], **options: Any) -> tuple[type, io.StringIO]:
    """A reporter class doit can construct, writing into a buffer we keep."""
    buffer = io.StringIO()

    class Captured(cls):  # type: ignore[misc, valid-type]
        def __init__(self, outstream: Any, opts: dict[str, Any]) -> None:
            super().__init__(buffer, {**opts, **options})

    return Captured, buffer


def three_checks(tmp_path: Path, *, failing: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    tasks = [
        check(
            name,
            logs / f"{name}.log",
            [f"{name} line {i}" for i in range(60)],
            1 if name in failing else 0,
        )
        for name in ("lint", "unit", "types")
    ]
    return [*tasks, group("verify", [t["name"] for t in tasks])]


# -- plain -------------------------------------------------------------------------------


def test_plain_lines_for_a_passing_run(tmp_path: Path) -> None:
    cls, out = captured(PlainReporter, heartbeat=0)
    assert run_doit(three_checks(tmp_path), cls, tmp_path, "verify") == 0
    text = out.getvalue()
    assert "\x1b[" not in text  # no terminal codes on a pipe
    for name in ("lint", "unit", "types"):
        log = tmp_path / "logs" / f"{name}.log"
        assert re.search(rf"^\.\. verify:{name}  \(log: .*{name}\.log\)$", text, re.M)
        assert re.search(rf"^ok verify:{name}  \d+\.\ds$", text, re.M)
        assert log.exists()
    assert " verify\n" not in text and "verify  " not in text  # the group gets no line
    last = text.strip().splitlines()[-1]
    assert re.fullmatch(r"== ran 3, up to date 0, failed 0, wall \d+\.\ds", last)


def test_plain_up_to_date_rerun(tmp_path: Path) -> None:
    tasks = three_checks(tmp_path)
    for task in tasks[:3]:
        task["uptodate"] = [True]  # up to date once it has succeeded
    run_doit(tasks, captured(PlainReporter, heartbeat=0)[0], tmp_path, "verify")
    cls, out = captured(PlainReporter, heartbeat=0)
    assert run_doit(tasks, cls, tmp_path, "verify") == 0
    text = out.getvalue()
    assert text.count("  up to date\n") == 3
    assert "ok verify:" not in text
    assert "ran 0, up to date 3, failed 0" in text


def test_large_up_to_date_run_is_a_count_not_a_line_per_task(tmp_path: Path) -> None:
    from engine.report.console import UP_TO_DATE_LINES

    count = UP_TO_DATE_LINES + 50
    tasks = [
        {"name": f"t{i}", "actions": [], "uptodate": [True], "meta": {"kind": "check"}}
        for i in range(count)
    ]
    tasks.append(group("all", [t["name"] for t in tasks]))
    cls, out = captured(PlainReporter, heartbeat=0)
    assert run_doit(tasks, cls, tmp_path, "all") == 0
    text = out.getvalue()
    assert "  up to date\n" not in text
    assert f"ran 0, up to date {count}, failed 0" in text
    # machines still get one event per task
    cls, out = captured(JsonReporter)
    assert run_doit(tasks, cls, tmp_path, "all") == 0
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert sum(e["event"] == "up-to-date" and e["kind"] != "group" for e in events) == count


def test_failing_tails_are_contiguous_blocks(tmp_path: Path) -> None:
    cls, out = captured(PlainReporter, heartbeat=0)
    tasks = three_checks(tmp_path, failing=("lint", "unit"))
    assert run_doit(tasks, cls, tmp_path, "--continue", "verify") != 0
    lines = out.getvalue().splitlines()
    for name in ("lint", "unit"):
        start = next(
            i
            for i, line in enumerate(lines)
            if line.startswith(f"---- verify:{name} failed: TaskFailed")
        )
        block = lines[start + 1 : start + 1 + 40]
        # The last 40 lines of the log, in order, with nothing from another task between.
        assert block == [f"{name} line {i}" for i in range(20, 60)]
        assert lines[start + 41] == f"---- end of verify:{name} ----"
        assert lines[start - 1].startswith(f"FAIL verify:{name}  ")
    assert "ran 3, up to date 0, failed 2" in lines[-1]


def test_plain_heartbeat_shows_elapsed_time_of_running_tasks() -> None:
    out = io.StringIO()
    reporter = PlainReporter(out, {"heartbeat": 0.05})
    task = dict_to_task(check("slow", Path("slow.log"), [], 0))
    reporter.initialize({}, [])
    reporter.execute_task(task)
    time.sleep(0.2)
    reporter.add_success(task)
    reporter.complete_run()
    assert re.search(r"^\.\. still running: verify:slow \d+\.\ds$", out.getvalue(), re.M)


def test_not_reached_tasks_are_reported(tmp_path: Path) -> None:
    cls, out = captured(JsonReporter)
    logs = tmp_path / "logs"
    logs.mkdir()
    first = check("first", logs / "first.log", ["bad"], 1, sleep=0)
    second = check("second", logs / "second.log", ["ok"], 0, sleep=0)
    second["task_dep"] = ["verify:first"]
    assert run_doit([first, second], cls, tmp_path, "verify:second") != 0
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    final = {e["task"]: e["event"] for e in events if "task" in e and e["event"] != "start"}
    assert final == {"verify:first": "failure", "verify:second": "not-run"}


# -- json --------------------------------------------------------------------------------


def test_json_events_parse_and_cover_every_task(tmp_path: Path) -> None:
    cls, out = captured(JsonReporter)
    tasks = three_checks(tmp_path, failing=("types",))
    assert run_doit(tasks, cls, tmp_path, "--continue", "verify") != 0
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert all(isinstance(e, dict) and "event" in e and "time" in e for e in events)
    finals: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["event"] not in ("start", "complete"):
            assert event["task"] not in finals, "one final event per task"
            finals[event["task"]] = event
    assert set(finals) == {"verify:lint", "verify:unit", "verify:types", "verify"}
    assert finals["verify:lint"]["event"] == "success"
    assert finals["verify:lint"]["kind"] == "check"
    assert finals["verify:lint"]["duration"] > 0
    assert finals["verify:types"]["event"] == "failure"
    assert finals["verify:types"]["tail"].splitlines()[-1] == "types line 59"
    assert finals["verify:types"]["error"] == "TaskFailed"
    assert finals["verify"]["kind"] == "group"
    starts = {e["task"] for e in events if e["event"] == "start"}
    assert {"verify:lint", "verify:unit", "verify:types"} <= starts
    complete = events[-1]
    assert complete["event"] == "complete"
    assert (complete["ran"], complete["failed"], complete["ok"]) == (3, 1, False)
    assert complete["filed"] == []  # a plain MarathonReporter knows no tracker


def test_issues_filed_during_a_failed_run_are_named_last(tmp_path: Path) -> None:
    asked = []

    class Filing(PlainReporter):
        def filed_issues(self) -> list[str]:
            asked.append(True)
            return ["PROJ-9 [Bug] verify:types fails: types line 59"]

    cls, out = captured(Filing, heartbeat=0)
    assert run_doit(three_checks(tmp_path), cls, tmp_path, "verify") == 0
    assert asked == [] and "filed during" not in out.getvalue()  # asked after a failure only
    cls, out = captured(Filing, heartbeat=0)
    tasks = three_checks(tmp_path, failing=("types",))
    assert run_doit(tasks, cls, tmp_path, "--continue", "verify") != 0
    tail = out.getvalue().rstrip().splitlines()[-3:]
    assert tail[0].startswith("== ran 3, up to date 0, failed 1")
    assert tail[1:] == [
        "   filed or reopened during this run: PROJ-9 [Bug] verify:types fails: types line 59",
        "   run the same command again: it does them first",
    ]


# -- rich --------------------------------------------------------------------------------


def test_rich_terminal_output(tmp_path: Path) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120, color_system="standard")
    cls, _ = captured(RichReporter, console=console)
    tasks = three_checks(tmp_path, failing=("unit",))
    assert run_doit(tasks, cls, tmp_path, "--continue", "verify") != 0
    raw = buffer.getvalue()
    assert "\x1b[" in raw  # a terminal got colours and cursor control
    text = ANSI.sub("", raw).replace("\r", "\n")
    assert re.search(r"✓ verify:lint  \d+\.\ds", text)
    assert re.search(r"✓ verify:types  \d+\.\ds", text)
    assert re.search(r"✗ verify:unit  \d+\.\ds", text)
    # While running, the live panel lists each task with its elapsed time and log to tail.
    assert re.search(r"verify:unit\s+\d+\.\ds\s+tail -f \S*unit\.log", text)
    # The failure panel: its title, then the log tail in order, nothing else inside.
    lines = text.splitlines()
    top = next(i for i, line in enumerate(lines) if "verify:unit failed: TaskFailed" in line)
    body = []
    for line in lines[top + 1 :]:
        if line.startswith("╰"):
            break
        body.append(line.strip("│ "))
    assert body == [f"unit line {i}" for i in range(20, 60)]
    assert re.search(r"ran 3, up to date 0, failed 1, wall \d+\.\ds\s*$", text)


# -- mode selection and details ------------------------------------------------------------


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_mode_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARATHON_REPORTER", raising=False)
    assert choose_mode(io.StringIO()) == "plain"
    assert choose_mode(Tty()) == "rich"
    monkeypatch.setenv("MARATHON_REPORTER", "json")
    assert choose_mode(Tty()) == "json"
    assert MarathonReporter(io.StringIO(), {}).mode_used == "json"
    monkeypatch.setenv("MARATHON_REPORTER", "plain")
    assert MarathonReporter(Tty(), {}).mode_used == "plain"
    monkeypatch.setenv("MARATHON_REPORTER", "bogus")
    assert choose_mode(io.StringIO()) == "plain"  # a typo falls back to auto
    assert JsonReporter(io.StringIO(), {}).mode_used == "json"  # forced classes ignore the env


def test_failure_without_log_shows_the_exception_text() -> None:
    out = io.StringIO()
    reporter = PlainReporter(out, {"heartbeat": 0})
    task = Task("plain-task", [lambda: False])
    reporter.initialize({}, [])
    reporter.execute_task(task)
    reporter.add_failure(task, TaskFailed("the widget broke"))
    blocked = Task("after", [lambda: True])
    reporter.add_failure(blocked, UnmetDependency("plain-task"))
    reporter.complete_run()
    text = out.getvalue()
    assert "---- plain-task failed: TaskFailed ----\nthe widget broke\n" in text
    assert "xx after  not run: needs plain-task, which did not succeed" in text
    assert "ran 1, up to date 0, failed 1, not run 1" in text


def test_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"{i}\n" for i in range(100)))
    assert log_tail(log, 3) == "97\n98\n99"
    assert log_tail(tmp_path / "missing.log") == ""
    big = tmp_path / "big.log"
    big.write_bytes(b"x" * 500_000 + b"\nlast\n")
    assert log_tail(big, 1) == "last"


def test_log_tail_keeps_only_the_last_run() -> None:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as handle:
        handle.write("=== verify:unit at 10:00\nold failure\n=== verify:unit at 10:05\nnew\n")
    assert log_tail(handle.name, run_marker="=== verify:unit at ") == (
        "=== verify:unit at 10:05\nnew"
    )
    assert log_tail(handle.name, 2) == "=== verify:unit at 10:05\nnew"
    Path(handle.name).unlink()


def test_a_tracker_error_after_a_failure_does_not_break_the_summary(tmp_path: Path) -> None:
    class Broken(PlainReporter):
        def filed_issues(self) -> list[str]:
            raise OSError("database is locked")

    cls, out = captured(Broken, heartbeat=0)
    tasks = three_checks(tmp_path, failing=("types",))
    assert run_doit(tasks, cls, tmp_path, "--continue", "verify") != 0
    tail = out.getvalue().rstrip().splitlines()
    assert tail[-1] == "   could not read the tracker: database is locked"
    assert tail[-2].startswith("== ran 3, up to date 0, failed 1")
