"""Which ready task starts next, and how long the remaining work takes on N workers.

The rule (`ReadyTasks`), followed by the ranked run (engine/doit_run.py) and replayed here by
`makespan`: whenever a worker is free it takes the ready task of lowest rank (bug issues, then
priority, then the most remaining work behind it; engine/compile.py), except that a task of an
issue that has not started yet waits behind the tasks of issues that have, unless waiting could
lengthen the run. Without that exception the rank advances every issue in lockstep (every
issue's PLAN before any CODE): all worktrees exist at once and nothing merges until the end.
With it, live worktrees stay near the number of workers and issues merge as they go.

"Could lengthen the run": the run takes at least (work not yet started) / workers. A task whose
chain (the heaviest chain of tasks it heads, itself included) plus a margin of two of the
longest tasks reaches that bound is on the path that decides the end, so it goes by its rank
alone (the critical path first). The margin: one task for a worker to come free, one for what
a greedy schedule loses; over 300 random graphs against the rank alone, a margin of one task
lengthened runs by up to 2.5 %, two by up to 1.4 % (0.07 % on average). As work starts the
bound falls, so an issue that waits becomes urgent before its waiting could delay the end.

Pure functions over compiled task dicts (a phase's typical seconds come from
`engine.compile.typical_seconds`), so `doit status` can estimate the time left and the
benchmarks can print what a schedule without any engine overhead would take.
"""

from __future__ import annotations

import collections
import heapq
import itertools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from engine.compile import task_name
from engine.errors import MarathonError

T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    seconds: float
    after: tuple[str, ...]  # jobs it waits for; names that are not jobs count as done
    rank: tuple[Any, ...] = ()
    issue: str = ""  # jobs of one issue start it together; "" = not part of an issue
    chain: float = 0.0  # seconds of the heaviest chain it heads, itself included


class _Entry(Generic[T]):
    __slots__ = ("arrival", "chain", "deferred", "gone", "issue", "item", "rank", "version")

    def __init__(self, item: T, rank: tuple[Any, ...], issue: str, chain: float, n: int):
        self.item, self.rank, self.issue, self.chain, self.arrival = item, rank, issue, chain, n
        self.version = 0
        self.deferred = False  # behind the started issues' tasks
        self.gone = False  # popped


class ReadyTasks(Generic[T]):
    """Ready tasks, the next one to start first (the rule in this module's docstring).

    `work` is the seconds of every task still to start (ready or not), `longest` the longest
    single task; `started(issue, seconds)` is told when a task starts. Unranked items (groups,
    checks, other projects' tasks) leave first, in arrival order; so do equal ranks. With the
    defaults (no work known) nothing is deferred: the rank alone decides.
    """

    def __init__(self, workers: int = 1, work: float = 0.0, longest: float = 0.0) -> None:
        self._workers = max(1, workers)
        self._work = work
        self._longest = longest
        self._unranked: collections.deque[T] = collections.deque()  # before any ranked
        self._heap: list[tuple[tuple[Any, ...], int, int, _Entry[T]]] = []
        self._deferred: list[tuple[float, int, _Entry[T]]] = []  # longest chain first
        self._by_issue: dict[str, list[_Entry[T]]] = {}
        self._started: set[str] = set()
        self._arrival = itertools.count()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, item: T, rank: tuple[Any, ...] = (), issue: str = "", chain: float = 0.0):
        self._size += 1
        if not rank:
            self._unranked.append(item)
            return
        entry = _Entry(item, rank, issue, chain, next(self._arrival))
        if issue and issue not in self._started and not self._urgent(chain):
            entry.deferred = True
            self._by_issue.setdefault(issue, []).append(entry)
            heapq.heappush(self._deferred, (-chain, entry.arrival, entry))
        self._push(entry)

    def pop(self) -> T:
        if self._unranked:
            self._size -= 1
            return self._unranked.popleft()
        while self._deferred and self._urgent(-self._deferred[0][0]):
            self._undefer(heapq.heappop(self._deferred)[-1])
        while self._heap:
            _, _, version, entry = heapq.heappop(self._heap)
            if entry.gone or version != entry.version:
                continue  # an older place of an entry that moved up
            entry.gone = True
            self._size -= 1
            return entry.item
        raise IndexError("no ready task")

    def started(self, issue: str, seconds: float) -> None:
        self._work -= seconds
        if not issue or issue in self._started:
            return
        self._started.add(issue)
        for entry in self._by_issue.pop(issue, ()):
            self._undefer(entry)

    def _urgent(self, chain: float) -> bool:
        return chain + 2 * self._longest >= self._work / self._workers

    def _undefer(self, entry: _Entry[T]) -> None:
        if entry.gone or not entry.deferred:
            return
        entry.deferred = False
        entry.version += 1
        self._push(entry)

    def _push(self, entry: _Entry[T]) -> None:
        rank = entry.rank
        key = (*rank[:2], int(entry.deferred), *rank[2:])
        heapq.heappush(self._heap, (key, entry.arrival, entry.version, entry))


def remaining_jobs(
    tasks: Sequence[Mapping[str, Any]], seconds: Callable[[str], float], done: Collection[str]
) -> dict[str, Job]:
    """The phase tasks of compiled `tasks` that are not `done`, as jobs."""
    jobs: dict[str, Job] = {}
    for task in tasks:
        meta = task.get("meta") or {}
        name = task_name(task)
        if meta.get("kind") != "phase" or name in done:
            continue
        after = tuple(dep for dep in task.get("task_dep", ()) if dep not in done)
        rank = tuple(meta.get("rank", ()))
        jobs[name] = Job(
            seconds(meta["phase"]), after, rank, meta.get("issue", ""), meta.get("chain", 0.0)
        )
    return jobs


def makespan(jobs: Mapping[str, Job], workers: int) -> float:
    """Seconds until every job is done on `workers` workers (see `simulate`)."""
    return max((end for _, end in simulate(jobs, workers).values()), default=0.0)


def simulate(jobs: Mapping[str, Job], workers: int) -> dict[str, tuple[float, float]]:
    """(start, end) of each job on `workers` workers, each free worker taking the next ready
    job by `ReadyTasks`' rule (equal ranks in the order they became ready, by name among those
    ready at once, so the answer is the same every time)."""
    if workers < 1:
        raise MarathonError(f"workers: {workers}; at least 1")
    children: dict[str, list[str]] = {name: [] for name in jobs}
    waiting: dict[str, int] = {}
    for name, job in jobs.items():
        blockers = [dep for dep in job.after if dep in jobs]
        waiting[name] = len(blockers)
        for dep in blockers:
            children[dep].append(name)
    work = sum(job.seconds for job in jobs.values())
    longest = max((job.seconds for job in jobs.values()), default=0.0)
    ready: ReadyTasks[str] = ReadyTasks(workers, work, longest)

    def push(name: str) -> None:
        job = jobs[name]
        ready.push(name, job.rank, job.issue, job.chain)

    for name in sorted(name for name in jobs if waiting[name] == 0):
        push(name)
    running: list[tuple[float, str]] = []
    times: dict[str, tuple[float, float]] = {}
    now = 0.0
    while ready or running:
        while ready and len(running) < workers:
            name = ready.pop()
            job = jobs[name]
            ready.started(job.issue, job.seconds)
            times[name] = (now, now + job.seconds)
            heapq.heappush(running, (now + job.seconds, name))
        now, name = heapq.heappop(running)
        for kid in sorted(children[name]):
            waiting[kid] -= 1
            if waiting[kid] == 0:
                push(kid)
    if len(times) != len(jobs):
        raise MarathonError("the jobs wait for each other in a cycle")
    return times
