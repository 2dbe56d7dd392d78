"""`doit status`: where the marathon is, from the durable records and the tracker snapshot.

Per issue: its state and current phase, attempts, cost, tokens, turns and agent sessions, why it
is skipped, failed or interrupted, and what it waits for; then what runs now and for how long,
the cost so far, and an estimate of the time left from the measured phase durations that
leaves out the work held back behind a skipped issue (it runs only once that issue is reset).
Read-only, so it works while a marathon runs. `--json` prints the same as one JSON document.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from engine.compile import (
    READ_ONLY_RUNNERS,
    compile_tasks,
    compiled_issues,
    phase_task_name,
    typical_seconds,
)
from engine.config.load import phase_order
from engine.config.model import Pipeline
from engine.issue import Issue
from engine.records import Records, RunRecord, Stamp
from engine.schedule import makespan, remaining_jobs

STATES = ("done", "running", "failed", "interrupted", "skipped", "waiting", "ready")
# An issue in one of these states stays where it is until someone acts (a rerun, a reset):
# what waits for it is held back, not merely queued.
STUCK = ("failed", "interrupted", "skipped")


@dataclass(frozen=True)
class Usage:
    """What an issue's agent runs cost, summed over every attempt."""

    cost_usd: float = 0.0
    tokens: int = 0
    turns: int = 0
    sessions: tuple[str, ...] = ()

    def text(self) -> str:
        parts = []
        if self.cost_usd:
            parts.append(f"${self.cost_usd:.2f}")
        if self.tokens:
            parts.append(f"{_count(self.tokens)} tokens")
        if self.turns:
            parts.append(f"{self.turns} turns")
        if self.sessions:
            parts.append(f"session {self.sessions[-1]}")
        return ", ".join(parts)


@dataclass(frozen=True)
class IssueStatus:
    issue: Issue
    state: str  # one of STATES
    phase: str  # the phase running, failed or next
    attempts: int
    detail: str
    usage: Usage = field(default_factory=Usage)
    held_by: tuple[str, ...] = ()  # stuck issues it waits for, directly or not

    @property
    def graph_state(self) -> str:
        """The state a picture shows: `blocked` for what waits behind a stuck issue."""
        return "blocked" if self.state == "waiting" and self.held_by else self.state


def usage_of(runs: Sequence[RunRecord]) -> Usage:
    sessions = tuple(dict.fromkeys(r.session_id for r in runs if r.session_id))
    return Usage(
        cost_usd=sum(r.cost_usd or 0.0 for r in runs),
        tokens=sum((r.input_tokens or 0) + (r.output_tokens or 0) for r in runs),
        turns=sum(r.turns or 0 for r in runs),
        sessions=sessions,
    )


def issue_status(
    issue: Issue,
    phases: Sequence[str],
    runs: Sequence[RunRecord],
    stamps: dict[str, Stamp],
    open_ids: set[str],
) -> IssueStatus:
    mine = [r for r in runs if r.issue == issue.id]
    attempts = sum(1 for r in mine if r.status != "skipped")
    row = _issue_state(issue, phases, mine, attempts, stamps, open_ids)
    return replace(row, usage=usage_of(mine))


def _issue_state(
    issue: Issue,
    phases: Sequence[str],
    mine: Sequence[RunRecord],
    attempts: int,
    stamps: dict[str, Stamp],
    open_ids: set[str],
) -> IssueStatus:
    if issue.state == "completed":
        return IssueStatus(issue, "done", "", attempts, "")
    running = [r for r in mine if r.status == "running"]
    if running:
        run = running[-1]
        elapsed = time.time() - run.started
        return IssueStatus(
            issue,
            "running",
            run.phase,
            attempts,
            f"{_duration(elapsed)} so far, attempt {run.attempt}",
        )
    pending = [p for p in phases if phase_task_name(issue.id, p) not in stamps]
    last = mine[-1] if mine else None
    if last is not None and last.status == "skipped":
        return IssueStatus(issue, "skipped", last.phase, attempts, last.error)
    if last is not None and last.status in ("failed", "interrupted"):
        return IssueStatus(issue, last.status, last.phase, attempts, last.error)
    waits = [dep for dep in issue.dependencies if dep in open_ids]
    if waits:
        return IssueStatus(
            issue,
            "waiting",
            pending[0] if pending else "",
            attempts,
            f"waits for {', '.join(waits)}",
        )
    return IssueStatus(issue, "ready", pending[0] if pending else "", attempts, "")


