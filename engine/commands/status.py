"""`doit status`: where the marathon is, from the durable records and the tracker snapshot.

Per issue: its state and current phase, attempts, why it is skipped or failed; then what runs
now and for how long, the cost so far, and an estimate of the time left from the measured
phase durations. Read-only, so it works while a marathon runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TextIO

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


@dataclass(frozen=True)
class IssueStatus:
    issue: Issue
    state: str  # done | running | failed | skipped | waiting | ready
    phase: str  # the phase running, failed or next
    attempts: int
    detail: str


def issue_status(
    issue: Issue,
    phases: Sequence[str],
    runs: Sequence[RunRecord],
    stamps: dict[str, Stamp],
    open_ids: set[str],
) -> IssueStatus:
    mine = [r for r in runs if r.issue == issue.id]
    attempts = sum(1 for r in mine if r.status != "skipped")
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
        return IssueStatus(issue, "failed", last.phase, attempts, last.error)
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


def run_status(pipeline: Pipeline, issues: Sequence[Issue], *, out: TextIO) -> int:
    records = Records(pipeline.records_db)
    runs = records.runs()
    stamps = records.all_stamps()
    phases = phase_order(pipeline.phases)
    work = compiled_issues(issues)
    open_ids = {issue.id for issue in work if issue.is_open}
    rows = _name_stuck_blockers(
        [issue_status(issue, phases, runs, stamps, open_ids) for issue in work]
    )
    if not rows:
        print("no issues yet: doit init --spec SPEC, or doit add --title TEXT", file=out)
        return 0
    width = max(len(row.issue.id) for row in rows)
    for row in rows:
        phase = f" {row.phase}" if row.phase else ""
        detail = f"  ({row.detail})" if row.detail else ""
        tries = f" [{row.attempts} runs]" if row.attempts else ""
        print(
            f"{row.issue.id:<{width}}  {row.state:<8}{phase:<8} {row.issue.title[:60]}"
            f"{tries}{detail}",
            file=out,
        )
    counts = {
        state: sum(1 for r in rows if r.state == state)
        for state in ("done", "running", "failed", "skipped", "waiting", "ready")
    }
    print("\n" + ", ".join(f"{n} {state}" for state, n in counts.items() if n), file=out)
    for run in (r for r in runs if r.status == "running"):
        print(
            f"running: {run.task} for {_duration(time.time() - run.started)} (log: {run.log_path})",
            file=out,
        )
    cost = sum(r.cost_usd or 0.0 for r in runs)
    tokens = sum((r.input_tokens or 0) + (r.output_tokens or 0) for r in runs)
    print(f"cost so far: ${cost:.2f}, {tokens} tokens, {len(runs)} runs recorded", file=out)
    print(estimate(pipeline, work, records.phase_durations(), stamps), file=out)
    return 0


def _name_stuck_blockers(rows: list[IssueStatus]) -> list[IssueStatus]:
    """A waiting issue whose blocker failed or was skipped says so: it is held back until that
    issue is fixed, not merely queued."""
    stuck = {row.issue.id: row.state for row in rows if row.state in ("failed", "skipped")}
    out = []
    for row in rows:
        waits = [dep for dep in row.issue.dependencies if dep in stuck]
        if row.state == "waiting" and waits:
            held = ", ".join(f"{dep} {stuck[dep]}" for dep in waits)
            row = replace(row, detail=f"{row.detail}; held back: {held}")
        out.append(row)
    return out


def estimate(
    pipeline: Pipeline,
    issues: Sequence[Issue],
    durations: dict[str, float],
    stamps: dict[str, Stamp],
) -> str:
    """Time left: the open issues' phases without a stamp, each taking its phase's median
    measured duration, scheduled on four workers the way the ranked run starts them."""
    if not durations:
        return "time left: unknown until a phase has finished"
    open_issues = [issue for issue in issues if issue.is_open]
    tasks = compile_tasks(pipeline, open_issues, READ_ONLY_RUNNERS, durations=durations)
    jobs = remaining_jobs(tasks, typical_seconds(durations), stamps)
    if not jobs:
        return "time left: none, every issue is done"
    total = sum(job.seconds for job in jobs.values())
    return (
        f"time left: about {_duration(total)} of agent work, "
        f"about {_duration(makespan(jobs, 4))} with -n 4"
    )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
