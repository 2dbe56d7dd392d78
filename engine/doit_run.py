"""doit's `run` command, starting the best ready task first instead of the oldest.

doit keeps the tasks that are ready to start in a first-in first-out queue, so once a marathon
is under way the next free worker takes whichever task became ready first, wherever it sits in
the graph. Each phase task the compiler makes carries `meta["rank"]` (engine/compile.py: bug
issues, then priority, then the most remaining work behind the task); this command swaps that
queue for one ordered by rank, with the tasks of issues that have started ahead of issues that
have not unless that could lengthen the run (engine/schedule.py: ReadyTasks). Tasks without a
rank (groups, commands, checks, any other project's tasks) come first and in doit's own order,
so for them nothing changes. It also keeps Python's cyclic garbage collector off while doit
loads (`load_without_gc`).

A workspace selects it in doit.cfg (written by `python -m engine setup`) or in pyproject.toml:

    [COMMAND]                            [tool.doit.plugins.command]
    run = engine.doit_run:RankedRun      run = "engine.doit_run:RankedRun"

Being the command that runs tasks, it is also where a run's command line and its end are ours:

* arguments reach the tasks verbatim: doit takes every `x=y` argument for a variable of its
  own (`doit add --title 'a=b'` lost its title); here they are put back where they were;
* an unknown task or option, ours or doit's, is one `error:` line with a suggestion, exit 2;
* the exit code is the reporter's (engine/errors.py: 1 failed, 2 bad input, 3 lock refused,
  4 internal error), and anything unexpected is one line plus a log (engine/errors.py), with
  the runs it interrupted recorded as interrupted, never left `running`.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from doit.action import PythonAction
from doit.cmd_run import Run
from doit.cmdparse import CmdParseError
from doit.control import ExecNode, TaskControl
from doit.exceptions import InvalidCommand, InvalidDodoFile, InvalidTask
from doit.runner import MRunner, MThreadRunner, Runner
from doit.task import Stream

from engine.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    MarathonError,
    did_you_mean,
    internal_error,
)
from engine.schedule import ReadyTasks

UNRANKED_WARNING = (
    "this doit's task dispatcher has no ready queue to rank; tasks start in doit's own order "
    "(marathon-engine supports doit 0.36 and 0.37)"
)


# What a task occupies while it runs: `work` (agents, checks, commands: what -n limits) or
# `merge` (EXIT, `meta["slot"]`), which mostly waits its turn at the merge lock. Merges have
# slots of their own beside the -n others, so a queue of merges never keeps an agent from
# starting (64 issues at -n 16: EXITs held 16 % of every slot's time); a few are enough,
# since the merge lock lets one at a time move the target.
SLOTS = ("work", "merge")
MERGE_SLOTS = 4


def slot_of(node: Any) -> str:
    return "merge" if (node.task.meta or {}).get("slot") == "merge" else "work"


def slot_limits(jobs: int) -> dict[str, int]:
    """For `doit -n jobs`: how many tasks of each slot may run at once."""
    return {"work": jobs, "merge": min(jobs, MERGE_SLOTS)}


class ReadyQueue:
    """The part of `collections.deque` doit's dispatcher uses (append, popleft, truth), in the
    order of `engine.schedule.ReadyTasks`: by rank, an issue that has not started behind the
    issues that have unless its chain is urgent; equal ranks leave in the order they came.

    With `limits` (slot -> tasks at once), a task leaves only while its slot has room: the
    queue is true when some task may leave, and `len` counts every task in it. It learns
    when a task starts (`dispatched`: doit hands it to a worker; also what ReadyTasks needs
    to know) and when it ends (`finished`: doit's runner sends it back). `work` says (seconds
    of all the work to do, the longest task), asked at the first ranked task: a no-op rerun
    never asks."""

    def __init__(
        self,
        workers: int = 1,
        work: Callable[[], tuple[float, float]] = lambda: (0.0, 0.0),
        limits: dict[str, int] | None = None,
    ) -> None:
        self._workers = workers
        self._work = work
        self._limits = limits
        self._busy = dict.fromkeys(SLOTS, 0)
        # unranked (groups, checks, settled tasks) leave before the rest, in arrival order
        self._first: dict[str, collections.deque[Any]] = {s: collections.deque() for s in SLOTS}
        self._ranked: ReadyTasks[Any] | None = None  # the work slot's, with the rank's rule
        # merges: by rank alone (what they wait for is the lock, not the schedule)
        self._merges: ReadyTasks[Any] = ReadyTasks(workers)
        self._started: dict[str, None] = {}  # issues started before anything was ranked
        self._started_seconds = 0.0

    def append(self, node: Any) -> None:
        meta = node.task.meta or {}
        chain = meta.get("chain")
        rank = meta.get("rank")
        slot = slot_of(node)
        if not rank or chain == 0:
            # Groups, checks, other projects' tasks, and tasks with no work behind them (the
            # settled tasks of finished issues: when they start does not matter).
            self._first[slot].append(node)
        elif slot == "merge":
            self._merges.push(node, tuple(rank))
        else:
            self._ranked_tasks().push(node, tuple(rank), meta.get("issue", ""), chain or 0.0)

    def popleft(self) -> Any:
        take = self._next()
        if take is None:
            raise IndexError("no ready task may start")
        return take()

    def __bool__(self) -> bool:
        return self._next() is not None

    def _next(self) -> Callable[[], Any] | None:
        """How to take the task that leaves next (unranked first, then merges, then the
        ranked work), or None while none may."""
        for slot in SLOTS:
            if self._first[slot] and self._room(slot):
                return self._first[slot].popleft
        if self._merges and self._room("merge"):
            return self._merges.pop
        if self._ranked and self._room("work"):
            return self._ranked.pop
        return None

    def __len__(self) -> int:
        ranked = len(self._ranked) if self._ranked is not None else 0
        return sum(len(first) for first in self._first.values()) + len(self._merges) + ranked

    def dispatched(self, node: Any) -> None:
        self._busy[slot_of(node)] += 1
        meta = node.task.meta or {}
        if meta.get("kind") != "phase":
            return
        issue, seconds = meta.get("issue", ""), meta.get("seconds", 0.0)
        if self._ranked is not None:
            self._ranked.started(issue, seconds)
        else:
            self._started[issue] = None
            self._started_seconds += seconds

    def finished(self, node: Any) -> None:
        self._busy[slot_of(node)] -= 1

    def _room(self, slot: str) -> bool:
        return self._limits is None or self._busy[slot] < self._limits[slot]

    def _ranked_tasks(self) -> ReadyTasks[Any]:
        if self._ranked is None:
            work, longest = self._work()
            self._ranked = ReadyTasks(self._workers, work - self._started_seconds, longest)
            for issue in self._started:
                self._ranked.started(issue, 0.0)
        return self._ranked


def _rankable(dispatcher: Any) -> bool:
    """doit's dispatcher as this module knows it (doit 0.36, 0.37): a deque of ready nodes,
    and the generator and waiting-list update `_watch` restarts it with."""
    return isinstance(getattr(dispatcher, "ready", None), collections.deque) and all(
        callable(getattr(dispatcher, name, None))
        for name in ("_dispatcher_generator", "_update_waiting")
    )


def ranked_queue(dispatcher: Any, workers: int) -> ReadyQueue:
    """A queue for `dispatcher`'s run with `workers` work slots (and its merge slots), and
    doit's generator wrapped so the queue learns which task starts and ends when. The work is
    the seconds of every phase task the selected tasks lead to."""

    def work() -> tuple[float, float]:
        tasks = dispatcher.tasks
        todo = list(dispatcher.selected_tasks)
        seen = set(todo)
        total, longest = 0.0, 0.0
        while todo:
            task = tasks.get(todo.pop())
            if task is None:
                continue
            seconds = float((task.meta or {}).get("seconds", 0.0))
            total += seconds
            longest = max(longest, seconds)
            for dep in (*task.task_dep, *task.setup_tasks):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return total, longest

    queue = ReadyQueue(workers, work, slot_limits(workers))
    dispatcher.generator = _watch(dispatcher, dispatcher.generator, queue)
    return queue


def _watch(dispatcher: Any, generator: Any, queue: ReadyQueue) -> Any:
    """doit's dispatcher `generator`, telling `queue` each node it hands to the runner and each
    the runner sends back (run, or found up to date).

    doit's dispatcher ends when its ready queue is empty and no task waits for another; ours
    can be non-empty then, its tasks waiting only for a slot that a running task holds. Then
    the runner is told to hold on (as doit's own dispatcher does while tasks wait), and once
    a task comes back, a dispatcher generator picks up where the last one ended: everything it
    knows lives on `dispatcher`, not in the generator."""
    sent = None
    while True:
        try:
            value = generator.send(sent)
        except StopIteration:
            if not len(queue):
                return
            sent = yield "hold on"
            if isinstance(sent, ExecNode):
                queue.finished(sent)
                dispatcher._update_waiting(sent)
                generator = dispatcher._dispatcher_generator([])
            sent = None
            continue
        if isinstance(value, ExecNode):
            queue.dispatched(value)
        sent = yield value
        if isinstance(sent, ExecNode):
            queue.finished(sent)


class RankedRun(Run):  # type: ignore[misc]
    name = "run"
    doc_purpose = "run tasks (ready tasks start by rank: the critical path first)"

    def parse_execute(self, in_args: list[str]) -> int:
        try:
            args = executor_option(verbatim_args(in_args, sys.argv))
        except MarathonError as exc:
            return _bad_input(exc.one_line())
        try:
            with load_without_gc():
                return super().parse_execute(args)  # type: ignore[no-any-return]
        except CmdParseError as exc:
            return _bad_input(_option_error(str(exc), "doit", self.get_options()))
        except (InvalidCommand, InvalidDodoFile, InvalidTask) as exc:
            return _bad_input(" ".join(str(exc).split()))
        except KeyboardInterrupt:
            # Ctrl-C: the running processes were stopped and their runs recorded as interrupted
            # (engine/tasks.py); the summary said so. The shell's convention, no traceback.
            return 128 + signal.SIGINT
        except Exception as exc:  # the last resort: one line and a log, never a traceback
            from engine.run.runtime import interrupt_open_runs

            line = internal_error("doit run", exc)
            with contextlib.suppress(Exception):
                interrupt_open_runs(f"stopped by an internal error: {line}")
            print(f"error: {line}", file=sys.stderr)
            return EXIT_INTERNAL

    # doit reads this signature to decide which options to pass: an option a newer doit adds
    # is not passed here, rather than breaking the call.
    def _execute(  # type: ignore[override]
        self,
        outfile: Any,
        verbosity: int | None = None,
        always: bool = False,
        continue_: bool = False,
        reporter: Any = "console",
        num_process: int = 0,
        par_type: str = "process",
        single: bool = False,
        auto_delayed_regex: bool = False,
        force_verbosity: bool = False,
        failure_verbosity: int = 0,
        pdb: bool = False,
    ) -> int:
        if single or pdb:
            # Debugging modes: doit's own code path, in doit's order.
            collect_from_here()
            return super()._execute(  # type: ignore[no-any-return]
                outfile,
                verbosity=verbosity,
                always=always,
                continue_=continue_,
                reporter=reporter,
                num_process=num_process,
                par_type=par_type,
                single=single,
                auto_delayed_regex=auto_delayed_regex,
                force_verbosity=force_verbosity,
                failure_verbosity=failure_verbosity,
                pdb=pdb,
            )
        PythonAction.pm_pdb = False
        self.control = TaskControl(self.task_list, auto_delayed_regex=auto_delayed_regex)
        try:
            self.control.process(self.sel_tasks)
        except InvalidCommand as exc:
            return _bad_input(self._unknown_task(exc))
        except CmdParseError as exc:
            task, options = self._task_options(str(exc))
            return _bad_input(_option_error(str(exc), f"doit {task}", options))
        reporter_cls = self.reporters[reporter] if isinstance(reporter, str) else reporter
        with _output(outfile) as outstream:
            self.outstream = outstream
            if isinstance(reporter_cls, type):
                reporter_obj = reporter_cls(outstream, {"failure_verbosity": failure_verbosity})
            else:
                reporter_obj = reporter_cls
            stream = Stream(verbosity, force_verbosity)
            args = [self.dep_manager, reporter_obj, continue_, always, stream]
            collect_from_here()
            dispatcher = self.control.task_dispatcher()
            if _rankable(dispatcher):
                # before the dispatcher has queued anything
                dispatcher.ready = ranked_queue(dispatcher, max(1, num_process))
                if num_process:
                    # a worker for every slot: -n for work, the merges' beside them
                    args.append(sum(slot_limits(num_process).values()))
            else:
                # A doit whose dispatcher no longer keeps this queue: run in doit's order.
                print(f"warning: {UNRANKED_WARNING}", file=sys.stderr)
                if num_process:
                    args.append(num_process)
            runner = _runner_class(num_process, par_type)(*args)
            from engine.run.runtime import close_runtimes, connect_executors

            try:
                connect_executors()
            except MarathonError as exc:
                print(f"error: {exc.one_line()}", file=sys.stderr)
                return exc.exit_code
            try:
                result = runner.run_all(dispatcher)
            finally:
                close_runtimes()
            _close_open_runs()
            decide = getattr(reporter_obj, "exit_code", None)
            return decide(result) if callable(decide) else result  # type: ignore[no-any-return]

    def _unknown_task(self, exc: InvalidCommand) -> str:
        name = str(exc.not_found if exc.not_found is not None else exc)
        known = [task.name for task in self.task_list if not task.subtask_of]
        known += [cmd for cmd in getattr(self.loader, "cmd_names", None) or () if cmd != "run"]
        return f"no task or command {name!r}{did_you_mean(name, known)}; `doit list` shows them"

    def _task_options(self, message: str) -> tuple[str, list[Any]]:
        """The task whose option failed to parse: the last named task before the option."""
        by_name = {task.name: task for task in self.task_list}
        current = None
        for arg in self.sel_tasks or ():
            if arg in by_name and by_name[arg].params:
                current = by_name[arg]
        if current is None:
            return "run", []
        return current.name, list(current.params)


@contextlib.contextmanager
def load_without_gc() -> Iterator[None]:
    """Python's cyclic garbage collector off while doit loads (the dodo, thousands of task
    dicts, Task objects and graph nodes), back on when the run starts (`collect_from_here`) or
    ends. Loading makes objects that live all run and almost no garbage, and each full
    collection walks every one of them: with it on, a no-op at 3000 issues spent about 40% of
    its time there (issue 18)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # Frozen objects are never finalized, not even when Python exits; what must close
        # (SQLite connections) is closed at exit by engine/sqlite.py itself.
        if was_enabled:
            gc.enable()