def issue_rows(pipeline: Pipeline, issues: Sequence[Issue]) -> list[IssueStatus]:
    """Every issue's status, blockers that hold it back included (also what `doit graph`
    colours)."""
    records = Records(pipeline.records_db)
    return _rows(pipeline, compiled_issues(issues), records.runs(), records.all_stamps())


def _rows(
    pipeline: Pipeline, work: Sequence[Issue], runs: Sequence[RunRecord], stamps: dict[str, Stamp]
) -> list[IssueStatus]:
    phases = phase_order(pipeline.phases)
    open_ids = {issue.id for issue in work if issue.is_open}
    return _name_stuck_blockers(
        [issue_status(issue, phases, runs, stamps, open_ids) for issue in work]
    )


def run_status(
    pipeline: Pipeline, issues: Sequence[Issue], *, out: TextIO, as_json: bool = False
) -> int:
    records = Records(pipeline.records_db)
    runs = records.runs()
    stamps = records.all_stamps()
    work = compiled_issues(issues)
    rows = _rows(pipeline, work, runs, stamps)
    held = {row.issue.id for row in rows if row.held_by or row.state == "skipped"}
    held_open = {i for i in held if any(w.id == i and w.is_open for w in work)}
    left = estimate(
        pipeline,
        [issue for issue in work if issue.id not in held],
        records.phase_durations(),
        stamps,
        held=len(held_open),
    )
    if as_json:
        out.write(json.dumps(_document(rows, runs, left, held), indent=2) + "\n")
        return 0
    if not rows:
        print("no issues yet: doit init --spec SPEC, or doit add --title TEXT", file=out)
        return 0
    width = max(len(row.issue.id) for row in rows)
    for row in rows:
        phase = f" {row.phase}" if row.phase else ""
        detail = f"  ({row.detail})" if row.detail else ""
        used = ", ".join(
            part
            for part in (f"{row.attempts} runs" if row.attempts else "", row.usage.text())
            if part
        )
        print(
            f"{row.issue.id:<{width}}  {row.state:<11}{phase:<8} {row.issue.title[:60]}"
            f"{f' [{used}]' if used else ''}{detail}",
            file=out,
        )
    counts = {state: sum(1 for r in rows if r.state == state) for state in STATES}
    print("\n" + ", ".join(f"{n} {state}" for state, n in counts.items() if n), file=out)
    for run in (r for r in runs if r.status == "running"):
        print(
            f"running: {run.task} for {_duration(time.time() - run.started)} (log: {run.log_path})",
            file=out,
        )
    total = usage_of(runs)
    print(
        f"cost so far: ${total.cost_usd:.2f}, {total.tokens} tokens, {total.turns} turns, "
        f"{len(runs)} runs recorded",
        file=out,
    )
    print(left.text(), file=out)
    return 0


def _document(
    rows: Sequence[IssueStatus], runs: Sequence[RunRecord], left: TimeLeft, held: set[str]
) -> dict[str, Any]:
    total = usage_of(runs)
    return {
        "issues": [
            {
                "id": row.issue.id,
                "title": row.issue.title,
                "state": row.state,
                "phase": row.phase,
                "runs": row.attempts,
                "detail": row.detail,
                "held_by": list(row.held_by),
                "cost_usd": round(row.usage.cost_usd, 6),
                "tokens": row.usage.tokens,
                "turns": row.usage.turns,
                "sessions": list(row.usage.sessions),
            }
            for row in rows
        ],
        "counts": {state: sum(1 for r in rows if r.state == state) for state in STATES},
        "running": [
            {"task": r.task, "seconds": round(time.time() - r.started, 1), "log": r.log_path}
            for r in runs
            if r.status == "running"
        ],
        "cost_usd": round(total.cost_usd, 6),
        "tokens": total.tokens,
        "turns": total.turns,
        "runs": len(runs),
        "time_left": {
            "work_seconds": left.work,
            "seconds_with_4_jobs": left.with_4,
            "not_counted": sorted(held),
        },
    }


