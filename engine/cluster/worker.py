"""What a cluster worker does with a `PhaseJob`: run one phase in a checkout of its own.

A run is a pipeline of small steps, each a function: settle what a killed worker left
(`reap_orphans`), look for a commit an earlier attempt of the same run pushed (`pushed`), check
out the job's base commit in a fresh folder (`checkout`), put the state files the phase reads
there, run the agent or command (`run`), judge what it changed against its write set, commit
the write set with the run's trailers, push the commit to the run's own ref, and remove the
folder. Nothing here writes outside the worker's root folder; the workspace, its records and
its tracker are the coordinator's, and nothing the issue needs stays behind on this machine.

The agent's process group is dropped when the coordinator no longer wants the task (it was
cancelled, or the coordinator died and the scheduler released it): a marathon restarted after
a kill never pays for two agents on one phase.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine import globs
from engine.agents.presets import get_preset
from engine.cluster.job import PhaseJob, PhaseResult, process_fields
from engine.errors import MarathonError
from engine.git import remote, repo
from engine.run import environment, process

ROOT_ENV = "MARATHON_WORKER_ROOT"  # where a worker keeps its repositories and runs
CANCEL_POLL_SECONDS = 0.5


def run_phase_job(job: PhaseJob, root: Path | None = None) -> PhaseResult:
    """The function a worker is given (by reference: the engine is installed there too)."""
    started = time.monotonic()
    root = (root or worker_root()).resolve()
    reap_orphans(root)
    where = _worker_name()
    with ThreadPoolExecutor(max_workers=1) as beside:
        # Did an attempt of this run whose worker died push already? Asked while the
        # checkout is made: on a first attempt (nearly always) it costs no time.
        asked = beside.submit(pushed, job.remote, job.run_ref) if job.run_ref else None
        try:
            work = checkout(root, job)
        except MarathonError as exc:
            return PhaseResult(exit_code=-1, error=exc.one_line(), worker=where)
        try:
            earlier = asked.result() if asked is not None else ""
        except MarathonError as exc:
            _remove_checkout(root, work)
            return PhaseResult(exit_code=-1, error=exc.one_line(), worker=where)
    if earlier:
        _remove_checkout(root, work)
        return PhaseResult(exit_code=0, commit=earlier, base=job.base, earlier=True, worker=where)
    checked_out = time.monotonic()
    try:
        result = _run_in(work, job, where)
    finally:
        cleaning = time.monotonic()
        _remove_checkout(root, work)
    ended = time.monotonic()
    steps = {"checkout": checked_out - started, **result.steps, "cleanup": ended - cleaning}
    return dataclasses.replace(result, spent=ended - started, steps=steps)


def worker_root() -> Path:
    """MARATHON_WORKER_ROOT, else a folder in the Dask worker's own local directory."""
    configured = os.environ.get(ROOT_ENV)
    if configured:
        return Path(configured)
    from distributed import get_worker

    return Path(get_worker().local_directory) / "marathon"


def _worker_name() -> str:
    with contextlib.suppress(Exception):
        from distributed import get_worker

        return str(get_worker().address)
    return f"pid {os.getpid()}"


def pushed(url: str, ref: str) -> str:
    """The commit `ref` points at on `url`, or "" when there is none."""
    return remote.listed(Path.cwd(), url, ref).get(ref, "")


def checkout(root: Path, job: PhaseJob) -> Path:
    """A fresh folder with `job.base` checked out (detached), from the worker's cache of the
    remote; a folder an earlier attempt of this run left is removed first."""
    cache = _cache(root, job.remote)
    work = root / "runs" / _safe(f"{job.task}-{job.run_key}")
    # One fetch at a time into a cache: two at once can each take the other's half-written
    # objects for present ("did not send all necessary objects", seen under load).
    with repo.repo_lock(cache, "marathon-worker"):
        if not remote.has_commit(cache, job.base) and not _fetched(cache, job):
            raise MarathonError(
                f"commit {job.base[:12]} is not on {job.branch} at {job.remote}; the "
                "coordinator publishes it before sending the phase"
            )
        if work.exists() or _state_of(work).exists():
            _remove_checkout(root, work, locked=True)
        _git(cache, "worktree", "add", "-q", "-f", "--detach", str(work), job.base)
    return work


def _fetched(cache: Path, job: PhaseJob) -> bool:
    """Fetch the ref the job's base is reachable from; is the base here now?"""
    ref = job.fetch or f"refs/heads/{job.branch}"
    _git(cache, "fetch", "-q", "--no-write-fetch-head", job.remote, f"+{ref}:{ref}")
    return remote.has_commit(cache, job.base)