def collect_from_here() -> None:
    """The loaded objects stay for the run: frozen, later collections skip them (a marathon
    runs for hours and its garbage, cycles included, is collected as usual)."""
    gc.freeze()
    gc.enable()


def _close_open_runs() -> None:
    """Every task has ended: a run of this process still marked `running` was left open by
    an action that stopped half-way (an internal error). Record it, never leave it running."""
    from engine.errors import internal_log_path
    from engine.run.runtime import interrupt_open_runs

    interrupt_open_runs(f"stopped by an internal error; see {internal_log_path()}")


def verbatim_args(processed: list[str], argv: list[str]) -> list[str]:
    """`processed` with the `x=y` arguments doit's main took for variables put back.

    doit removes every argument that has an `=` and does not start with `-` before the
    command sees the rest; `argv` (the process's own sys.argv) still holds them. Only for the
    doit program itself: called any other way, the arguments are left as they are.
    """
    program = Path(argv[0]).name if argv else ""
    if program != "doit" and Path(argv[0] if argv else "").parent.name != "doit":
        return processed
    raw = argv[1:]
    kept = [i for i, arg in enumerate(raw) if not _is_variable(arg)]
    if len(kept) < len(processed) or [raw[i] for i in kept[len(kept) - len(processed) :]] != (
        processed
    ):
        return processed  # not the command line we know: leave it alone
    first = len(kept) - len(processed)
    start = kept[first - 1] + 1 if first > 0 else 0
    if first == 0 and processed:
        start = kept[0]
    return raw[start:]


