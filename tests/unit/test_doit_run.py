"""The ready queue behind `doit run`: lowest rank first, doit's own order among equals."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from doit.cmd_base import TaskLoader2
from doit.doit_cmd import DoitMain
from doit.task import Task, dict_to_task

from engine.doit_run import ReadyQueue


def node(name: str, rank: tuple | None = None) -> SimpleNamespace:
    meta = None if rank is None else {"rank": rank}
    return SimpleNamespace(task=SimpleNamespace(name=name, meta=meta))


def drain(queue: ReadyQueue) -> list[str]:
    out = []
    while queue:
        out.append(queue.popleft().task.name)
    return out


def test_lowest_rank_leaves_first() -> None:
    queue = ReadyQueue()
    for item in (
        node("late", (1, 3, -2.0)),
        node("bug", (0, 3, -1.0)),
        node("heavy", (1, 3, -9.0)),
    ):
        queue.append(item)
    assert len(queue) == 3
    assert drain(queue) == ["bug", "heavy", "late"]


def test_unranked_first_and_in_arrival_order() -> None:
    # Groups and other projects' tasks carry no rank: they keep doit's first-in first-out.
    queue = ReadyQueue()
    queue.append(node("ranked", (1, 3, -5.0)))
    queue.append(node("group-b"))
    queue.append(node("group-a"))
    queue.append(SimpleNamespace(task=SimpleNamespace(name="empty-meta", meta={})))
    assert drain(queue) == ["group-b", "group-a", "empty-meta", "ranked"]


def test_equal_ranks_keep_arrival_order() -> None:
    queue = ReadyQueue()
    for name in "cab":
        queue.append(node(name, (1, 3, -1.0)))
    assert drain(queue) == ["c", "a", "b"]
    with pytest.raises(IndexError):
        queue.popleft()


# -- the command, run in process on tasks of our own -------------------------------------


class Loader(TaskLoader2):
    def __init__(self, tasks: list[dict[str, Any]], db: Path) -> None:
        super().__init__()
        self.tasks = tasks
        self.db = db

    def setup(self, opt_values: dict[str, Any]) -> None:
        pass

    def load_doit_config(self) -> dict[str, Any]:
        return {"dep_file": str(self.db), "verbosity": 0, "par_type": "thread"}

    def load_tasks(self, cmd: Any, pos_args: list[str]) -> list[Task]:
        return [dict_to_task(dict(task)) for task in self.tasks]


def ranked_tasks(started: list[str]) -> list[dict[str, Any]]:
    """`light` (rank -1) is ready from the start; `heavy` (rank -9) once `first` is done, so
    in doit's queue it stands behind `light`."""

    def task(name: str, rank: tuple[Any, ...] | None, deps: list[str]) -> dict[str, Any]:
        return {
            "name": name,
            "actions": [lambda: started.append(name)],
            "task_dep": deps,
            "uptodate": [False],
            "meta": None if rank is None else {"rank": rank},
        }

    return [
        task("first", None, []),
        task("light", (1, -1.0), []),
        task("heavy", (1, -9.0), ["first"]),
        {"name": "all", "actions": None, "task_dep": ["first", "light", "heavy"]},
    ]


@pytest.mark.parametrize("args", [["-n", "1"], [], ["-n", "1", "--output-file", "OUT"]])
def test_ranked_run_starts_the_heaviest_ready_task_first(tmp_path: Path, args: list[str]) -> None:
    started: list[str] = []
    args = [str(tmp_path / "out.txt") if a == "OUT" else a for a in args]
    main = DoitMain(
        Loader(ranked_tasks(started), tmp_path / "doit.db"),
        config_filenames=(),  # not this repository's pyproject.toml, which selects it too
        extra_config={"GLOBAL": {}, "COMMAND": {"run": "engine.doit_run:RankedRun"}},
    )
    assert main.run(["run", *args, "all"]) == 0
    assert started == ["first", "heavy", "light"]
    if "--output-file" in args:
        assert ".  heavy" in (tmp_path / "out.txt").read_text()