def _name_stuck_blockers(rows: list[IssueStatus]) -> list[IssueStatus]:
    """A waiting issue behind a failed, interrupted or skipped issue (directly or through
    others) says so: it is held back until that issue runs again, not merely queued."""
    by_id = {row.issue.id: row for row in rows}
    stuck = {row.issue.id: row.state for row in rows if row.state in STUCK}
    memo: dict[str, tuple[str, ...]] = {}

    def holders(issue_id: str, seen: frozenset[str]) -> tuple[str, ...]:
        if issue_id in memo:
            return memo[issue_id]
        found: dict[str, None] = {}
        row = by_id.get(issue_id)
        for dep in row.issue.dependencies if row else ():
            if dep in stuck:
                found[dep] = None
            elif dep in by_id and dep not in seen and by_id[dep].state != "done":
                found.update(dict.fromkeys(holders(dep, seen | {dep})))
        memo[issue_id] = tuple(found)
        return memo[issue_id]

    out = []
    for row in rows:
        if row.state == "waiting":
            held = holders(row.issue.id, frozenset({row.issue.id}))
            if held:
                text = ", ".join(f"{dep} {stuck[dep]}" for dep in held)
                row = replace(row, detail=f"{row.detail}; held back: {text}", held_by=held)
        out.append(row)
    return out


@dataclass(frozen=True)
class TimeLeft:
    work: float | None  # seconds of agent work left, None when nothing is measured yet
    with_4: float | None
    held: int = 0  # issues left out: skipped, or waiting behind a stuck issue

    def text(self) -> str:
        note = (
            f"; not counted: {self.held} issue(s) skipped or held back behind a failed, "
            "interrupted or skipped issue"
            if self.held
            else ""
        )
        if self.work is None:
            return f"time left: unknown until a phase has finished{note}"
        if self.work == 0:
            return (
                f"time left: none{' for the rest' if self.held else ', every issue is done'}{note}"
            )
        assert self.with_4 is not None
        return (
            f"time left: about {_duration(self.work)} of agent work, "
            f"about {_duration(self.with_4)} with -n 4{note}"
        )


def estimate(
    pipeline: Pipeline,
    issues: Sequence[Issue],
    durations: dict[str, float],
    stamps: dict[str, Stamp],
    held: int = 0,
) -> TimeLeft:
    """Time left: the open issues' phases without a stamp, each taking its phase's median
    measured duration, scheduled on four workers the way the ranked run starts them.
    `issues` leaves out what cannot run now; `held` says how many were left out."""
    if not durations:
        return TimeLeft(None, None, held)
    open_issues = [issue for issue in issues if issue.is_open]
    open_ids = {issue.id for issue in open_issues}
    # an issue left out is not waited for here: its dependents were left out too
    open_issues = [
        replace(issue, dependencies=tuple(d for d in issue.dependencies if d in open_ids))
        if any(d not in open_ids for d in issue.dependencies)
        else issue
        for issue in open_issues
    ]
    tasks = compile_tasks(pipeline, open_issues, READ_ONLY_RUNNERS, durations=durations)
    jobs = remaining_jobs(tasks, typical_seconds(durations), stamps)
    if not jobs:
        return TimeLeft(0.0, 0.0, held)
    total = sum(job.seconds for job in jobs.values())
    return TimeLeft(round(total, 1), round(makespan(jobs, 4), 1), held)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _count(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)