def _run_in(work: Path, job: PhaseJob, where: str) -> PhaseResult:
    state = _state_of(work)
    state.mkdir(parents=True, exist_ok=True)
    if job.scratch:
        repo.exclude(work, job.scratch)
    for rel, text in job.state_files.items():
        target = work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    begun = time.monotonic()
    finished, log = run(work, job)
    ran = time.monotonic()
    output = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    agent_committed = _undo_agent_commits(work, job.base)
    changed = sorted(repo.dirty_files(work))
    mine = tuple(p for p in changed if globs.matches(p, job.writes))
    outside = tuple(p for p in changed if not globs.matches(p, job.writes))
    state_files = _state_files_written(work, job)
    # A fresh checkout: the phase produced something when its write set differs from the base.
    produced = bool(mine or state_files)
    commit, pack = "", b""
    judged = time.monotonic()
    if finished.ok and mine:
        name, email = job.identity
        repo.commit_paths(
            work, state, mine, job.message, task=job.task, run=job.run_key,
            identity=("-c", f"user.name={name}", "-c", f"user.email={email}"),
        )  # fmt: skip
        commit = _git(work, "rev-parse", "HEAD").stdout.strip()
        # One ref per run, never forced: a second push of the same run is refused.
        _git(work, "push", "-q", job.remote, f"{commit}:{job.run_ref}")
        pack = _pack(work, commit, job.base)
    steps = {"run": ran - begun, "judge": judged - ran, "commit": time.monotonic() - judged}
    return PhaseResult(
        **process_fields(finished),  # type: ignore[arg-type]
        output=output,
        commit=commit,
        base=job.base,
        pack=pack,
        committed=mine if commit else (),
        outside=outside,
        produced=produced,
        agent_committed=agent_committed,
        state_files=state_files,
        worker=where,
        steps=steps,
    )


def _state_files_written(work: Path, job: PhaseJob) -> dict[str, str]:
    """The files under .marathon/ in the write set that the phase wrote or changed."""
    patterns = [w for w in job.writes if w.startswith(".marathon/")]
    written = {}
    for rel in globs.expand(work, patterns) if patterns else ():
        text = (work / rel).read_text(encoding="utf-8", errors="replace")
        if job.state_files.get(rel) != text:
            written[rel] = text
    return written


def run(work: Path, job: PhaseJob) -> tuple[process.ProcessOutcome, Path]:
    """Start the agent (or command) in `work`, its environment taken from this machine's by
    the job's allow-list; returns how it ended and its log."""
    state = _state_of(work)
    log = state / "phase.log"
    here = str(work)
    prompt = job.prompt.replace(job.placeholder, here) if job.placeholder else job.prompt
    prompt_file = state / "prompt.md"
    prompt_file.write_text(prompt, encoding="utf-8")
    env = environment.allowed(job.env_names, _placed(job.env, job.placeholder, here),
                              never=job.never)  # fmt: skip
    env.update(
        MARATHON_WORKSPACE=here, MARATHON_LOG=str(log), MARATHON_PROMPT_FILE=str(prompt_file)
    )
    stdin: str | None = None
    if job.agent is not None:
        invocation = get_preset(job.agent).build(job.agent, prompt_file, work)
        argv: tuple[str, ...] = invocation.argv
        env = {**invocation.env, **env}
        stdin = prompt if invocation.prompt_on_stdin else None
    else:
        argv = job.command
    with _cancel_watch(state) as on_start, _streaming(log, job.stream):
        finished = process.run_process(
            argv, cwd=work, log_path=log, timeout=job.timeout, env=env, stdin_text=stdin,
            on_start=on_start,
        )  # fmt: skip
    return finished, log


STREAM_SECONDS = 0.5
STREAM_CHUNK = 64 * 1024


