"""The list schedule behind `doit status`'s time left and the benchmarks' reference line."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.compile import READ_ONLY_RUNNERS, compile_tasks, typical_seconds
from engine.config.load import parse_pipeline
from engine.errors import MarathonError
from engine.issue import Issue
from engine.schedule import Job, makespan, remaining_jobs
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