def executor_option(args: list[str]) -> list[str]:
    """`--executor X` (anywhere on the line) taken out for doit and set as MARATHON_EXECUTOR
    for this run (engine/run/executor.py), before the tasks load."""
    from engine.run.executor import OVERRIDE_ENV

    kept, index = [], 0
    while index < len(args):
        arg = args[index]
        if arg == "--executor":
            if index + 1 == len(args) or args[index + 1].startswith("-"):
                raise MarathonError(
                    "--executor needs a value: local, dask, dask-local:N or a scheduler "
                    "address (tcp://host:8786)",
                    exit_code=EXIT_BAD_INPUT,
                )
            os.environ[OVERRIDE_ENV] = args[index + 1]
            index += 2
            continue
        if arg.startswith("--executor="):
            os.environ[OVERRIDE_ENV] = arg.split("=", 1)[1]
        else:
            kept.append(arg)
        index += 1
    return kept


def _is_variable(arg: str) -> bool:
    return bool(arg) and arg[0] != "-" and "=" in arg


def _bad_input(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _option_error(message: str, where: str, options: list[Any]) -> str:
    """One line from doit's option parser error (which dumps its internal option objects)."""
    found = re.search(r"Error parsing [^:]*: (.*?) \(parsing options:", message, re.S)
    reason = found.group(1) if found else " ".join(message.split())
    reason = " ".join(reason.split())
    names = [_option_name(opt) for opt in options]
    names = [name for name in names if name]
    unknown = re.match(r"option (-{1,2}[^ ]+) not recognized", reason)
    hint = did_you_mean(unknown.group(1), names) if unknown and names else ""
    if not hint and names:
        hint = f" (options: {', '.join(names)})"
    return f"{where}: {reason}{hint}; see `doit help {where.removeprefix('doit ')}`"


def _option_name(option: Any) -> str:
    long = option.get("long") if isinstance(option, dict) else getattr(option, "long", "")
    short = option.get("short") if isinstance(option, dict) else getattr(option, "short", "")
    return f"--{long}" if long else (f"-{short}" if short else "")


def _output(outfile: Any) -> IO[str] | contextlib.nullcontext[Any]:
    """doit's `--output-file` path (closed after the run) or the stream it was given (kept)."""
    if isinstance(outfile, str):
        return open(outfile, "w", encoding="utf-8")
    return contextlib.nullcontext(outfile)


def _runner_class(num_process: int, par_type: str) -> type[Runner]:
    if num_process == 0:
        return Runner
    if par_type == "thread" or not MRunner.available():
        return MThreadRunner
    if par_type == "process":
        return MRunner
    raise InvalidCommand(f"Invalid parallel type {par_type}")