@contextlib.contextmanager
def _streaming(log: Path, topic: str) -> Iterator[None]:
    """While the phase runs, what it printed goes to the coordinator as Dask events on
    `topic`, whole lines at a time, each saying at which byte of the log it starts."""
    send = _event_sender(topic) if topic else None
    if send is None:
        yield
        return
    done = threading.Event()

    def stream() -> None:
        sent = 0
        while not done.wait(STREAM_SECONDS):
            with contextlib.suppress(OSError):
                with open(log, "rb") as handle:
                    handle.seek(sent)
                    data = handle.read(STREAM_CHUNK)
                end = data.rfind(b"\n") + 1
                if end:
                    text = data[:end].decode("utf-8", errors="replace")
                    send({"at": sent, "end": sent + end, "text": text})
                    sent += end

    thread = threading.Thread(target=stream, name=f"stream {topic}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _event_sender(topic: str) -> Callable[[dict[str, object]], None] | None:
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    return lambda message: worker.log_event(topic, message)


def _placed(env: Mapping[str, str], placeholder: str, here: str) -> dict[str, str]:
    if not placeholder:
        return dict(env)
    return {name: value.replace(placeholder, here) for name, value in env.items()}


@contextlib.contextmanager
def _cancel_watch(state: Path) -> Iterator[object]:
    """`on_start` for run_process: records the agent's group (for `reap_orphans`) and kills it
    as soon as the scheduler no longer wants this task."""
    done = threading.Event()
    key, wanted = _task_wanted()

    def on_start(pgid: int) -> None:
        (state / "agent.pgid").write_text(
            f"{pgid} {process.start_token(pgid)} {os.getpid()} {process.start_token(os.getpid())}"
        )
        if key is None:
            return

        def watch() -> None:
            while not done.wait(CANCEL_POLL_SECONDS):
                if not wanted():
                    process.kill_group(pgid)
                    return

        threading.Thread(target=watch, name=f"cancel-watch {key}", daemon=True).start()

    try:
        yield on_start
    finally:
        done.set()
        with contextlib.suppress(FileNotFoundError):
            (state / "agent.pgid").unlink()


def _task_wanted() -> tuple[object, object]:
    """(the running task's key, a function saying whether the scheduler still wants it);
    (None, None) outside a Dask worker. A task the scheduler released (its client cancelled
    it, or went away) is `cancelled` in the worker's state, or gone from it."""
    try:
        from distributed import get_worker
        from distributed.worker import thread_state

        worker, key = get_worker(), thread_state.key
    except (ImportError, ValueError, AttributeError):
        return None, None

    def wanted() -> bool:
        task = worker.state.tasks.get(key)
        return task is not None and task.state not in ("cancelled", "released", "forgotten")

    return key, wanted


def reap_orphans(root: Path) -> list[int]:
    """Agents left running by a worker process that died (SIGKILL, OOM): their groups are
    killed, checked by start time. Returns the groups killed."""
    killed = []
    for record in (root / "runs").glob("*.state/agent.pgid"):
        with contextlib.suppress(OSError, ValueError):
            pgid, token, owner, owner_token = record.read_text().split()
            if process.pid_alive(int(owner)) and process.start_token(int(owner)) == owner_token:
                continue  # its worker is alive: the run is not an orphan
            if process.kill_group_if_ours(int(pgid), token):
                killed.append(int(pgid))
            record.unlink()
    return killed


def _pack(work: Path, commit: str, base: str) -> bytes:
    """The objects of `commit` that `base` does not have, as a pack ("" if git cannot)."""
    done = subprocess.run(
        ["git", "pack-objects", "--stdout", "--revs", "-q"],
        cwd=work, input=f"{commit}\n^{base}\n".encode(), capture_output=True, check=False,
    )  # fmt: skip
    return done.stdout if done.returncode == 0 else b""


def _undo_agent_commits(work: Path, base: str) -> bool:
    """Agents do not commit: commits it made are turned back into changes, for the write-set
    judgement to see."""
    if _git(work, "rev-parse", "HEAD").stdout.strip() == base:
        return False
    _git(work, "reset", "-q", base)
    return True


def _cache(root: Path, url: str) -> Path:
    """The worker's own bare repository for `url`: fetched into, never pushed from."""
    cache = root / "repos" / hashlib.sha256(url.encode()).hexdigest()[:16]
    cache.parent.mkdir(parents=True, exist_ok=True)
    with repo.repo_lock(cache.parent, cache.name):
        if not (cache / "HEAD").exists():
            _git(None, "init", "-q", "--bare", str(cache))
            # The state files a phase reads and writes are never work in git.
            (cache / "info").mkdir(exist_ok=True)
            (cache / "info" / "exclude").write_text("/.marathon\n")
    return cache


def _remove_checkout(root: Path, work: Path, *, locked: bool = False) -> None:
    cache = _cache_of(work)
    if cache is not None and not locked:
        with repo.repo_lock(cache, "marathon-worker"):
            _remove_checkout(root, work, locked=True)
        return
    if cache is not None:
        removed = _git(cache, "worktree", "remove", "--force", str(work), check=False)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(_state_of(work), ignore_errors=True)
    if cache is not None and removed.returncode != 0:
        _git(cache, "worktree", "prune", check=False)  # a folder removed by hand


def _cache_of(work: Path) -> Path | None:
    """The cache repository a checkout belongs to (its .git file names it)."""
    with contextlib.suppress(OSError):
        text = (work / ".git").read_text()
        gitdir = Path(text.split(":", 1)[1].strip())
        return gitdir.parent.parent  # <cache>/worktrees/<name>
    return None


def _state_of(work: Path) -> Path:
    return work.with_name(f"{work.name}.state")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _git(where: Path | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return repo.git(where or Path.cwd(), *args, check=check)
