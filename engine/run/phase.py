"""What an `issue:<ID>:<phase>` task does, and when it is up to date.

A phase run: render the prompt (issue data as variables only), start the agent or command in
its own process group with the prompt on stdin and in a file, write everything it prints to
the phase's log, decide success from the preset's parser, refuse writes outside the phase's
write set, commit the write set, then record the stamp. The stamp is committed to SQLite the
moment the phase succeeds, so a `kill -9` of doit never loses a finished phase.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doit.exceptions import TaskFailed

from engine import globs, prompts
from engine.agents.base import AgentResult, Preset
from engine.agents.cassette import record_run
from engine.agents.presets import get_preset
from engine.breaker import TRANSIENT_SIGNATURE
from engine.cluster.job import PhaseResult
from engine.compile import CheckTask, PhaseTask, phase_task_name
from engine.config.model import AgentConfig, PhaseConfig, Pipeline
from engine.errors import MarathonError
from engine.fingerprint import (
    changed_components,
    issue_digest,
    phase_inputs,
    phase_outputs,
)
from engine.git import refs, repo, worktrees
from engine.issue import OPEN_STATES, Issue
from engine.records import RunRecord, Stamp
from engine.run import environment, gate, merge, process, remote_phase, sandbox
from engine.run.bugs import file_bug
from engine.run.check import (
    SETUP_SIGNATURE,
    attempt_output,
    check_up_to_date,
    failure_signature,
    run_checks,
)
from engine.run.executor import Work
from engine.run.runtime import JOBS, SESSION, Runtime, runtime_for, stop_reason


def prompt_context(ctx: PhaseTask, workspace: Path) -> dict[str, Any]:
    """`workspace` is where the agent works: the same path for every run of the issue."""
    issue = ctx.issue
    plan_file = ctx.pipeline.plan_file(issue.id)
    return {
        "issue": {
            "id": issue.id,
            "title": issue.title,
            "description": issue.description,
            "acceptance": list(issue.acceptance),
            "priority": issue.priority,
            "dependencies": list(issue.dependencies),
            "blocks": list(issue.blocks),
            "kind": issue.kind,
        },
        "phase": {"name": ctx.phase.name, "reads": list(ctx.reads), "writes": list(ctx.writes)},
        "plan": plan_file.read_text(encoding="utf-8") if plan_file.exists() else "",
        "plan_path": ctx.pipeline.plan_path(issue.id),
        "checks": {name: shlex.join(check.command) for name, check in ctx.pipeline.checks.items()},
        "workspace": str(workspace),
    }


def render_prompt(
    ctx: PhaseTask, rt: Runtime, extra: Mapping[str, Any] | None = None
) -> str | None:
    """`extra`: more template variables (a fix attempt's `failures`)."""
    if not ctx.phase.agent:
        return None
    context = prompt_context(ctx, rt.planned_workdir(ctx.issue.id))
    context.update(extra or {})
    return _rendered(ctx.pipeline.template_dirs, ctx.phase.prompt, json.dumps(context))


@functools.lru_cache(maxsize=256)
def _rendered(template_dirs: tuple[Path, ...], name: str, context: str) -> str:
    """One render per prompt: the up-to-date check, the run and the stamp ask for the same
    prompt, and get it again only when what it is made from changed (a plan just written)."""
    return prompts.render(template_dirs, name, json.loads(context))


def current_inputs(ctx: PhaseTask, rt: Runtime) -> dict[str, str]:
    inputs = phase_inputs(ctx, rt.records, render_prompt(ctx, rt), rt.reading_dir(ctx.issue.id))
    if ctx.phase.builtin == "exit" and rt.uses_worktrees:
        # EXIT is not done while the issue's branch still waits to be merged.
        pending = rt.planned_workdir(ctx.issue.id).exists()
        inputs["merged"] = "no" if pending else "yes"
    return inputs


def phase_up_to_date(ctx: PhaseTask) -> bool:
    rt = runtime_for(ctx.pipeline)
    try:
        # Nothing is judged before a killed run's leftovers are settled (a git it left may
        # still be rewriting the worktree this reads).
        rt.begin()
    except MarathonError:
        return False  # the run itself will report the problem
    stamp = rt.records.stamp(ctx.name)
    if stamp is None:
        return False
    try:
        return not changed_inputs(ctx, rt, stamp)
    except MarathonError:
        return False  # the run itself will report the problem


def settled_tasks(pipeline: Pipeline, issues: Sequence[Issue]) -> frozenset[str]:
    """Phase tasks of completed issues that `changed_inputs` would find unchanged, known at
    load time from one read of the stamps (doit then skips them without calling anything)."""
    finished = [issue for issue in issues if issue.state == "completed"]
    if not finished:
        return frozenset()
    stamps = runtime_for(pipeline).records.all_stamps()  # only the keyed ones (records.py)
    settled = []
    for issue in finished:
        # `_still_done`'s rule with the issue's digest worked out once, not once per phase
        # (18 000 phases at 3000 issues; tests/unit/test_settled.py holds the two equal).
        text = issue_digest(issue)
        for phase in pipeline.phases:
            name = phase_task_name(issue.id, phase)
            stamp = stamps.get(name)
            if stamp is not None and stamp.inputs.get("issue") == text:
                settled.append(name)
    return frozenset(settled)


def changed_inputs(ctx: PhaseTask, rt: Runtime, stamp: Stamp | None) -> list[str]:
    """The names of the inputs that differ from the stamp ("never succeeded" without one).

    A completed issue has merged: later issues keep changing the files it read, and a new
    template wording or model must not redo (and pay for) every finished issue. Only a change
    of the issue's own text makes its phases run again; reopen it, or `doit clean`, to redo it.
    The same holds from the moment EXIT begins (its merge intent is recorded): the worktree
    then holds other issues' merged work, which is no reason to redo this issue's phases.
    """
    merging = ctx.phase.builtin != "exit" and rt.records.merge_intent(ctx.issue.id) is not None
    if ctx.issue.state != "completed" and not merging:
        return changed_components(stamp, current_inputs(ctx, rt))
    if stamp is None:
        return ["never succeeded"]
    return [] if _still_done(ctx.issue, stamp) else ["issue"]


def _still_done(issue: Issue, stamp: Stamp | None) -> bool:
    """The rule for a completed issue's phase: done while the issue's own text is unchanged."""
    return stamp is not None and stamp.inputs.get("issue") == issue_digest(issue)


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    error: str = ""
    exit_code: int | None = None
    result: AgentResult | None = None
    transcript: str = ""
    duration: float = 0.0
    remote: PhaseResult | None = None  # how it ended on a cluster worker


def run_phase(ctx: PhaseTask) -> bool | TaskFailed:
    rt = runtime_for(ctx.pipeline)
    try:
        rt.begin()
    except MarathonError as exc:
        return TaskFailed(exc.one_line())
    log = ctx.pipeline.log_path(ctx.issue.id, ctx.phase.name)
    earlier = _since_last_success(rt.records.runs(task=ctx.name))
    if _adopt_committed_run(ctx, rt, earlier, log):
        return True
    stop = stop_reason(rt, ctx.issue.id, ctx.phase.name)
    run_id = rt.records.start_run(SESSION, ctx.name, ctx.issue.id, ctx.phase.name, str(log))
    if stop:
        # Counted in the durable records, so a restarted marathon still knows.
        rt.records.finish_run(run_id, "skipped", error=stop)
        process.append_log(log, f"=== skipped: {stop}")
        return TaskFailed(f"{ctx.name} skipped: {stop}")
    offset = process.append_log(log, f"=== {ctx.name} at {time.strftime('%Y-%m-%d %H:%M:%S')}")
    interrupted_before = bool(earlier) and earlier[-1].status == "interrupted"
    try:
        if not ctx.phase.after:
            _mark_started(ctx, rt)
        outcome = _execute(ctx, rt, run_id, log, fresh_start=interrupted_before)
    except MarathonError as exc:
        outcome = _Outcome(ok=False, error=exc.one_line())
    except Exception as exc:  # a bug of ours: recorded as the run's failure, then reported
        rt.records.finish_run(run_id, "failed", error=f"internal error: {exc!r}"[:300])
        raise
    except BaseException:
        rt.records.finish_run(run_id, "interrupted", error="interrupted")
        raise
    fields: dict[str, Any] = {"exit_code": outcome.exit_code}
    if outcome.result is not None:
        result = outcome.result
        fields.update(
            cost_usd=result.cost_usd,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            turns=result.turns,
            session_id=result.session_id,
        )
    if not outcome.ok:
        status = "interrupted" if process.was_interrupted() else "failed"
        transient = outcome.result is not None and outcome.result.transient
        fields["signature"] = (
            TRANSIENT_SIGNATURE if transient else failure_signature(outcome.error, log, offset)
        )
        rt.records.finish_run(run_id, status, error=outcome.error, **fields)
        process.append_log(log, f"=== failed: {outcome.error}")
        return TaskFailed(f"{ctx.name} failed: {outcome.error}; log: {log}")
    _record_success(ctx, rt, run_id, fields)
    process.append_log(log, "=== success")
    return True


def _record_success(ctx: PhaseTask, rt: Runtime, run_id: int, fields: dict[str, Any]) -> None:
    # Inputs are taken after the run: a phase that reads what it writes (CODE reads and
    # writes src/**) is then up to date with its own result. Both at one moment: one look.
    with globs.one_look():
        inputs = current_inputs(ctx, rt)
        outputs = phase_outputs(ctx, rt.reading_dir(ctx.issue.id))
    rt.records.save_stamp(ctx.name, inputs, outputs, run_id=run_id, run_fields=fields)


def _since_last_success(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """The runs of a task after its last successful one (all of them if none succeeded)."""
    last = max((i for i, run in enumerate(runs) if run.status == "success"), default=-1)
    return list(runs[last + 1 :])


def _adopt_committed_run(
    ctx: PhaseTask, rt: Runtime, earlier: Sequence[RunRecord], log: Path
) -> bool:
    """A run whose doit died after committing the phase's work but before recording it: its
    commit (found by the run's trailer) is the phase's result. Recorded as that run's success,
    not run again (which would pay for the agent twice and commit its work twice)."""
    interrupted = {
        repo.run_key(run.session, run.id): run for run in earlier if run.status == "interrupted"
    }
    if not interrupted or ctx.phase.checks or ctx.phase.builtin:
        return False
    if not repo.is_repo(ctx.pipeline.root):
        return False
    # The issue's branch holds its phases' commits (its worktree may have been left
    # half-made and removed: it is made again from the branch before the inputs are read).
    if rt.uses_worktrees:
        revision = worktrees.branch_name(ctx.issue.id)
        if not worktrees.branch_head(ctx.pipeline.root, revision):
            return False
        if rt.executor.remote:
            # A worker may have pushed the run's commit after this coordinator was killed.
            remote_phase.recover(ctx, rt, list(interrupted))
    else:
        revision = "HEAD"
    found = repo.commit_of_run(ctx.pipeline.root, list(interrupted), revision)
    if found is None:
        return False
    workdir = rt.workdir(ctx.issue.id)
    key, sha = found
    run = interrupted[key]
    rt.records.save_stamp(ctx.name, current_inputs(ctx, rt), phase_outputs(ctx, workdir))
    rt.records.adopt_run(
        run.id, f"recorded after a restart: the doit running it died after commit {sha[:12]}"
    )
    process.append_log(log, f"=== adopted: commit {sha[:12]} is the work of run {run.id}")
    return True


def _execute(
    ctx: PhaseTask,
    rt: Runtime,
    run_id: int,
    log: Path,
    *,
    fresh_start: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> _Outcome:
    """`fresh_start`: the task's last run was interrupted, so what it left half-written in
    the phase's write set (in the issue's own worktree) is discarded first. `extra`: more
    prompt variables."""
    phase = ctx.phase
    if phase.on_branch:
        if rt.uses_worktrees and phase.fix is not None:
            # A fix cut short (killed, or failed) left files half-written: they would stop the
            # rebase for good. Nothing uncommitted in the fix's write set is anyone's work.
            workdir = rt.workdir(ctx.issue.id)
            fixing = ctx.globs(phase.fix.writes)
            left = sorted(p for p in repo.dirty_files(workdir) if globs.matches(p, fixing))
            repo.discard(workdir, ctx.pipeline.state_dir, left)
        gated = gate.branch_gate(
            ctx, rt, log, fix=lambda fixing, failures: _execute(
                fixing, rt, run_id, log, extra={"failures": failures}
            ),
        )  # fmt: skip
        return _Outcome(ok=gated.ok, error=gated.error)
    if phase.checks:
        return _gate(ctx, rt)
    if phase.builtin == "exit":
        return _exit(ctx, rt, run_id, log)
    if rt.executor.remote and rt.uses_worktrees:
        return _execute_remote(ctx, rt, run_id, log, extra)
    planned = rt.planned_workdir(ctx.issue.id)
    # Made by this call (or beside it, with no phase there since): it starts clean.
    new = rt.uses_worktrees and not worktrees.is_ready(planned, ctx.pipeline.state_dir)
    made_at = rt.boundaries.starts(planned) if new else None
    root = rt.workdir(ctx.issue.id)
    track_writes = repo.is_repo(ctx.pipeline.root)
    head_before = worktrees.head_of(root) if track_writes and rt.uses_worktrees else ""
    if not head_before:
        return _execute_here(ctx, rt, run_id, log, root, track_writes, fresh_start, extra)
    with rt.boundaries.phase(root, head_before, made_at=made_at) as starts_clean:
        return _execute_here(
            ctx, rt, run_id, log, root, track_writes, fresh_start, extra,
            head_before=head_before, starts_clean=starts_clean and not fresh_start,
        )  # fmt: skip


def _execute_here(
    ctx: PhaseTask,
    rt: Runtime,
    run_id: int,
    log: Path,
    root: Path,
    track_writes: bool,
    fresh_start: bool,
    extra: Mapping[str, Any] | None,
    *,
    head_before: str = "",
    starts_clean: bool = False,
) -> _Outcome:
    """An agent or command phase run by this process in `root`, its writes judged against its
    write set and committed. `head_before`: the issue's worktree's HEAD as it starts;
    `starts_clean`: known to have nothing uncommitted there (`CleanBoundaries`)."""
    phase = ctx.phase
    preset = get_preset(ctx.pipeline.agents[phase.agent]) if phase.agent else None
    started = time.time_ns()
    if track_writes:
        repo.exclude_state_dir(root)
        if preset is not None:
            # Files the tool keeps as its own state (aider's repo-map cache) are not work.
            repo.exclude(root, preset.scratch)
        before = {} if starts_clean else repo.dirty_files(root)
        if fresh_start and rt.uses_worktrees:
            left = sorted(p for p in before if globs.matches(p, ctx.writes))
            repo.discard(root, ctx.pipeline.state_dir, left)
            if left:
                process.append_log(
                    log, f"=== discarded what the interrupted run left: {', '.join(left)}"
                )
            before = repo.dirty_files(root)
    produced_before = globs.file_states(root, ctx.writes) if phase.must_produce else None
    refs_before = refs.snapshot(ctx.pipeline.root) if track_writes else None
    if preset is not None:
        outcome = _run_agent(ctx, rt, preset, run_id, log, root, extra)
    else:
        finished = process.run_process(
            phase.command,
            cwd=root,
            log_path=log,
            timeout=phase.timeout,
            env={
                **_env(ctx, log, environment.for_check(ctx.pipeline)),
                **refs.NO_PUSH_ENV,
                **refs.agent_identity(ctx.issue.id, phase.name),
            },
            on_start=lambda pgid: rt.records.set_child(run_id, pgid),
        )
        outcome = _Outcome(ok=finished.ok, error=finished.error, exit_code=finished.exit_code)
    if head_before:
        branch = worktrees.branch_name(ctx.issue.id)
        state = ctx.pipeline.state_dir
        email = refs.agent_identity(ctx.issue.id, phase.name)["GIT_COMMITTER_EMAIL"]
        with repo.repo_lock(state, repo.lock_for(root, state)):
            undone = worktrees.undo_agent_commits(root, branch, head_before, email)
        if undone:
            process.append_log(
                log, "=== the agent committed or left its branch: its commits are changes again"
            )
    # Nearly always no ref moved at all: seen without the lock. Only a moved ref is judged
    # (and put back) under the lock a merge moves the target with, so no merge is half-way.
    if refs_before is not None and refs.snapshot(ctx.pipeline.root) != refs_before:
        email = refs.agent_identity(ctx.issue.id, phase.name)["GIT_COMMITTER_EMAIL"]
        state = ctx.pipeline.state_dir
        with repo.repo_lock(state):
            moved = refs.undo_agent_moves(ctx.pipeline.root, refs_before, email)
        if moved:
            return dataclasses.replace(
                outcome,
                ok=False,
                error=f"moved refs outside its own branch: {', '.join(moved)} (put back; "
                "only the engine's merge moves them)",
            )
    nothing = produced_before is not None and globs.file_states(root, ctx.writes) == produced_before
    if outcome.ok and nothing:
        return dataclasses.replace(outcome, ok=False, error=_produced_nothing(ctx))
    if not outcome.ok or not track_writes:
        return outcome
    alone = rt.boundaries.alone(root) if head_before else None
    after = repo.dirty_files(root)
    changed = repo.changed_between(before, after)
    # Everything uncommitted inside the write set is this phase's to commit, a hand edit
    # made there before it ran included; only what changed *during* it can be outside.
    mine = sorted(p for p in set(after) | set(changed) if globs.matches(p, ctx.writes))
    outside = [
        p
        for p in changed
        if not globs.matches(p, ctx.writes) and not globs.matches(p, ctx.concurrent_writes)
    ]
    earlier = [p for p in outside if starts_clean and 0 <= after.get(p, (-1, -1))[1] < started]
    refused = _outside_refused(ctx, outcome, outside, log, earlier=earlier)
    if refused is not None:
        return refused
    _record_cassette(ctx, outcome, root, mine, log)
    sha = repo.commit_paths(
        root,
        ctx.pipeline.state_dir,
        mine,
        f"{ctx.issue.id} {phase.name}: {ctx.issue.title}",
        task=ctx.name,
        run=repo.run_key(SESSION, run_id),
        # Asked of the workspace once per run, not once per issue's worktree: one config.
        identity=repo.identity_args(ctx.pipeline.root),
    )
    if sha:
        process.append_log(log, f"=== committed {len(mine)} file(s) as {sha[:12]}")
    if head_before and set(after) <= set(mine):
        rt.boundaries.seen_clean(root, worktrees.head_of(root), token=alone)
    return outcome


def _produced_nothing(ctx: PhaseTask) -> str:
    return (
        f"produced nothing: no file in its write set ({', '.join(ctx.writes) or 'none'}) "
        "was written"
    )


def _outside_refused(
    ctx: PhaseTask,
    outcome: _Outcome,
    outside: Sequence[str],
    log: Path,
    *,
    earlier: Sequence[str] = (),
) -> _Outcome | None:
    """The phase's failure when it wrote outside its write set and the pipeline says fail;
    a warning in the log when it says warn. `earlier`: those of them last written before the
    phase started, by their times (a hand edit since the last phase, not told apart without a
    status of its own: `CleanBoundaries`), said as such, still refused."""
    if not outside:
        return None
    message = (
        f"wrote outside its write set ({', '.join(ctx.writes) or 'nothing'}): {', '.join(outside)}"
    )
    if earlier:
        message += (
            f" ({', '.join(earlier)} changed before the phase started: by hand? commit or"
            " remove it, then run again)"
        )
    if ctx.pipeline.on_write_outside == "fail":
        return _Outcome(ok=False, error=message, exit_code=outcome.exit_code, result=outcome.result)
    process.append_log(log, f"=== warning: {message}")
    return None


def _record_cassette(
    ctx: PhaseTask, outcome: _Outcome, root: Path, written: Sequence[str], log: Path
) -> None:
    if not ctx.phase.agent or outcome.result is None:
        return
    cassette = record_run(
        ctx.pipeline.agents[ctx.phase.agent],
        root,
        ctx.issue.id,
        ctx.phase.name,
        list(written),
        outcome.transcript,
        outcome.duration,
        outcome.result,
    )
    if cassette:
        process.append_log(log, f"=== recorded cassette {cassette}")


def _execute_remote(
    ctx: PhaseTask, rt: Runtime, run_id: int, log: Path, extra: Mapping[str, Any] | None
) -> _Outcome:
    """The phase on a cluster worker (engine/run/remote_phase.py): it works in a checkout of
    its own and pushes its commit; the commit then comes onto the issue's branch here."""
    phase = ctx.phase
    root = rt.workdir(ctx.issue.id)
    preset = get_preset(ctx.pipeline.agents[phase.agent]) if phase.agent else None
    if preset is None:
        outcome = _run_remote_once(ctx, rt, None, run_id, log, root, extra)
    else:
        outcome = _run_agent(ctx, rt, preset, run_id, log, root, extra, once=_run_remote_once)
    result = outcome.remote
    if result is None:
        return outcome
    if result.agent_committed:
        process.append_log(log, "=== the agent committed: its commits are changes again")
    if outcome.ok and phase.must_produce and not result.produced and not result.earlier:
        return dataclasses.replace(outcome, ok=False, error=_produced_nothing(ctx))
    if not outcome.ok:
        return outcome
    refused = _outside_refused(ctx, outcome, result.outside, log)
    if refused is not None:
        return refused
    remote_phase.take(ctx, rt, run_id, result, log)
    _record_cassette(ctx, outcome, root, result.committed, log)
    return outcome


def _run_remote_once(
    ctx: PhaseTask,
    rt: Runtime,
    preset: Preset | None,
    run_id: int,
    log: Path,
    workdir: Path,
    extra: Mapping[str, Any] | None,
) -> _Outcome:
    prompt = render_prompt(ctx, rt, extra) or ""
    result = remote_phase.send(ctx, rt, run_id, log, prompt, preset)
    if result.error:
        return _Outcome(ok=False, error=result.error, exit_code=result.exit_code)
    if result.earlier:  # pushed by an attempt whose worker died before it could answer
        process.append_log(log, f"=== an earlier attempt of this run pushed {result.commit[:12]}")
        return _Outcome(ok=True, remote=result)
    verdict = _verdict(preset, result.process, result.output)
    return dataclasses.replace(verdict, remote=result)


def _gate(ctx: PhaseTask, rt: Runtime) -> _Outcome:
    """Run the gate's checks that are not up to date, in parallel; file a bug per failure.
    A check that cannot run as configured files nothing: it stops the run."""
    if ctx.issue.kind == "bug":
        # A bug issue exists because VERIFY fails; its fix must not wait for VERIFY to pass.
        return _Outcome(ok=True)
    checks = [CheckTask(ctx.pipeline, ctx.pipeline.checks[name]) for name in ctx.phase.checks]
    failures = run_checks([c for c in checks if not check_up_to_date(c)])
    if not failures:
        return _Outcome(ok=True)
    last = {
        check.name: next(iter(reversed(rt.records.runs(task=check.name))), None)
        for check, _ in failures
    }
    setup = [run.error for run in last.values() if run and run.signature == SETUP_SIGNATURE]
    if setup:
        rt.halt(setup[0])
        return _Outcome(ok=False, error=setup[0])
    bugs = []
    for check, _ in failures:
        run = last[check.name]
        bugs.append(file_bug(rt.tracker, check, run.error if run else "failed", ctx.issue).id)
    names = ", ".join(check.check.name for check, _ in failures)
    return _Outcome(
        ok=False,
        error=f"checks failed: {names}; filed {', '.join(bugs)} to fix "
        f"first (logs: {ctx.pipeline.state_dir / 'logs' / 'verify'})",
    )


def _run_agent(
    ctx: PhaseTask,
    rt: Runtime,
    preset: Preset,
    run_id: int,
    log: Path,
    workdir: Path,
    extra: Mapping[str, Any] | None = None,
    once: Callable[..., _Outcome] | None = None,
) -> _Outcome:
    """Run the agent (`once`: here, or on a cluster worker); an error its CLI calls transient
    (overloaded, rate limited, network) is retried here with a doubling delay, at most
    `retries` times, without a new run record."""
    agent = ctx.pipeline.agents[ctx.phase.agent]
    retries = int(agent.options.get("retries", 3))
    delay = float(agent.options.get("retry_delay", 10))
    once = once or _run_agent_once
    for attempt in range(retries + 1):
        outcome = once(ctx, rt, preset, run_id, log, workdir, extra)
        result = outcome.result
        if outcome.ok or result is None or not result.transient:
            break
        if attempt == retries:
            # Failed, but for a passing reason: never "the same error" to the breaker.
            return dataclasses.replace(
                outcome, error=f"{outcome.error} (transient; retried {retries} times)"
            )
        wait = delay * 2**attempt
        process.append_log(log, f"=== transient error, retry {attempt + 1}/{retries} in {wait:g}s")
        if process.wait_unless_interrupted(wait):
            return _Outcome(ok=False, error="interrupted", result=result)
    if outcome.ok and result is not None and result.permission_denials:
        denied = ", ".join(result.permission_denials[:5])
        if agent.options.get("on_denial", "fail") == "fail":
            return dataclasses.replace(
                outcome,
                ok=False,
                error=f"the agent was refused {len(result.permission_denials)} tool call(s): "
                f"{denied}; allow them (allowed_tools, permission_mode) or set "
                f"agents.{agent.name}.on_denial: warn",
            )
        process.append_log(log, f"=== warning: the agent was refused: {denied}")
    return outcome


def _run_agent_once(
    ctx: PhaseTask,
    rt: Runtime,
    preset: Preset,
    run_id: int,
    log: Path,
    workdir: Path,
    extra: Mapping[str, Any] | None,
) -> _Outcome:
    agent = ctx.pipeline.agents[ctx.phase.agent]
    prompt = render_prompt(ctx, rt, extra) or ""
    prompt_file = ctx.pipeline.state_dir / "prompts" / ctx.issue.id / f"{ctx.phase.name}.md"
    prompt_file.parent.mkdir(parents=True, exist_ok=True)
    prompt_file.write_text(prompt, encoding="utf-8")
    invocation = preset.build(agent, prompt_file, workdir)
    offset = log.stat().st_size if log.exists() else 0
    box = _sandbox(ctx, rt, agent, preset, workdir, prompt_file, run_id)
    env = environment.for_agent(ctx.pipeline, agent, preset.env)
    if box is not None:
        env.update(box.env())
    finished = rt.executor.run(
        Work(
            argv=tuple(invocation.argv),
            cwd=workdir,
            log=log,
            timeout=ctx.phase.timeout,
            # A preset's variables are defaults: one the user passes (env:) wins. No push
            # leaves the agent (engine/git/refs.py).
            env={
                **invocation.env,
                **_env(ctx, log, env),
                **refs.NO_PUSH_ENV,
                **refs.agent_identity(ctx.issue.id, ctx.phase.name),
                "MARATHON_PROMPT_FILE": str(prompt_file),
            },
            stdin_text=prompt if invocation.prompt_on_stdin else None,
            sandbox=box,
        ),
        on_start=lambda pgid: rt.records.set_child(run_id, pgid),
    )
    if box is not None:
        # What the agent's git staged points at objects of its private store, now gone. Under
        # the worktree's lock: TEST and QA stage and commit their files holding it.
        state = ctx.pipeline.state_dir
        with repo.repo_lock(state, repo.lock_for(workdir, state)):
            repo.git(workdir, "reset", "-q", check=False)
        copied = sandbox.copy_back(box, ctx.writes)
        if copied:
            process.append_log(log, f"=== from the sandbox's state view: {', '.join(copied)}")
    return _verdict(preset, finished, attempt_output(log, offset), log)


def _verdict(
    preset: Preset | None, finished: process.ProcessOutcome, output: str, log: Path | None = None
) -> _Outcome:
    """How an agent's run ended, from its exit and what it printed (its preset's parser); a
    command's from its exit alone."""
    if preset is None or finished.interrupted or finished.missing_binary:
        return _Outcome(ok=finished.ok, error=finished.error, exit_code=finished.exit_code)
    if finished.timed_out:
        # What the agent said before it was stopped often says why it hung (codex without a
        # network retries forever, printing "Reconnecting... waiting for network").
        # Parsed as if it had exited cleanly, so the verdict rests on what it printed.
        said = preset.parse(0, output).error if output.strip() else ""
        error = finished.error + (f"; the agent's output: {said}" if said else "")
        return _Outcome(ok=False, error=error, exit_code=finished.exit_code)
    result = preset.parse(finished.exit_code, output)
    if result.permission_denials and log is not None:
        process.append_log(log, f"=== permission denials: {', '.join(result.permission_denials)}")
    return _Outcome(
        ok=result.ok,
        error=result.error,
        exit_code=finished.exit_code,
        result=result,
        transcript=output,
        duration=finished.duration,
    )


def _sandbox(
    ctx: PhaseTask,
    rt: Runtime,
    agent: AgentConfig,
    preset: Preset,
    workdir: Path,
    prompt_file: Path,
    run_id: int,
) -> sandbox.Sandbox | None:
    """The agent's bubblewrap sandbox, when its isolation (or the pipeline's) says bwrap."""
    if (agent.isolation or ctx.pipeline.isolation) != "bwrap":
        return None
    state = ctx.pipeline.state_dir
    reads = [prompt_file]
    if preset.name == "replay":
        reads.append(state / "cassettes")  # what it plays back, read-only
    return sandbox.for_worktree(
        root=ctx.pipeline.root,
        state_dir=state,
        worktree=workdir,
        git_private=worktrees.git_dir(workdir),
        name=f"{ctx.issue.id}-{ctx.phase.name}-{run_id}",
        home_files=preset.home,
        reads=tuple(reads),
        network=agent.network,
    )


def _exit(ctx: PhaseTask, rt: Runtime, run_id: int, log: Path) -> _Outcome:
    """Merge, mark done: a recorded sequence that a rerun after a kill anywhere completes."""
    if rt.uses_worktrees:
        failed = _merge(ctx, rt, run_id, log)
        if failed is not None:
            return failed
    tracker = rt.tracker
    tracker.set_state(ctx.issue.id, "completed")
    meta = [issue for issue in tracker.snapshot() if issue.kind == "meta"]
    for issue in meta:
        tracker.comment(issue.id, f"{ctx.issue.id} done: {ctx.issue.title}")
    rt.records.end_merge(ctx.issue.id)
    return _Outcome(ok=True)


def _merge(ctx: PhaseTask, rt: Runtime, run_id: int, log: Path) -> _Outcome | None:
    """The issue's branch into the target; None when merged (now or by an earlier run).

    With a gate on the branch before EXIT, what merges is exactly what the gate checked: when
    the target moved since (another issue merged), the gate runs again on the new target
    (rebase, checks, fix) before the merge is tried again."""
    root, state, issue_id = ctx.pipeline.root, ctx.pipeline.state_dir, ctx.issue.id
    branch = worktrees.branch_name(issue_id)
    target = rt.target_branch()
    intent = rt.records.merge_intent(issue_id)
    head = worktrees.branch_head(root, branch)
    if not head:
        if intent is not None:  # merged and cleaned up by a run killed before the end
            worktrees.remove_worktree(root, state, issue_id)
            return None
        return _Outcome(
            ok=False,
            error=f"branch {branch} is missing, so there is nothing to merge; "
            f"`doit clean issue:{issue_id}` redoes the issue from the start",
        )
    merge.begin(ctx, rt)
    checked_by = _branch_gate_before(ctx)

    def merge_back(serialized: bool = False) -> worktrees.MergeResult:
        return worktrees.merge_back(
            root, state, issue_id, target, ctx.pipeline.git.merge,
            target_in_root=rt.target_in_root(), rebase=checked_by is None,
            serialized=serialized,
        )  # fmt: skip

    merged = merge_back()
    if merged.moved and checked_by is not None:
        # The target moved since the gate: it runs again holding the merge lock, so nobody
        # moves the target meanwhile and this merge cannot lose again. One gate again at a
        # time: merges waiting beside the -n other tasks (engine/doit_run.py) cost no CPU.
        with worktrees.merge_lock(state):
            merged = merge_back(serialized=True)
            if merged.moved:
                process.append_log(
                    log, f"=== {target} moved since {checked_by.name}: it runs again"
                )
                gated = gate.branch_gate(
                    PhaseTask(ctx.pipeline, ctx.issue, checked_by), rt, log,
                    fix=lambda fixing, failures: _execute(
                        fixing, rt, run_id, log, extra={"failures": failures}
                    ),
                )  # fmt: skip
                if not gated.ok:
                    return _Outcome(ok=False, error=f"{target} moved since the gate; {gated.error}")
                merged = merge_back(serialized=True)
    if not merged.merged:
        if merged.conflicts:
            return _Outcome(ok=False, error=merge.back_to_queue(ctx, rt, merged.message))
        return _Outcome(ok=False, error=merged.message)
    # Kept for an issue that starts after it (at most one per work slot), else removed.
    worktrees.park(root, state, issue_id, keep=JOBS)
    worktrees.remove_worktree(root, state, issue_id)
    repo.maintain(root)
    if rt.executor.remote:
        remote_phase.forget(rt, ctx.issue.id)
    return None


def _branch_gate_before(ctx: PhaseTask) -> PhaseConfig | None:
    """The gate on the branch among the phases this one comes after, if there is one."""
    phases = ctx.pipeline.phases
    todo, seen = list(ctx.phase.after), set()
    while todo:
        name = todo.pop()
        if name in seen or name not in phases:
            continue
        seen.add(name)
        if phases[name].on_branch:
            return phases[name]
        todo += phases[name].after
    return None


def _mark_started(ctx: PhaseTask, rt: Runtime) -> None:
    if ctx.issue.state in OPEN_STATES and ctx.issue.state != "started":
        rt.tracker.set_state(ctx.issue.id, "started")


def _env(ctx: PhaseTask, log: Path, base: Mapping[str, str]) -> dict[str, str]:
    """`base` (an allow-list, engine/run/environment.py) and what the engine tells the phase."""
    return {
        **base,
        **environment.phase_variables(ctx.issue.id, ctx.phase.name, ctx.writes),
        "MARATHON_LOG": str(log),
        "MARATHON_WORKSPACE": str(ctx.pipeline.root),
    }


def clean_issue(pipeline: Pipeline, issue_id: str) -> None:
    """`doit clean issue:<ID>`: drop the issue's worktree, branch and finished phases; never
    under a running marathon (it takes the workspace lock, as a run does)."""
    rt = runtime_for(pipeline)
    try:
        rt.begin()
    except MarathonError as exc:
        # doit's `clean` would print a traceback and exit 0: one line and the exit code (on
        # the real stderr: doit captures an action's own).
        print(f"error: {exc.one_line()}", file=sys.__stderr__)
        raise SystemExit(exc.exit_code) from None
    if repo.is_repo(pipeline.root):
        worktrees.remove_worktree(pipeline.root, pipeline.state_dir, issue_id)
        if rt.executor.remote:
            remote_phase.forget(rt, issue_id)
    removed = rt.records.forget(f"issue:{issue_id}")
    rt.records.end_merge(issue_id)
    rt.records.reset_issue(issue_id)
    print(
        f"{issue_id}: a fresh start: worktree and branch removed, {removed} finished phase(s) "
        "forgotten, its earlier failures no longer count toward the breaker"
    )
