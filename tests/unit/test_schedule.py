"""The list schedule behind `doit status`'s time left and the benchmarks' reference line."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.compile import READ_ONLY_RUNNERS, compile_tasks, typical_seconds
from engine.config.load import parse_pipeline
from engine.errors import MarathonError
from engine.issue import Issue
from engine.schedule import Job, ReadyTasks, makespan, remaining_jobs, simulate
from tests.conftest import FAST_PIPELINE


def test_workers_share_independent_jobs() -> None:
    jobs = {"a": Job(2.0, ()), "b": Job(2.0, ()), "c": Job(1.0, ("a",))}
    assert makespan(jobs, 1) == 5.0
    assert makespan(jobs, 2) == 3.0
    assert makespan(jobs, 8) == 3.0


def test_the_lowest_rank_starts_first() -> None:
    # One worker is free and two jobs are ready: starting `head` (it unblocks `tail`) first
    # lets `tail` overlap with `side`; starting `side` first does not.
    def jobs(head_rank: int, side_rank: int) -> dict[str, Job]:
        return {
            "head": Job(1.0, (), (head_rank,)),
            "side": Job(3.0, (), (side_rank,)),
            "tail": Job(3.0, ("head",), (0,)),
            "busy": Job(1.0, (), (-1,)),  # holds the second worker at first
        }

    assert makespan(jobs(0, 1), 2) == 4.0
    assert makespan(jobs(1, 0), 2) == 5.0


def test_jobs_outside_the_set_count_as_done_and_bad_input_is_refused() -> None:
    assert makespan({"b": Job(1.5, ("a",))}, 4) == 1.5
    assert makespan({}, 4) == 0.0
    with pytest.raises(MarathonError, match="cycle"):
        makespan({"a": Job(1.0, ("b",)), "b": Job(1.0, ("a",))}, 2)
    with pytest.raises(MarathonError, match="at least 1"):
        makespan({"a": Job(1.0, ())}, 0)


def test_typical_seconds_fall_back_to_the_median_then_to_one() -> None:
    assert typical_seconds({"code": 180.0, "plan": 60.0, "qa": 90.0})("exit") == 90.0
    assert typical_seconds({"code": 180.0})("code") == 180.0
    assert typical_seconds({})("anything") == 1.0


def test_remaining_jobs_of_a_compiled_marathon(tmp_path: Path) -> None:
    pipeline = parse_pipeline(FAST_PIPELINE, path=tmp_path / "marathon.yaml", root=tmp_path)
    issues = [
        Issue("PROJ-1", "first", blocks=("PROJ-2",)),
        Issue("PROJ-2", "second", dependencies=("PROJ-1",)),
    ]
    tasks = compile_tasks(pipeline, issues, READ_ONLY_RUNNERS)
    done = {"issue:PROJ-1:verify", "issue:PROJ-1:plan"}
    jobs = remaining_jobs(tasks, typical_seconds({"code": 4.0}), done)
    phases = ("verify", "plan", "code", "test", "qa", "exit")
    every = {f"issue:PROJ-{n}:{phase}" for n in (1, 2) for phase in phases}
    assert set(jobs) == every - done
    assert jobs["issue:PROJ-1:code"].after == ()  # its plan is done
    assert jobs["issue:PROJ-2:verify"].after == ("issue:PROJ-1:exit",)
    assert jobs["issue:PROJ-1:code"].seconds == 4.0 and jobs["issue:PROJ-1:qa"].seconds == 4.0
    total = sum(job.seconds for job in jobs.values())
    assert makespan(jobs, 1) == total
    # PROJ-1: code, then test beside qa, then exit; PROJ-2 all five one after another
    assert makespan(jobs, 4) == 3 * 4.0 + 5 * 4.0


# -- started issues finish before new ones start ---------------------------------------------


def wide(issues: int, phases: int = 3, chain_of: int = 0) -> dict[str, Job]:
    """`issues` issues of `phases` one-second jobs one after another; the first `chain_of`
    issues wait for each other in a line. Ranked as the compiler ranks: (bug, priority, minus
    the chain a job heads, issue number, phase)."""
    jobs: dict[str, Job] = {}
    for n in range(1, issues + 1):
        later_issues = max(0, chain_of - n) if n <= chain_of else 0
        for p in range(phases):
            after = (f"{n}:{p - 1}",) if p else ()
            if p == 0 and 1 < n <= chain_of:
                after = (f"{n - 1}:{phases - 1}",)
            chain = float(phases - p + later_issues * phases)
            jobs[f"{n}:{p}"] = Job(1.0, after, (1, 5, -chain, n, p), str(n), chain)
    return jobs


def live_issues(times: dict[str, tuple[float, float]]) -> list[int]:
    """Issues started and not finished, at every whole second."""
    span: dict[str, tuple[float, float]] = {}
    for name, (start, end) in times.items():
        issue = name.split(":")[0]
        first, last = span.get(issue, (start, end))
        span[issue] = (min(first, start), max(last, end))
    end = int(max(last for _, last in span.values()))
    return [sum(1 for a, b in span.values() if a <= t < b) for t in range(end)]


def test_started_issues_finish_before_new_ones_start() -> None:
    jobs = wide(16)
    times = simulate(jobs, 2)
    # Two workers, sixteen issues of three steps: two issues at a time, one after another
    # (the last few start together, as soon as waiting could lengthen the run), and no
    # longer than packing the work perfectly (48 s / 2).
    live = live_issues(times)
    assert max(live[:18]) == 2 and max(live) <= 4
    assert makespan(jobs, 2) == 24.0
    first_done = min(end for name, (_, end) in times.items() if name.endswith(":2"))
    last_start = max(start for name, (start, _) in times.items() if name.endswith(":0"))
    assert first_done == 3.0 and first_done < last_start


def test_the_rank_alone_advances_issues_in_lockstep() -> None:
    # The control: the same jobs without their issues are ranked as before issue 18.
    jobs = {name: Job(j.seconds, j.after, j.rank) for name, j in wide(16).items()}
    times = simulate(jobs, 2)
    assert max(live_issues(times)) == 16
    assert min(end for name, (_, end) in times.items() if name.endswith(":2")) > 16


def chain_and_forks() -> dict[str, Job]:
    """Issues 1..5 wait for each other in a line, three 1 s jobs each (15 s, the critical
    path); issues 6 and 7 stand alone, a head, four jobs side by side, a tail (6 s each)."""
    jobs: dict[str, Job] = {}
    for n in range(1, 6):
        for p in range(3):
            after = (f"{n}:{p - 1}",) if p else ((f"{n - 1}:2",) if n > 1 else ())
            chain = float(3 - p + (5 - n) * 3)
            jobs[f"{n}:{p}"] = Job(1.0, after, (1, 5, -chain, n, p), str(n), chain)
    for n in (6, 7):
        jobs[f"{n}:head"] = Job(1.0, (), (1, 5, -3.0, n, 0), str(n), 3.0)
        for p in range(4):
            jobs[f"{n}:{p}"] = Job(1.0, (f"{n}:head",), (1, 5, -2.0, n, 1), str(n), 2.0)
        tail_after = tuple(f"{n}:{p}" for p in range(4))
        jobs[f"{n}:tail"] = Job(1.0, tail_after, (1, 5, -1.0, n, 2), str(n), 1.0)
    return jobs


def test_an_urgent_chain_starts_before_started_issues_continue() -> None:
    # On 2 workers the other issues' work (12 s / 2) leaves room; the chain does not: each of
    # its issues starts the moment the one before it ends, even while a started issue has
    # jobs ready, and the run takes the critical path.
    jobs = chain_and_forks()
    times = simulate(jobs, 2)
    for n in range(2, 6):
        assert times[f"{n}:0"][0] == times[f"{n - 1}:2"][1]
    assert makespan(jobs, 2) == 15.0


def test_without_known_work_the_rank_alone_decides() -> None:
    ready: ReadyTasks[str] = ReadyTasks()
    ready.push("b0", (1, 5, -3.0, 2, 0), "b", 3.0)
    ready.push("a0", (1, 5, -3.0, 1, 0), "a", 3.0)
    ready.push("group")
    assert [ready.pop(), ready.pop(), ready.pop()] == ["group", "a0", "b0"]
    with pytest.raises(IndexError):
        ready.pop()


def test_a_deferred_task_moves_up_when_its_issue_starts() -> None:
    ready: ReadyTasks[str] = ReadyTasks(workers=1, work=100.0, longest=1.0)
    ready.push("a-light", (1, 5, -2.0, 1, 1), "a", 2.0)  # deferred: issue a has not started
    ready.push("b-heavy", (1, 5, -5.0, 2, 0), "b", 5.0)
    ready.push("c-heavy", (1, 5, -5.0, 3, 0), "c", 5.0)
    assert ready.pop() == "b-heavy"
    ready.started("b", 1.0)
    ready.started("a", 1.0)  # a task of issue a started elsewhere
    assert ready.pop() == "a-light"
    assert len(ready) == 1 and ready.pop() == "c-heavy" and not ready
