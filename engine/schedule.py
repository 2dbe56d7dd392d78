"""How long the remaining work takes on N workers, following the rule the ranked run follows:
whenever a worker is free it takes the ready task of lowest rank (engine/doit_run.py).

Pure functions over compiled task dicts (a phase's typical seconds come from
`engine.compile.typical_seconds`), so `doit status` can estimate the time left and the
benchmarks can print what a schedule without any engine overhead would take.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.compile import task_name
from engine.errors import MarathonError


@dataclass(frozen=True)
class Job:
    seconds: float
    after: tuple[str, ...]  # jobs it waits for; names that are not jobs count as done
    rank: tuple[Any, ...] = ()


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
        jobs[name] = Job(seconds(meta["phase"]), after, tuple(meta.get("rank", ())))
    return jobs


def makespan(jobs: Mapping[str, Job], workers: int) -> float:
    """Seconds until every job is done on `workers` workers, lowest rank first when several
    are ready (then by name, so the answer is the same every time)."""
    if workers < 1:
        raise MarathonError(f"workers: {workers}; at least 1")
    children: dict[str, list[str]] = {name: [] for name in jobs}
    waiting: dict[str, int] = {}
    for name, job in jobs.items():
        blockers = [dep for dep in job.after if dep in jobs]
        waiting[name] = len(blockers)
        for dep in blockers:
            children[dep].append(name)
    ready = [(job.rank, name) for name, job in jobs.items() if waiting[name] == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now, finished = 0.0, 0
    while ready or running:
        while ready and len(running) < workers:
            _, name = heapq.heappop(ready)
            heapq.heappush(running, (now + jobs[name].seconds, name))
        now, name = heapq.heappop(running)
        finished += 1
        for kid in children[name]:
            waiting[kid] -= 1
            if waiting[kid] == 0:
                heapq.heappush(ready, (jobs[kid].rank, kid))
    if finished != len(jobs):
        raise MarathonError("the jobs wait for each other in a cycle")
    return now
