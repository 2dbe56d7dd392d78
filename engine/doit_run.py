"""doit's `run` command, starting the best ready task first instead of the oldest.

doit keeps the tasks that are ready to start in a first-in first-out queue, so once a marathon
is under way the next free worker takes whichever task became ready first, wherever it sits in
the graph. Each phase task the compiler makes carries `meta["rank"]` (engine/compile.py: bug
issues, then priority, then the most remaining work behind the task); this command swaps that
queue for one ordered by rank. Tasks without a rank (groups, commands, checks, any other
project's tasks) come first and in doit's own order, so for them nothing changes.

A workspace selects it in doit.cfg (written by `python -m engine setup`) or in pyproject.toml:

    [COMMAND]                            [tool.doit.plugins.command]
    run = engine.doit_run:RankedRun      run = "engine.doit_run:RankedRun"
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import itertools
import sys
from typing import IO, Any

from doit.action import PythonAction
from doit.cmd_run import Run
from doit.control import TaskControl
from doit.exceptions import InvalidCommand
from doit.runner import MRunner, MThreadRunner, Runner
from doit.task import Stream

_UNRANKED: tuple[()] = ()
UNRANKED_WARNING = (
    "this doit's task dispatcher has no ready queue to rank; tasks start in doit's own order "
    "(marathon-engine supports doit 0.36 and 0.37)"
)


class ReadyQueue:
    """The part of `collections.deque` doit's dispatcher uses (append, popleft, truth), ordered
    by task rank; equal ranks leave in the order they came."""

    def __init__(self) -> None:
        self._heap: list[tuple[tuple[Any, ...], int, Any]] = []
        self._arrival = itertools.count()

    def append(self, node: Any) -> None:
        meta = node.task.meta or {}
        rank = tuple(meta.get("rank", _UNRANKED))
        heapq.heappush(self._heap, (rank, next(self._arrival), node))

    def popleft(self) -> Any:
        return heapq.heappop(self._heap)[-1]

    def __len__(self) -> int:
        return len(self._heap)


class RankedRun(Run):  # type: ignore[misc]
    name = "run"
    doc_purpose = "run tasks (ready tasks start by rank: the critical path first)"

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
        self.control.process(self.sel_tasks)
        reporter_cls = self.reporters[reporter] if isinstance(reporter, str) else reporter
        with _output(outfile) as outstream:
            self.outstream = outstream
            if isinstance(reporter_cls, type):
                reporter_obj = reporter_cls(outstream, {"failure_verbosity": failure_verbosity})
            else:
                reporter_obj = reporter_cls
            stream = Stream(verbosity, force_verbosity)
            args = [self.dep_manager, reporter_obj, continue_, always, stream]
            if num_process:
                args.append(num_process)
            runner = _runner_class(num_process, par_type)(*args)
            dispatcher = self.control.task_dispatcher()
            if isinstance(getattr(dispatcher, "ready", None), collections.deque):
                dispatcher.ready = ReadyQueue()  # before the dispatcher has queued anything
            else:
                # A doit whose dispatcher no longer keeps this queue: run in doit's order.
                print(f"warning: {UNRANKED_WARNING}", file=sys.stderr)
            return runner.run_all(dispatcher)  # type: ignore[no-any-return]


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