def test_plain_doit_would_start_them_in_queue_order(tmp_path: Path) -> None:
    # The control for the test above: the same tasks under doit's own `run`.
    started: list[str] = []
    main = DoitMain(
        Loader(ranked_tasks(started), tmp_path / "doit.db"),
        config_filenames=(),
        extra_config={"GLOBAL": {}},
    )
    assert main.run(["run", "-n", "1", "all"]) == 0
    assert started == ["first", "light", "heavy"]


def test_single_mode_is_doits_own(tmp_path: Path) -> None:
    started: list[str] = []
    main = DoitMain(
        Loader(ranked_tasks(started), tmp_path / "doit.db"),
        config_filenames=(),  # not this repository's pyproject.toml, which selects it too
        extra_config={"GLOBAL": {}, "COMMAND": {"run": "engine.doit_run:RankedRun"}},
    )
    assert main.run(["run", "-s", "heavy"]) == 0
    assert started == ["heavy"]  # -s: the task alone, without the one it depends on


def test_a_doit_without_the_ready_queue_runs_in_its_own_order_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from doit.control import TaskDispatcher

    original = TaskDispatcher.__init__

    def without_ready(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.ready = list(self.ready)  # stands in for a doit that changed its queue

    monkeypatch.setattr(TaskDispatcher, "__init__", without_ready)
    monkeypatch.setattr(TaskDispatcher, "_get_next_node", _pop_front)
    started: list[str] = []
    main = DoitMain(
        Loader(ranked_tasks(started), tmp_path / "doit.db"),
        config_filenames=(),
        extra_config={"GLOBAL": {}, "COMMAND": {"run": "engine.doit_run:RankedRun"}},
    )
    assert main.run(["run", "-n", "1", "all"]) == 0
    assert started == ["first", "light", "heavy"]
    assert "no ready queue to rank" in capsys.readouterr().err


def _pop_front(self: Any, ready: list[Any], tasks_to_run: list[str]) -> Any:
    if ready:
        return ready.pop(0)
    while tasks_to_run:
        node = self._gen_node(None, tasks_to_run.pop())
        if node:
            return node
    return None


def issue_tasks(started: list[str]) -> list[dict[str, Any]]:
    """Issues a to f, three one-second phases each, ranked as the compiler ranks them."""
    tasks: list[dict[str, Any]] = []
    for number, issue in enumerate("abcdef", 1):
        for phase in range(3):
            name = f"{issue}{phase}"
            chain = float(3 - phase)
            tasks.append(
                {
                    "name": name,
                    "actions": [lambda name=name: started.append(name)],
                    "task_dep": [f"{issue}{phase - 1}"] if phase else [],
                    "uptodate": [False],
                    "meta": {
                        "kind": "phase",
                        "issue": issue,
                        "rank": (1, 5, -chain, number, phase),
                        "seconds": 1.0,
                        "chain": chain,
                    },
                }
            )
    tasks.append({"name": "all", "actions": None, "task_dep": [t["name"] for t in tasks]})
    return tasks


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ranked_run_finishes_started_issues_first(tmp_path: Path, jobs: str) -> None:
    started: list[str] = []
    main = DoitMain(
        Loader(issue_tasks(started), tmp_path / "doit.db"),
        config_filenames=(),
        extra_config={"GLOBAL": {}, "COMMAND": {"run": "engine.doit_run:RankedRun"}},
    )
    assert main.run(["run", "-n", jobs, "all"]) == 0
    if jobs == "1":
        # By rank alone: a0 b0 c0 d0 e0 f0 a1 ..., every issue in lockstep. Here one issue
        # after another, until the last ones, whose chains (3 s, plus a margin of two tasks)
        # reach the work left: they then go by rank alone.
        assert started[:12] == [f"{i}{p}" for i in "abcd" for p in range(3)]
    else:
        # Two workers: two issues at a time; the first two end before the fourth starts.
        assert max(started.index("a2"), started.index("b2")) < started.index("d0")
    assert sorted(started) == sorted(f"{i}{p}" for i in "abcdef" for p in range(3))


def test_ranked_queue_counts_the_work_of_the_selected_tasks() -> None:
    from doit.control import TaskControl

    from engine.doit_run import ranked_queue

    def queue_for(selected: list[str]) -> Any:
        control = TaskControl([dict_to_task(dict(t)) for t in issue_tasks([])])
        control.process(selected)
        return ranked_queue(control.task_dispatcher(), 2)._work()

    assert queue_for(["b2"]) == (3.0, 1.0)  # b2 and the two phases it waits for
    assert queue_for(["b2", "all"]) == (18.0, 1.0)


# -- the command line reaches our tasks verbatim ---------------------------------------------

DOIT = "/venv/bin/doit"


@pytest.mark.parametrize(
    ("argv", "processed", "expected"),
    [
        # doit's main took `a=b` for a variable and left `--title` without its value
        ([DOIT, "add", "--title", "a=b"], ["add", "--title"], ["add", "--title", "a=b"]),
        (
            [DOIT, "add", "--title", "Set timeout = 30s", "--description", "default = 10s"],
            ["add", "--title", "Set timeout = 30s", "--description", "default = 10s"],
            ["add", "--title", "Set timeout = 30s", "--description", "default = 10s"],
        ),
        # the command name and loader options before it are not the run command's
        (
            [DOIT, "-f", "dodo.py", "run", "add", "--spec", "my=spec.xml"],
            ["add", "--spec"],
            ["add", "--spec", "my=spec.xml"],
        ),
        (["/x/doit/__main__.py", "-n", "4", "x=1"], ["-n", "4"], ["-n", "4", "x=1"]),
        # not the doit program (an embedding, a test runner): left alone
        (["/usr/bin/pytest", "a=b"], [], []),
        # a command line that does not match what doit handed over: left alone
        ([DOIT, "status"], ["add", "--title"], ["add", "--title"]),
    ],
)
def test_verbatim_args(argv: list[str], processed: list[str], expected: list[str]) -> None:
    from engine.doit_run import verbatim_args

    assert verbatim_args(processed, argv) == expected


# -- slots: -n for the tasks that work, a few beside them for merges ---------------------------


def slotted(name: str, slot: str, rank: tuple | None = (1, -1.0)) -> SimpleNamespace:
    meta: dict[str, Any] = {"slot": slot}
    if rank is not None:
        meta["rank"] = rank
    return SimpleNamespace(task=SimpleNamespace(name=name, meta=meta))


def test_a_task_leaves_only_while_its_slot_has_room() -> None:
    queue = ReadyQueue(1, limits={"work": 1, "merge": 1})
    for item in (slotted("code", "work"), slotted("qa", "work"), slotted("exit", "merge")):
        queue.append(item)
    first = queue.popleft()
    queue.dispatched(first)
    assert first.task.name == "exit"  # a merge leaves beside the work
    second = queue.popleft()
    queue.dispatched(second)
    assert second.task.name == "code"
    # both slots are full: nothing may leave, though a task waits
    assert not queue and len(queue) == 1
    with pytest.raises(IndexError):
        queue.popleft()
    queue.finished(first)  # the merge ended: its slot, not the work's, is free
    assert not queue
    queue.finished(second)
    assert queue and queue.popleft().task.name == "qa"


def test_without_limits_every_task_leaves() -> None:
    queue = ReadyQueue()
    for n in range(3):
        queue.append(slotted(f"exit{n}", "merge"))
        queue.dispatched(queue.popleft())
    assert not queue and len(queue) == 0


def test_tasks_held_for_a_slot_still_run_when_nothing_else_waits(tmp_path: Path) -> None:
    """doit's dispatcher ends when nothing is ready and nothing waits. Here `one` and `two`
    both wait for `base`; when it ends both are ready, `one` takes the only slot (-n 1) and
    `two` is held for it, with nothing left waiting: it must run all the same."""
    ran: list[str] = []

    def task(name: str, deps: list[str]) -> dict[str, Any]:
        return {
            "name": name,
            "actions": [lambda: ran.append(name)],
            "task_dep": deps,
            "uptodate": [False],
            "meta": {"kind": "phase", "rank": (1, -1.0), "chain": -1.0},
        }

    main = DoitMain(
        Loader(
            [task("base", []), task("one", ["base"]), task("two", ["base"])],
            tmp_path / "doit.db",
        ),
        config_filenames=(),
        extra_config={"GLOBAL": {}, "COMMAND": {"run": "engine.doit_run:RankedRun"}},
    )
    assert main.run(["run", "-n", "1", "one", "two"]) == 0
    assert sorted(ran) == ["base", "one", "two"]
