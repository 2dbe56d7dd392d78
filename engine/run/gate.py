"""A gate on the issue's branch: nothing merges unless its checks pass there.

`where: branch` gates run after TEST and QA and before EXIT: the branch is first rebased onto the
current target (the merge is recorded as begun, so a kill from here on never redoes the issue's
earlier phases), then the checks run in the issue's worktree, in parallel, each with its own log.
When they fail, the fix loop (`fix:`) gives an agent the failing output and tries again, at most
`attempts` times; then the gate fails with what still fails. A check that cannot run as
configured (engine/run/verdict.py) stops the run instead: no agent can fix marathon.yaml.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from engine.compile import PhaseTask
from engine.config.model import CheckConfig
from engine.git import worktrees
from engine.run import environment, merge, process, remote_phase, sandbox
from engine.run.check import attempt_output
from engine.run.executor import Work
from engine.run.runtime import JOBS, Runtime, runtime_for
from engine.run.verdict import CheckVerdict, failure_title, judge

OUTPUT_LINES = 60  # of each failing check's output, for the fix prompt


class Outcome(Protocol):
    ok: bool
    error: str


@dataclasses.dataclass(frozen=True)
class GateOutcome:
    ok: bool
    error: str = ""


@dataclasses.dataclass(frozen=True)
class CheckRun:
    check: CheckConfig
    verdict: CheckVerdict
    output: str
    log: Path

    def failure(self) -> dict[str, Any]:
        """What the fix prompt gets about it (template variables, never template source)."""
        tail = "\n".join(self.output.splitlines()[-OUTPUT_LINES:])
        return {
            "check": self.check.name,
            "command": shlex.join(self.check.command),
            "error": self.verdict.error,
            "title": failure_title(self.output, self.verdict.error),
            "output": tail,
        }


def branch_gate(
    ctx: PhaseTask,
    rt: Runtime,
    log: Path,
    *,
    fix: Callable[[PhaseTask, list[dict[str, Any]]], Outcome],
) -> Outcome:
    """Rebase, check, fix, check again; `fix` runs an agent phase (the runner's own).

    To the worktree's clean boundaries (engine/run/runtime.py) the gate is a phase that may
    leave anything: its checks may write files (a report, coverage), so what a phase before
    it left is known no more, and a fix beside it learns nothing."""
    workdir = rt.workdir(ctx.issue.id)
    with rt.boundaries.phase(workdir, ""):
        return _branch_gate(ctx, rt, log, workdir, fix)


def _branch_gate(
    ctx: PhaseTask,
    rt: Runtime,
    log: Path,
    workdir: Path,
    fix: Callable[[PhaseTask, list[dict[str, Any]]], Outcome],
) -> Outcome:
    if rt.uses_worktrees:
        failed = _rebase(ctx, rt)
        if failed is not None:
            return failed
    checks = [ctx.pipeline.checks[name] for name in ctx.phase.checks]
    plan = ctx.phase.fix
    attempt = 0
    while True:
        failing = [run for run in _run_checks(ctx, checks, workdir) if not run.verdict.passed]
        if not failing:
            return GateOutcome(ok=True)
        setup = next((run for run in failing if run.verdict.setup_error), None)
        if setup is not None:
            rt.halt(setup.verdict.error)
            return GateOutcome(ok=False, error=setup.verdict.error)
        what = "; ".join(f"{run.check.name}: {run.failure()['title']}" for run in failing)
        if plan is None or attempt >= plan.attempts:
            tried = f" after {attempt} fix attempt(s)" if plan else ""
            logs = ", ".join(str(run.log) for run in failing)
            return GateOutcome(
                ok=False, error=f"checks fail on the branch{tried}: {what} (logs: {logs})"
            )
        attempt += 1
        process.append_log(log, f"=== fix attempt {attempt} of {plan.attempts}: {what}")
        fixing = PhaseTask(
            ctx.pipeline,
            ctx.issue,
            dataclasses.replace(
                ctx.phase,
                checks=(),
                where="workspace",
                fix=None,
                agent=plan.agent,
                prompt=plan.prompt,
                writes=plan.writes,
                must_produce=True,
            ),
        )
        fixed = fix(fixing, [run.failure() for run in failing])
        if not fixed.ok:
            return GateOutcome(ok=False, error=f"fix attempt {attempt} failed: {fixed.error}")


def _rebase(ctx: PhaseTask, rt: Runtime) -> Outcome | None:
    """The branch onto the current target; the merge counts as begun from here."""
    merge.begin(ctx, rt)
    updated = worktrees.update_branch(
        ctx.pipeline.root,
        ctx.pipeline.state_dir,
        ctx.issue.id,
        rt.target_branch(),
        ctx.pipeline.git.merge,
    )
    if updated.merged:
        return None
    if updated.conflicts:
        return GateOutcome(ok=False, error=merge.back_to_queue(ctx, rt, updated.message))
    return GateOutcome(ok=False, error=updated.message)


def _run_checks(ctx: PhaseTask, checks: list[CheckConfig], workdir: Path) -> list[CheckRun]:
    with ThreadPoolExecutor(max_workers=max(1, min(len(checks), JOBS))) as pool:
        return list(pool.map(lambda check: _run_check(ctx, check, workdir), checks))


def _run_check(ctx: PhaseTask, check: CheckConfig, workdir: Path) -> CheckRun:
    """One check in the worktree; inside the sandbox when agents are (the branch holds what
    they wrote: its tests and its conftest.py run here)."""
    log = ctx.pipeline.log_path(ctx.issue.id, f"{ctx.phase.name}-{check.name}")
    offset = process.append_log(
        log,
        f"=== {ctx.name} {check.name} at {time.strftime('%Y-%m-%d %H:%M:%S')}: "
        f"{shlex.join(check.command)}",
    )
    rt = runtime_for(ctx.pipeline)
    if rt.executor.remote and rt.uses_worktrees:
        # On a cluster worker, at the branch's head: the checks' CPU is spread like the agents'.
        finished = remote_phase.run_check(ctx, rt, check, log)
        output = attempt_output(log, offset)
        return CheckRun(check, judge(check, finished, output), output, log)
    box = None
    if ctx.pipeline.isolation == "bwrap" and (workdir / ".git").is_file():
        box = sandbox.for_worktree(
            root=ctx.pipeline.root,
            state_dir=ctx.pipeline.state_dir,
            worktree=workdir,
            git_private=worktrees.git_dir(workdir),
            name=f"{ctx.issue.id}-{ctx.phase.name}-{check.name}-{os.getpid()}",
        )
    env = {
        **environment.for_check(ctx.pipeline, check.env, check.env_values),
        "MARATHON_CHECK": check.name,
        "MARATHON_ISSUE": ctx.issue.id,
        **(box.env() if box else {}),
    }
    work = Work(tuple(check.command), cwd=workdir, log=log, timeout=check.timeout, env=env,
                sandbox=box)  # fmt: skip
    try:
        finished = rt.executor.run(work)
    finally:
        if box is not None:
            sandbox.copy_back(box, ())  # nothing of the state view is kept
    output = attempt_output(log, offset)
    return CheckRun(check, judge(check, finished, output), output, log)
