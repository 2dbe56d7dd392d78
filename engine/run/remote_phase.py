"""A phase sent to a cluster worker, from the coordinator's side: publish, send, take back.

The coordinator publishes the issue's branch to the shared remote (`publish_head`), sends the
phase as a `PhaseJob` (`send`: the prompt rendered here, the worker builds the agent's argv
with its own paths), appends what the worker printed to the phase's log here, and takes the
result back (`take`: the worker's commit onto the issue's branch and worktree, the state files
the phase wrote into .marathon/). A coordinator killed at any point finds a finished run's work
again by its ref on the remote (`recover`); EXIT removes the issue's refs from the remote
(`forget`). Records, stamps, the tracker and the merge never leave the coordinator.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from pathlib import Path
from typing import Any, cast

from engine import globs
from engine.agents.base import Preset
from engine.cluster.job import RUN_REFS, PhaseJob, PhaseResult, run_ref
from engine.compile import PhaseTask
from engine.config.model import CheckConfig
from engine.errors import MarathonError
from engine.git import refs, remote, repo, worktrees
from engine.run import environment, process
from engine.run.executor import RemoteExecutor
from engine.run.process import ProcessOutcome
from engine.run.runtime import SESSION, Runtime

# (remote, issue) -> (a commit the remote has, a ref it is reachable from), as this process
# last left them: a phase whose base is already there is sent without a push.
_on_remote: dict[tuple[str, str], tuple[str, str]] = {}
_on_remote_lock = threading.Lock()


def publish_head(ctx: PhaseTask, rt: Runtime) -> tuple[str, str]:
    """The issue's head here, made reachable on the remote: (the head, a ref it is
    reachable from there). The branch is pushed only when the remote does not have it yet."""
    state, issue = ctx.pipeline.state_dir, ctx.issue.id
    url = _executor(rt).remote_url
    workdir = rt.workdir(issue)
    with repo.repo_lock(state, repo.lock_for(workdir, state)):
        head = worktrees.head_of(workdir)
        with _on_remote_lock:
            known = _on_remote.get((url, issue))
        if known is not None and known[0] == head:
            return known
        branch = worktrees.branch_name(issue)
        remote.publish(ctx.pipeline.root, url, branch, head)
        _remember(url, issue, head, f"refs/heads/{branch}")
    return head, f"refs/heads/{branch}"


def _remember(url: str, issue: str, sha: str, ref: str) -> None:
    with _on_remote_lock:
        _on_remote[(url, issue)] = (sha, ref)


def job_for(
    ctx: PhaseTask,
    rt: Runtime,
    run_id: int,
    prompt: str,
    preset: Preset | None,
    base: str,
    fetch: str = "",
) -> PhaseJob:
    pipeline, phase, issue = ctx.pipeline, ctx.phase, ctx.issue
    key = repo.run_key(SESSION, run_id)
    agent = pipeline.agents[phase.agent] if phase.agent else None
    names = (
        environment.agent_names(agent, preset.env)
        if agent is not None and preset is not None
        else environment.check_names()
    )
    plan_file = pipeline.plan_file(issue.id)
    state_files = (
        {pipeline.plan_path(issue.id): plan_file.read_text(encoding="utf-8")}
        if plan_file.exists()
        else {}
    )
    return _job(
        ctx,
        rt,
        base,
        fetch,
        task=ctx.name,
        phase=phase.name,
        run_key=key,
        run_ref=run_ref(issue.id, phase.name, key),
        message=f"{issue.id} {phase.name}: {issue.title}",
        writes=tuple(ctx.writes),
        timeout=phase.timeout,
        prompt=prompt,
        agent=agent,
        command=tuple(phase.command),
        state_files=state_files,
        env={
            **(agent.env_values if agent is not None else {}),
            **environment.phase_variables(issue.id, phase.name, ctx.writes),
            **refs.NO_PUSH_ENV,
            **refs.agent_identity(issue.id, phase.name),
        },
        env_names=names,
        scratch=preset.scratch if preset is not None else (),
        must_produce=phase.must_produce,
    )


def _job(ctx: PhaseTask, rt: Runtime, base: str, fetch: str, **fields: Any) -> PhaseJob:
    """A job at `base` of the issue's branch (reachable from `fetch` on the remote), with
    what every job of this issue carries; `fields` say what it runs."""
    issue = ctx.issue.id
    return PhaseJob(
        issue=issue,
        remote=_executor(rt).remote_url,
        branch=worktrees.branch_name(issue),
        base=base,
        fetch=fetch,
        placeholder=str(rt.planned_workdir(issue)),
        never=environment.secrets(ctx.pipeline),
        identity=_identity(ctx.pipeline.root),
        **fields,
    )


def send(
    ctx: PhaseTask, rt: Runtime, run_id: int, log: Path, prompt: str, preset: Preset | None
) -> PhaseResult:
    """Run the phase on a worker; what it printed is appended to `log` when it ends."""
    prompt_file = ctx.pipeline.state_dir / "prompts" / ctx.issue.id / f"{ctx.phase.name}.md"
    prompt_file.parent.mkdir(parents=True, exist_ok=True)
    prompt_file.write_text(prompt, encoding="utf-8")  # kept here, as for a local run
    base, reachable = publish_head(ctx, rt)
    job = job_for(ctx, rt, run_id, prompt, preset, base, reachable)
    sent = time.monotonic()
    process.append_log(log, f"=== sent to the cluster from {base[:12]}")
    output = _StreamedOutput(log)
    try:
        result = _executor(rt).run_phase(job, agent=preset is not None, on_output=output.event)
    finally:
        output.close()
    _append_output(log, result.output[output.chars :])
    process.append_log(
        log,
        f"=== ran on {result.worker or 'the cluster'}: the agent {result.duration:.3f} s, "
        f"{result.spent:.3f} s on the worker, {time.monotonic() - sent:.3f} s from here "
        f"({', '.join(f'{step} {seconds:.3f}' for step, seconds in result.steps.items())})",
    )
    return result


class _StreamedOutput:
    """What a worker streams while the phase runs, appended to the phase's log in order; a
    piece that comes out of order, or after the end, is left for the result's full output."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.chars = 0  # of the output written so far
        self._next = 0  # the byte of the worker's log the next piece must start at
        self._closed = False
        self._lock = threading.Lock()

    def event(self, message: dict[str, Any]) -> None:
        with self._lock:
            if self._closed or message.get("at") != self._next:
                return
            text = str(message.get("text", ""))
            with open(self.log, "a", encoding="utf-8") as handle:
                handle.write(text)
            self._next = int(message.get("end", self._next))
            self.chars += len(text)

    def close(self) -> None:
        with self._lock:
            self._closed = True


