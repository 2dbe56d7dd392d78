"""Circuit breaker, error signatures and budgets: pure functions over durable run records."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.breaker import (
    ALLOW,
    BreakerLimits,
    Budgets,
    check_budget,
    decide,
    error_signature,
    normalise_error,
    spent,
)
from engine.errors import MarathonError
from engine.records import Records, RunRecord

_BASE = RunRecord(
    id=0,
    session="s",
    task="",
    issue="",
    phase="",
    attempt=1,
    started=0.0,
    ended=1.0,
    status="failed",
    exit_code=1,
    log_path="",
    error="",
    signature="",
    cost_usd=None,
    input_tokens=None,
    output_tokens=None,
    turns=None,
    session_id="",
)


class History:
    """Builds run records in order, the way the runner would append them."""

    def __init__(self) -> None:
        self.runs: list[RunRecord] = []

    def add(
        self,
        issue: str,
        phase: str,
        status: str = "failed",
        error: str = "boom",
        cost: float | None = None,
        turns: int | None = None,
    ) -> History:
        n = len(self.runs) + 1
        self.runs.append(
            replace(
                _BASE,
                id=n,
                task=f"issue:{issue}:{phase}",
                issue=issue,
                phase=phase,
                status=status,
                started=float(n),
                ended=float(n) + 0.5,
                error=error if status == "failed" else "",
                cost_usd=cost,
                turns=turns,
            )
        )
        return self


LIMITS = BreakerLimits()

# -- signatures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("2026-11-25T22:45:50.123Z error in build", "2026-11-26T01:02:03Z error in build"),
        ("timed out after 12.5s", "timed out after 900ms"),
        ("src/app.py:12:5: E501 line too long", "src/app.py:80:1: E501 line too long"),
        ('File "/home/a/proj/app.py", line 3', 'File "/tmp/worktree-9/app.py", line 41'),
        (
            "FAILED ./tests/test_x.py::t - assert 3 == 4",
            "FAILED tests/test_x.py::t - assert 5 == 1",
        ),
        ("object at 0x7f3a2b1c", "object at 0x55d1e0"),
        ("commit 3f2a9c1d7e failed", "commit 9b8c7d6e5f4 failed"),
        (
            "request 0199a213-81c0-7800-8aa1-bbab2a035a53 denied",
            "request 11111111-2222-3333-4444-555555555555 denied",
        ),
        ("exit   code 3\n\n", "exit code 4"),
    ],
)
def test_same_failure_same_signature(first: str, second: str) -> None:
    assert error_signature(first) == error_signature(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("src/app.py:12: E501 line too long", "src/db.py:12: E501 line too long"),
        ("AssertionError: expected", "ImportError: no module"),
    ],
)
def test_different_failures_differ(first: str, second: str) -> None:
    assert error_signature(first) != error_signature(second)


def test_normalised_text_is_readable() -> None:
    text = "2026-11-25 22:45:50 /srv/x/app.py:12:5: took 1.5s, id 0xdeadbeef, 42 items"
    assert normalise_error(text) == (
        "<time> <dir>/app.py:<line>:<col>: took <dur>, id <hex>, <n> items"
    )


def test_empty_error_has_empty_signature() -> None:
    assert error_signature("  \n ") == ""


# -- breaker ---------------------------------------------------------------------------------


def test_defaults_are_the_seed_tools() -> None:
    assert [LIMITS.attempts_for(p) for p in ("verify", "plan", "code", "test", "qa", "exit")] == [
        3,
        3,
        3,
        5,
        5,
        3,
    ]
    assert (LIMITS.per_issue, LIMITS.consecutive_failures, LIMITS.same_error) == (5, 5, 3)


def test_fresh_phase_is_allowed() -> None:
    assert decide(LIMITS, [], "P-1", "code") == ALLOW


def test_code_stops_after_three_failures() -> None:
    h = History().add("P-1", "code", error="e1").add("P-1", "code", error="e2")
    assert decide(LIMITS, h.runs, "P-1", "code").allow
    h.add("P-1", "code", error="SyntaxError in app.py")
    decision = decide(LIMITS, h.runs, "P-1", "code")
    assert not decision.allow
    assert decision.reason == (
        "P-1 code failed 3 times in a row (limit 3); last error: SyntaxError in app.py"
    )


def test_test_phase_gets_five_attempts() -> None:
    h = History()
    for n in range(4):
        h.add("P-1", "test", error=f"different error {'x' * n}")
    assert decide(LIMITS, h.runs, "P-1", "test").allow


def test_success_resets_the_phase_count() -> None:
    h = History().add("P-1", "plan", error="a").add("P-1", "plan", error="b")
    h.add("P-1", "plan", status="success").add("P-1", "plan", error="c")
    assert decide(LIMITS, h.runs, "P-1", "plan").allow


def test_interrupted_and_running_runs_do_not_count() -> None:
    h = History().add("P-1", "code", error="a").add("P-1", "code", status="interrupted")
    h.add("P-1", "code", error="b").add("P-1", "code", status="running")
    assert decide(LIMITS, h.runs, "P-1", "code").allow


def test_per_issue_limit_counts_all_phases() -> None:
    h = History()
    for phase, error in [("plan", "a"), ("code", "b"), ("code", "c"), ("test", "d"), ("qa", "e")]:
        h.add("P-1", phase, error=error)
        h.add("P-9", "code", status="success")  # keeps the global streak short
    decision = decide(LIMITS, h.runs, "P-1", "exit")
    assert not decision.allow
    assert decision.reason.startswith("P-1 has failed 5 runs (limit 5 per issue)")


def test_consecutive_failures_anywhere_stop_everything() -> None:
    h = History()
    for n in range(5):
        h.add(f"P-{n}", "code", error=f"error number {'y' * n}")
    decision = decide(LIMITS, h.runs, "P-77", "plan")
    assert not decision.allow
    assert "the last 5 runs all failed" in decision.reason
    assert "systemic" in decision.reason


def test_same_error_three_times_for_an_issue() -> None:
    h = History().add("P-1", "test", error="tests/a.py:3: assert 1 == 2 (0.3s)")
    h.add("P-1", "qa", error="tests/a.py:9: assert 5 == 2 (1.2s)")
    h.add("P-1", "test", error="/tmp/wt/tests/a.py:4: assert 7 == 8 (2s)")
    decision = decide(LIMITS, h.runs, "P-1", "test")
    assert not decision.allow
    assert decision.reason.startswith("P-1 hit the same error 3 times in a row (limit 3)")


def test_recorded_signature_is_preferred() -> None:
    h = History().add("P-1", "test", error="x").add("P-1", "test", error="y")
    h.add("P-1", "test", error="z")
    h.runs = [replace(r, signature="same") for r in h.runs]
    assert "same error" in decide(LIMITS, h.runs, "P-1", "test").reason


def test_verify_checks_use_the_verify_limit() -> None:
    h = History().add("", "lint").add("", "lint", error="other").add("", "lint", error="third")
    decision = decide(LIMITS, h.runs, "", "lint")
    assert not decision.allow
    assert decision.reason.startswith("check lint failed 3 times in a row (limit 3)")


def test_since_forgets_older_runs() -> None:
    h = History().add("P-1", "code", error="a").add("P-1", "code", error="b")
    h.add("P-1", "code", error="c")
    assert not decide(LIMITS, h.runs, "P-1", "code").allow
    assert decide(LIMITS, h.runs, "P-1", "code", since=3.5).allow


def test_zero_switches_a_rule_off() -> None:
    limits = BreakerLimits.from_mapping({"attempts": {"code": 0}, "same_error": 0})
    h = History().add("P-1", "code").add("P-1", "code").add("P-1", "code")
    assert decide(limits, h.runs, "P-1", "code").allow
    assert limits.attempts_for("test") == 5  # defaults kept for unnamed phases


def test_limits_from_mapping_rejects_bad_input() -> None:
    with pytest.raises(MarathonError, match="did you mean 'per_issue'"):
        BreakerLimits.from_mapping({"per_isue": 3})
    with pytest.raises(MarathonError) as caught:
        BreakerLimits.from_mapping({"same_error": -1})
    assert caught.value.where == "breaker.same_error"


def test_decide_reads_durable_records(tmp_path: Path) -> None:
    records = Records(tmp_path / "records.db")
    for n in range(3):
        run = records.start_run("s1", "issue:P-1:code", "P-1", "code", "")
        records.finish_run(
            run,
            "failed",
            exit_code=1,
            error=f"compile error {n}",
            signature=error_signature(f"compile error {n}"),
        )
    # A new process (a rerun after a crash) sees the same counts.
    reopened = Records(tmp_path / "records.db")
    assert not decide(LIMITS, reopened.runs(), "P-1", "code").allow


# -- budgets ---------------------------------------------------------------------------------


def test_no_budgets_never_stop() -> None:
    h = History().add("P-1", "code", status="success", cost=100.0, turns=999)
    assert check_budget(Budgets(), h.runs, "P-1", "code") is None


def test_phase_cost_counts_every_attempt() -> None:
    h = History().add("P-1", "code", cost=0.75).add("P-1", "code", cost=0.5)
    budgets = Budgets(phase_cost_usd=1.0)
    message = check_budget(budgets, h.runs, "P-1", "code")
    assert message == (
        "budget reached: P-1 code has spent $1.25 of its $1.00 "
        "(budgets.phase.max_cost_usd); no new phases start"
    )
    assert check_budget(budgets, h.runs, "P-1", "test") is None


def test_issue_turns() -> None:
    h = History().add("P-1", "plan", status="success", turns=30)
    h.add("P-1", "code", status="success", turns=25)
    message = check_budget(Budgets(issue_turns=50), h.runs, "P-1", "test")
    assert message is not None
    assert "P-1 has used 55 of its 50 turns (budgets.issue.max_turns)" in message


def test_marathon_cost_spans_issues() -> None:
    h = History().add("P-1", "code", status="success", cost=3.0)
    h.add("P-2", "code", status="success", cost=2.5)
    message = check_budget(Budgets(marathon_cost_usd=5.0), h.runs, "P-3", "plan")
    assert message is not None and "this marathon has spent $5.50 of its $5.00" in message


def test_spent_sums_costs_and_turns() -> None:
    h = History().add("P-1", "code", cost=0.25, turns=3).add("P-1", "qa", cost=None, turns=2)
    assert spent(h.runs, "P-1") == spent(h.runs, issue="P-1", phase=None)
    assert spent(h.runs, "P-1").cost_usd == 0.25 and spent(h.runs, "P-1").turns == 5
    assert spent(h.runs, "P-1", "qa").cost_usd == 0.0


def test_budgets_from_mapping() -> None:
    budgets = Budgets.from_mapping({"phase": {"max_cost_usd": 2}, "marathon": {"max_turns": 500}})
    assert budgets == Budgets(phase_cost_usd=2.0, marathon_turns=500)
    with pytest.raises(MarathonError, match="did you mean 'issue'"):
        Budgets.from_mapping({"isue": {"max_turns": 1}})
    with pytest.raises(MarathonError, match="unknown budget 'max_cost'"):
        Budgets.from_mapping({"issue": {"max_cost": 1}})
    with pytest.raises(MarathonError) as caught:
        Budgets.from_mapping({"issue": {"max_turns": "many"}})
    assert caught.value.where == "budgets.issue.max_turns"
