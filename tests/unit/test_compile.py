"""The compiler is a pure function: inspect its task dicts without running doit."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.compile import CheckTask, PhaseTask, Runners, compile_tasks, final_phases
from engine.config.load import parse_pipeline
from engine.issue import Issue
from tests.conftest import FAST_PIPELINE


def _never(ctx: object) -> bool:
    raise AssertionError("the compiler must not run anything")


RUNNERS = Runners(
    run_check=_never,
    check_up_to_date=_never,
    run_phase=_never,
    phase_up_to_date=_never,
    clean_issue=_never,
)


@pytest.fixture
def pipeline(tmp_path: Path):
    return parse_pipeline(FAST_PIPELINE, path=tmp_path / "marathon.yaml", root=tmp_path)


def by_name(tasks: list[dict]) -> dict[str, dict]:
    named = {}
    for task in tasks:
        name = (
            task["basename"] if task.get("name") is None else f"{task['basename']}:{task['name']}"
        )
        named[name] = task
    return named


def test_checks_become_verify_subtasks(pipeline) -> None:
    tasks = by_name(compile_tasks(pipeline, [], RUNNERS))
    assert {"verify", "verify:unit", "verify:lint", "issue"} <= set(tasks)
    unit = tasks["verify:unit"]
    assert unit["actions"][0][0] is _never
    ctx = unit["actions"][0][1][0]
    assert isinstance(ctx, CheckTask) and ctx.name == "verify:unit"
    assert "reads src/**" in unit["doc"]
    assert tasks["issue"]["task_dep"] == []


def test_phase_edges_come_from_after(pipeline) -> None:
    tasks = by_name(compile_tasks(pipeline, [Issue("PROJ-5", "Add login")], RUNNERS))
    assert tasks["issue:PROJ-5:plan"]["task_dep"] == ["issue:PROJ-5:verify"]
    assert tasks["issue:PROJ-5:test"]["task_dep"] == ["issue:PROJ-5:code"]
    assert tasks["issue:PROJ-5:qa"]["task_dep"] == ["issue:PROJ-5:code"]
    assert tasks["issue:PROJ-5:exit"]["task_dep"] == ["issue:PROJ-5:test", "issue:PROJ-5:qa"]
    gate: PhaseTask = tasks["issue:PROJ-5:verify"]["actions"][0][1][0]
    assert gate.phase.checks == ("unit", "lint")
    assert tasks["issue:PROJ-5"]["doc"] == "Add login"
    assert tasks["issue"]["task_dep"] == ["issue:PROJ-5"]
    meta = tasks["issue:PROJ-5:code"]["meta"]
    assert meta["log"].endswith(".marathon/logs/PROJ-5/code.log") and meta["kind"] == "phase"


def test_concurrent_phases_know_each_others_write_sets(pipeline) -> None:
    tasks = by_name(compile_tasks(pipeline, [Issue("PROJ-5", "x")], RUNNERS))
    test_ctx: PhaseTask = tasks["issue:PROJ-5:test"]["actions"][0][1][0]
    assert test_ctx.concurrent_writes == ("tests/e2e/**",)
    plan_ctx: PhaseTask = tasks["issue:PROJ-5:plan"]["actions"][0][1][0]
    assert plan_ctx.writes == (".marathon/plans/PROJ-5.md",)
    assert plan_ctx.concurrent_writes == ()


def test_blocked_issue_starts_after_blockers_final_phase(pipeline) -> None:
    issues = [
        Issue("PROJ-1", "schema", blocks=("PROJ-2",)),
        Issue("PROJ-2", "api", dependencies=("PROJ-1", "PROJ-3")),
        Issue("PROJ-3", "done already", state="completed"),
    ]
    tasks = by_name(compile_tasks(pipeline, issues, RUNNERS))
    assert final_phases(pipeline) == ["exit"]
    # PROJ-3 is completed: nothing to wait for
    assert tasks["issue:PROJ-2:verify"]["task_dep"] == ["issue:PROJ-1:exit"]
    assert tasks["issue:PROJ-2"]["doc"] == "api (after PROJ-1)"
    assert tasks["issue:PROJ-1:verify"]["task_dep"] == []


def test_meta_and_canceled_issues_get_no_pipeline(pipeline) -> None:
    issues = [
        Issue("PROJ-1", "project", kind="meta"),
        Issue("PROJ-2", "x", state="canceled"),
        Issue("PROJ-3", "real"),
    ]
    names = set(by_name(compile_tasks(pipeline, issues, RUNNERS)))
    assert "issue:PROJ-3:code" in names
    assert not any(n.startswith(("issue:PROJ-1", "issue:PROJ-2")) for n in names)


def test_compiling_is_deterministic(pipeline) -> None:
    issues = [Issue(f"PROJ-{n}", f"t{n}") for n in range(1, 20)]
    first = [
        (t["basename"], t.get("name"), t.get("task_dep"))
        for t in compile_tasks(pipeline, issues, RUNNERS)
    ]
    second = [
        (t["basename"], t.get("name"), t.get("task_dep"))
        for t in compile_tasks(pipeline, issues, RUNNERS)
    ]
    assert first == second
    assert (
        len(first) == 1 + 2 + 19 * 7 + 2
    )  # verify group, 2 checks, 19 x (group + 6), marathon, issue


def test_marathon_orders_bugs_then_priority_then_longest_chain(pipeline) -> None:
    issues = [
        Issue("PROJ-1", "polish", priority=4),
        Issue("PROJ-2", "short branch", priority=2),
        Issue("PROJ-3", "head of the long chain", priority=2, blocks=("PROJ-4",)),
        Issue("PROJ-4", "middle", priority=2, dependencies=("PROJ-3",), blocks=("PROJ-5",)),
        Issue("PROJ-5", "end", priority=2, dependencies=("PROJ-4",)),
        Issue("PROJ-6", "lint is red", priority=1, kind="bug"),
        Issue("PROJ-7", "done", state="completed"),
        Issue("PROJ-8", "no priority", priority=0),
    ]
    tasks = by_name(compile_tasks(pipeline, issues, RUNNERS))
    assert tasks["marathon"]["task_dep"] == [
        "issue:PROJ-6",
        "issue:PROJ-3",
        "issue:PROJ-4",
        "issue:PROJ-2",
        "issue:PROJ-5",
        "issue:PROJ-1",
        "issue:PROJ-8",
    ]
    assert "(7 open)" in tasks["marathon"]["doc"]


def test_settled_tasks_are_up_to_date_without_a_check(pipeline) -> None:
    issues = [Issue("PROJ-1", "done", state="completed"), Issue("PROJ-2", "open")]
    settled = frozenset({"issue:PROJ-1:code"})
    tasks = by_name(compile_tasks(pipeline, issues, RUNNERS, settled))
    assert tasks["issue:PROJ-1:code"]["uptodate"] == [True]
    assert tasks["issue:PROJ-1:plan"]["uptodate"][0][0] is _never
    assert tasks["issue:PROJ-2:code"]["uptodate"][0][0] is _never


def test_gate_workers_follow_doits_n() -> None:
    from engine.run.runtime import doit_jobs

    assert doit_jobs(["-n", "4", "marathon"]) == 4
    assert doit_jobs(["-n4", "verify"]) == 4
    assert doit_jobs(["--process=3", "issue:PROJ-1"]) == 3
    assert doit_jobs(["--process", "2"]) == 2
    assert doit_jobs(["issue:PROJ-1"]) == 1
    assert doit_jobs(["-n", "0"]) == 1


def ranks(tasks: dict[str, dict]) -> dict[str, tuple]:
    return {name: t["meta"]["rank"] for name, t in tasks.items() if t["meta"]["kind"] == "phase"}


def test_ready_tasks_rank_by_the_work_they_head(pipeline) -> None:
    issues = [
        Issue("PROJ-1", "alone"),
        Issue("PROJ-2", "head of a chain", blocks=("PROJ-3",)),
        Issue("PROJ-3", "after it", dependencies=("PROJ-2",)),
    ]
    rank = ranks(by_name(compile_tasks(pipeline, issues, RUNNERS)))
    # Every phase counts 1 without measurements. A chain through one issue is five long
    # (verify, plan, code, test or qa, exit): PROJ-2's test heads its test and exit, then
    # PROJ-3's five; PROJ-1's verify heads only its own five.
    assert rank["issue:PROJ-2:test"][2] == -7
    assert rank["issue:PROJ-1:verify"][2] == -5
    assert rank["issue:PROJ-2:test"] < rank["issue:PROJ-1:verify"]
    # TEST and QA head the same work; the phase order breaks the tie.
    assert rank["issue:PROJ-2:test"] < rank["issue:PROJ-2:qa"]
    assert rank["issue:PROJ-2:qa"][:4] == rank["issue:PROJ-2:test"][:4]


def test_measured_durations_weigh_the_ranks(pipeline) -> None:
    issues = [Issue("PROJ-1", "a"), Issue("PROJ-2", "b")]
    even = ranks(by_name(compile_tasks(pipeline, issues, RUNNERS)))
    assert even["issue:PROJ-1:code"][2] == -3  # code, test (qa beside it), exit
    durations = {"verify": 1.0, "plan": 60.0, "code": 180.0, "test": 120.0, "qa": 90.0}
    timed = ranks(by_name(compile_tasks(pipeline, issues, RUNNERS, durations=durations)))
    # exit has no measurement: it counts as the median of the measured phases (90 s)
    assert timed["issue:PROJ-1:code"][2] == -(180.0 + 120.0 + 90.0)
    assert timed["issue:PROJ-1:qa"][2] == -(90.0 + 90.0)


def test_bugs_then_priority_outrank_remaining_work(pipeline) -> None:
    issues = [
        Issue("PROJ-1", "long chain, low", priority=4, blocks=("PROJ-2",)),
        Issue("PROJ-2", "after it", priority=4, dependencies=("PROJ-1",)),
        Issue("PROJ-3", "urgent", priority=1),
        Issue("PROJ-4", "none", priority=0),
        Issue("PROJ-5", "red build", priority=3, kind="bug"),
    ]
    rank = ranks(by_name(compile_tasks(pipeline, issues, RUNNERS)))
    firsts = sorted((rank[f"issue:PROJ-{n}:verify"], n) for n in range(1, 6))
    assert [n for _, n in firsts] == [5, 3, 1, 2, 4]


def test_settled_tasks_weigh_nothing(pipeline) -> None:
    issues = [Issue("PROJ-1", "x")]
    settled = frozenset({"issue:PROJ-1:test", "issue:PROJ-1:qa", "issue:PROJ-1:exit"})
    rank = ranks(by_name(compile_tasks(pipeline, issues, RUNNERS, settled)))
    assert rank["issue:PROJ-1:code"][2] == -1
    assert rank["issue:PROJ-1:verify"][2] == -3


def test_settled_tasks_carry_no_work_unless_work_waits_for_them(pipeline) -> None:
    issues = [Issue("PROJ-1", "done", state="completed"), Issue("PROJ-2", "open")]
    phases = ("verify", "plan", "code", "test", "qa", "exit")
    every = frozenset(f"issue:PROJ-1:{phase}" for phase in phases)
    tasks = by_name(compile_tasks(pipeline, issues, RUNNERS, settled=every))
    done = {name: t["meta"] for name, t in tasks.items() if name in every}
    assert {(m["seconds"], m["chain"], m["rank"][2]) for m in done.values()} == {(0.0, 0.0, 0)}
    assert tasks["issue:PROJ-2:verify"]["meta"]["chain"] == 5  # verify .. exit, one each
    # A phase of the finished issue left to redo (its stamp is missing): what it waits for
    # heads it, settled or not.
    tasks = by_name(compile_tasks(pipeline, issues, RUNNERS, settled=every - {"issue:PROJ-1:qa"}))
    assert tasks["issue:PROJ-1:code"]["meta"]["chain"] == 1.0
    assert tasks["issue:PROJ-1:verify"]["meta"]["chain"] == 1.0
    assert tasks["issue:PROJ-1:test"]["meta"]["chain"] == 0.0
    assert tasks["issue:PROJ-1:qa"]["meta"]["chain"] == 1.0