def run_check(ctx: PhaseTask, rt: Runtime, check: CheckConfig, log: Path) -> ProcessOutcome:
    """One of a branch gate's checks on a worker, at the issue's head; what it printed is
    appended to `log`. Raises a MarathonError when the worker could not even check it out."""
    issue = ctx.issue.id
    base, reachable = publish_head(ctx, rt)
    job = _job(
        ctx,
        rt,
        base,
        reachable,
        task=f"{ctx.name}:{check.name}",
        phase=f"{ctx.phase.name}-{check.name}",
        run_key=f"{SESSION}-{uuid.uuid4().hex[:8]}",
        run_ref="",  # a check commits nothing
        message="",
        writes=(),
        timeout=check.timeout,
        command=tuple(check.command),
        env={**check.env_values, "MARATHON_CHECK": check.name, "MARATHON_ISSUE": issue},
        env_names=environment.check_names(check.env),
    )
    result = _executor(rt).run_phase(job, agent=False)
    if result.error:
        raise MarathonError(f"check {check.name} could not run on the cluster: {result.error}")
    process.append_log(log, f"=== ran on {result.worker or 'the cluster'} at {base[:12]}")
    _append_output(log, result.output)
    return result.process


def _append_output(log: Path, output: str) -> None:
    if output:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(output if output.endswith("\n") else output + "\n")


def take(ctx: PhaseTask, rt: Runtime, run_id: int, result: PhaseResult, log: Path) -> None:
    """The worker's work, here: its state files into .marathon/, its commit onto the issue's
    branch and worktree, and the branch published again."""
    state = ctx.pipeline.state_dir
    for rel, text in result.state_files.items():
        if rel.startswith(".marathon/") and globs.matches(rel, ctx.writes):
            target = state / rel.removeprefix(".marathon/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    if not result.commit:
        return
    workdir = rt.workdir(ctx.issue.id)
    url, root = _executor(rt).remote_url, ctx.pipeline.root
    ref = run_ref(ctx.issue.id, ctx.phase.name, repo.run_key(SESSION, run_id))
    with repo.repo_lock(state, repo.lock_for(workdir, state)):
        if not remote.receive(root, result.pack, result.commit):
            remote.fetch(root, url, ref)
        head = remote.integrate(workdir, result.commit, result.base)
        if head == result.commit:  # taken as it is: the remote has the head under `ref`
            _remember(url, ctx.issue.id, head, ref)
    shown = ", ".join(result.committed) or "its files"
    process.append_log(log, f"=== committed {shown} as {head[:12]} (worker's {result.commit[:12]})")


def recover(ctx: PhaseTask, rt: Runtime, run_keys: list[str]) -> str:
    """The newest of `run_keys` (interrupted runs of this task) whose commit reached the
    remote, brought onto the issue's branch: its record was lost with a killed coordinator.
    Returns its run key, or ""."""
    url, root = _executor(rt).remote_url, ctx.pipeline.root
    prefix = f"{RUN_REFS}/{ctx.issue.id}/{ctx.phase.name}/"
    found = remote.listed(root, url, f"{prefix}*")
    for key in reversed(run_keys):
        ref = prefix + key
        if ref not in found:
            continue
        state = ctx.pipeline.state_dir
        workdir = rt.workdir(ctx.issue.id)
        with repo.repo_lock(state, repo.lock_for(workdir, state)):
            sha = remote.fetch(root, url, ref)
            remote.integrate(workdir, sha)
        return key
    return ""


def forget(rt: Runtime, issue: str) -> None:
    """After the merge (or `doit clean issue:ID`): the issue's branch and run refs leave the
    remote (best effort: a remote that cannot be reached now must not undo a finished merge)."""
    url, root = _executor(rt).remote_url, rt.pipeline.root
    with contextlib.suppress(Exception):
        found = remote.listed(root, url, f"{RUN_REFS}/{issue}/*")
        heads = remote.listed(root, url, f"refs/heads/{worktrees.branch_name(issue)}")
        remote.delete(root, url, sorted(found) + sorted(heads))
    with _on_remote_lock:
        _on_remote.pop((url, issue), None)


def _executor(rt: Runtime) -> RemoteExecutor:
    return cast(RemoteExecutor, rt.executor)


@functools.cache
def _identity(root: Path) -> tuple[str, str]:
    """Who the engine commits as here (the user as git sees them, or the engine): the
    workers commit as the same."""
    if repo.identity_args(root):
        return repo.ENGINE_NAME, repo.ENGINE_EMAIL
    ident = repo.git(root, "var", "GIT_AUTHOR_IDENT", check=False).stdout.strip()
    name, _, rest = ident.partition(" <")
    email = rest.partition(">")[0]
    return (name, email) if name and email else (repo.ENGINE_NAME, repo.ENGINE_EMAIL)
