"""Per-process services shared by the tasks of one doit run: records, tracker, session id."""

from __future__ import annotations

import collections
import contextlib
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from engine.breaker import check_budget, decide
from engine.config.model import Pipeline
from engine.git import repo, worktrees
from engine.records import Records
from engine.run import lock, settle
from engine.run.executor import LOCAL, Executor, executor_for
from engine.trackers.base import Tracker
from engine.trackers.open import open_tracker

SESSION = uuid.uuid4().hex[:12]  # one doit invocation


def doit_jobs(argv: Sequence[str]) -> int:
    """The `-n` / `--process` doit was started with; 1 when absent (doit runs one task at a
    time then). A gate runs its checks with this many workers, so `-n 1` stays sequential."""
    for index, arg in enumerate(argv):
        if arg in ("-n", "--process"):
            value = argv[index + 1] if index + 1 < len(argv) else ""
        elif arg.startswith("--process="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-n") and arg[2:].isdigit():
            value = arg[2:]
        else:
            continue
        return max(1, int(value)) if value.isdigit() else 1
    return 1


JOBS = doit_jobs(sys.argv[1:])

_lock = threading.Lock()
_runtimes: dict[Path, Runtime] = {}


@dataclass
class CleanBoundaries:
    """Where each issue's worktree was last seen with nothing uncommitted: at the end of a phase
    that committed everything its last `git status` found, when it ran alone there from that
    status on (no other phase running at the status, none started since). The next phase
    started there, on the same HEAD, knows what it starts from without a `git status` of its
    own (one per phase boundary).

    What else changes a worktree between its phases changes its HEAD (a rebase, the engine's
    merge, a worker's commits), except a hand edit. A hand edit made in that window outside
    the next phase's write set is then seen as the phase's, and refused with the rest; the
    refusal says which files changed before the phase started (`_outside_refused`). Only this
    process's memory: a restarted run asks git."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _running: collections.Counter[Path] = field(default_factory=collections.Counter)
    _started: collections.Counter[Path] = field(default_factory=collections.Counter)
    _clean_at: dict[Path, str] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, worktree: Path, head: str, *, made_at: int | None = None) -> Iterator[bool]:
        """Around a phase that may write in `worktree`: yields True when it is known to start
        clean on `head`: the phase before it left it so, or the caller checked it out new
        when `made_at` phases had started there (`starts`) and none has since. What was known
        is forgotten: the phase may leave anything."""
        with self._lock:
            made = made_at is not None and made_at == self._started[worktree]
            known = self._clean_at.pop(worktree, None) == head or made
            clean = known and not self._running[worktree]
            self._running[worktree] += 1
            self._started[worktree] += 1
        try:
            yield clean
        finally:
            with self._lock:
                self._running[worktree] -= 1

    def starts(self, worktree: Path) -> int:
        """How many phases have started in `worktree`."""
        with self._lock:
            return self._started[worktree]

    def alone(self, worktree: Path) -> int | None:
        """From inside `phase`, just before a status: a token for `seen_clean` when this phase
        is the only one running there; None when another runs beside it (its writes may land
        after the status and it may end before this phase does)."""
        with self._lock:
            return self._started[worktree] if self._running[worktree] == 1 else None

    def seen_clean(self, worktree: Path, head: str, *, token: int | None) -> None:
        """From inside `phase`: its status (taken with `token` from `alone`) found nothing left
        uncommitted on `head`. Kept only if this phase ran alone then, and none started since."""
        with self._lock:
            if token is not None and self._started[worktree] == token:
                self._clean_at[worktree] = head


@dataclass
class Runtime:
    pipeline: Pipeline
    records: Records
    _tracker: Tracker | None = None
    _reaped: bool = False
    _lock_file: IO[str] | None = None
    _target: str = ""
    _target_in_root: bool | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _begin_lock: threading.Lock = field(default_factory=threading.Lock)
    _check_locks: dict[str, threading.Lock] = field(default_factory=dict)
    halted: str = ""  # set when the run must stop (a check that cannot run as configured)
    executor: Executor = LOCAL  # where phases and checks run (engine/run/executor.py)
    boundaries: CleanBoundaries = field(default_factory=CleanBoundaries)

    def halt(self, reason: str) -> None:
        """Nothing else starts in this run: every later phase and check is skipped with it."""
        with self._lock:
            self.halted = self.halted or reason

    def check_lock(self, check: str) -> threading.Lock:
        """One run of a check at a time, when several issues' gates want it at once."""
        with self._lock:
            return self._check_locks.setdefault(check, threading.Lock())

    @property
    def tracker(self) -> Tracker:
        with self._lock:
            if self._tracker is None:
                self._tracker = open_tracker(self.pipeline)
            return self._tracker

    @property
    def uses_worktrees(self) -> bool:
        return self.pipeline.git.worktrees and repo.is_repo(self.pipeline.root)

    def target_branch(self) -> str:
        with self._lock:
            if not self._target:
                self._target = self.pipeline.git.target or worktrees.current_branch(
                    self.pipeline.root
                )
            return self._target

    def target_in_root(self) -> bool:
        """Is the target branch the one checked out in the workspace (asked once per run)?"""
        target = self.target_branch()
        with self._lock:
            if self._target_in_root is None:
                self._target_in_root = worktrees.checked_out_in(self.pipeline.root) == target
            return self._target_in_root

    def planned_workdir(self, issue_id: str) -> Path:
        """Where the issue's phases run: its worktree (existing or not), or the workspace."""
        if self.uses_worktrees:
            return worktrees.worktree_path(self.pipeline.state_dir, issue_id)
        return self.pipeline.root

    def reading_dir(self, issue_id: str) -> Path:
        """Where the issue's files are read for up-to-date checks: its worktree while it
        exists, the workspace once the issue has merged."""
        planned = self.planned_workdir(issue_id)
        return planned if planned.exists() else self.pipeline.root

    def workdir(self, issue_id: str) -> Path:
        """The issue's working directory, creating its worktree if needed."""
        if not self.uses_worktrees:
            return self.pipeline.root
        repo.exclude_state_dir(self.pipeline.root)
        return worktrees.ensure_worktree(
            self.pipeline.root, self.pipeline.state_dir, issue_id, self.target_branch()
        )

    def begin(self) -> None:
        """Before this process's first task looks at anything: take the workspace lock, then
        settle what a doit that died (kill -9) left (engine/run/settle.py). Every other task
        waits until that is done."""
        with self._begin_lock:
            if self._lock_file is None:
                self._lock_file = lock.acquire(self.pipeline.state_dir)
            if self._reaped:
                return
            repairs = settle.settle(
                self.pipeline.root,
                self.pipeline.state_dir,
                self.records,
                git=repo.is_repo(self.pipeline.root),
            )
            self._reaped = True
        settle.report(repairs)


def runtime_for(pipeline: Pipeline) -> Runtime:
    with _lock:
        found = _runtimes.get(pipeline.root)
        if found is None or found.pipeline is not pipeline:
            found = Runtime(pipeline, Records(pipeline.records_db), executor=executor_for(pipeline))
            _runtimes[pipeline.root] = found
        return found


def stop_reason(rt: Runtime, issue: str, phase: str) -> str:
    """Why a phase (or, with issue "", a check) must not start: breaker or budget; "" if none.

    Reads only the runs the rules look at (this issue's, the last few of the workspace), so
    the check stays cheap in a marathon of thousands of runs.
    """
    if rt.halted:
        return f"the run stopped: {rt.halted}"
    limits, budgets = rt.pipeline.breaker, rt.pipeline.budgets
    if budgets.marathon_cost_usd is not None or budgets.marathon_turns is not None:
        runs = rt.records.runs()
    else:
        recent = rt.records.recent(limits.consecutive_failures)
        own = rt.records.runs(issue=issue) if issue else rt.records.runs(task=f"verify:{phase}")
        runs = sorted({run.id: run for run in [*own, *recent]}.values(), key=lambda r: r.id)
    reset = rt.records.reset_time(issue) if issue else 0.0
    if reset:  # `doit clean issue:ID` gave the issue a fresh start
        runs = [r for r in runs if r.issue != issue or r.started >= reset]
    decision = decide(limits, runs, issue, phase)
    if not decision.allow:
        return decision.reason
    return check_budget(budgets, runs, issue, phase) or ""


def interrupt_open_runs(reason: str) -> None:
    """Every workspace's unfinished runs of this process are recorded as interrupted."""
    with _lock:
        runtimes = list(_runtimes.values())
    for rt in runtimes:
        rt.records.interrupt_open_runs(reason)


def connect_executors() -> None:
    """Before any task runs: every remote executor reaches its cluster (a scheduler that
    cannot be reached is one error, before anything starts)."""
    with _lock:
        runtimes = list(_runtimes.values())
    for rt in runtimes:
        if rt.executor.remote:
            rt.executor.connect()  # type: ignore[attr-defined]


def close_runtimes() -> None:
    """When the run's tasks are done: the executors let go of their clusters, and the spare
    worktrees go (engine/git/worktrees.py: SPARES)."""
    with _lock:
        runtimes = list(_runtimes.values())
    for rt in runtimes:
        if rt.executor.remote:
            rt.executor.close()  # type: ignore[attr-defined]
        if rt.uses_worktrees:
            worktrees.drop_spares(rt.pipeline.root, rt.pipeline.state_dir)
