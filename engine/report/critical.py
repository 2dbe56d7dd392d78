"""The critical path of a finished run: the chain of tasks that decided its wall time.

Two ways, depending on what the caller knows:

* With a dependency map (task -> tasks it waits for, e.g. from the compiled doit tasks), it is
  the classic critical path: the dependency chain with the largest sum of run durations.
* Without one, it is inferred from the timestamps alone by walking back from the run that
  ended last: each step takes the run that ended latest no later than the current run started
  (the one it most plausibly waited for). On a dependency-driven schedule this finds the same
  chain (e.g. slowest check -> plan -> code -> slower of test/qa -> exit); when a run was
  merely waiting for a free worker, the walk shows that wait as part of the path, which is
  also what decided the wall time.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence

from engine.records import RunRecord

# Timestamps come from different processes; a run that "started" a few milliseconds before its
# predecessor's end was recorded still waited for it.
_CLOCK_SLACK = 0.05


def critical_path(
    runs: Sequence[RunRecord], deps: Mapping[str, Iterable[str]] | None = None
) -> list[str]:
    """Task names on the critical path, first to last; [] when there are no finished runs."""
    finished = [run for run in last_runs(runs) if run.ended is not None]
    if not finished:
        return []
    if deps is not None:
        return _longest_dependency_chain(finished, deps)
    return _last_arrival_chain(finished)


def last_runs(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """The latest run of each task (a retried task counts once, by its final attempt)."""
    latest: dict[str, RunRecord] = {}
    for run in runs:
        if run.status == "skipped":
            continue
        seen = latest.get(run.task)
        if seen is None or (run.started, run.id) > (seen.started, seen.id):
            latest[run.task] = run
    return list(latest.values())


def _duration(run: RunRecord) -> float:
    return max(0.0, (run.ended or run.started) - run.started)


def _longest_dependency_chain(
    runs: list[RunRecord], deps: Mapping[str, Iterable[str]]
) -> list[str]:
    by_task = {run.task: run for run in runs}
    # Only edges between tasks that ran count; a task that was up to date adds nothing.
    needs = {
        task: [d for d in deps.get(task, ()) if d in by_task and d != task] for task in by_task
    }
    best: dict[str, tuple[float, str | None]] = {}  # task -> (chain length, predecessor)
    for root in by_task:
        # Iterative depth-first search: a thousand chained issues must not hit the
        # recursion limit. A back edge (a cycle in a bad map) is skipped, never followed.
        stack: list[tuple[str, int]] = [(root, 0)]
        on_stack = {root}
        while stack:
            task, index = stack[-1]
            pending = needs[task]
            if index < len(pending):
                stack[-1] = (task, index + 1)
                dep = pending[index]
                if dep not in best and dep not in on_stack:
                    stack.append((dep, 0))
                    on_stack.add(dep)
                continue
            stack.pop()
            on_stack.discard(task)
            if task in best:
                continue
            top, via = 0.0, None
            for dep in pending:
                if dep in best and best[dep][0] > top:
                    top, via = best[dep][0], dep
            best[task] = (top + _duration(by_task[task]), via)

    end = max(by_task, key=lambda task: (best[task][0], by_task[task].ended or 0.0))
    chain: list[str] = []
    step: str | None = end
    while step is not None and step not in chain:
        chain.append(step)
        step = best[step][1]
    return chain[::-1]


def _last_arrival_chain(runs: list[RunRecord]) -> list[str]:
    ordered = sorted(runs, key=lambda run: (run.ended or 0.0, run.id))
    ends = [run.ended or 0.0 for run in ordered]
    current = ordered[-1]
    chain = [current]
    while True:
        # Scan back from the last run that ended by the time `current` started: the first one
        # that also started earlier is the latest arrival. Start times strictly decrease along
        # the chain, so the walk always ends.
        index = bisect.bisect_right(ends, current.started + _CLOCK_SLACK) - 1
        while index >= 0 and ordered[index].started >= current.started:
            index -= 1
        if index < 0:
            break
        current = ordered[index]
        chain.append(current)
    return [run.task for run in reversed(chain)]
