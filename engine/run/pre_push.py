"""The pre-push hook: verify exactly the commits being pushed, never the working tree.

git starts the hook with `<remote> <url>` and one line per ref on stdin:
`<local ref> <local sha> <remote ref> <remote sha>`. Each distinct local sha (the commit a
remote ref will point at) is verified once; deletions (local sha all zeros) are skipped; a new
branch or a force push is verified like any other commit, in full.

For each commit and each check, the key is the check's command plus the (path, mode, blob id)
of the files its `reads:` match in the commit's tree, read with `git ls-tree` (no checkout).
A key that passed anywhere (another commit, branch or worktree, `doit verify`, a VERIFY gate)
is served from the cache (engine/run/check_cache.py). Only when some key is new is the commit
checked out, in a worktree the hook owns (in the user's cache folder, see `worktree_location`;
reused and updated with `git checkout`), and the stale checks run there in parallel.
Uncommitted changes in the pushing worktree are never seen, stashed or touched.

What it does not do, on purpose:
* take the workspace run lock or consult the circuit breaker: a push is judged by its checks
  alone, every time, even while a marathon runs (the hook worktree has its own lock);
* record runs in records.db: a refused push is not an agent's failure.

A check that changes the files of the hook worktree (declared `rewrites: true`, or detected by
`git status` after it ran) fails the push with the files it changed, and its batch records no
pass. `MARATHON_SKIP=lint,typecheck` skips those checks for one push. `git push --no-verify`
does not start the hook at all, as git defines it.

This module is imported on every push: the fast path (everything cached) imports no config
loader, no doit and no YAML parser.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, TextIO

from engine.git import tree
from engine.run import check_cache

SKIP_VARIABLE = "MARATHON_SKIP"
CONFIG_NAME = "marathon.yaml"
MAX_LINES = 400  # of a failed check's output shown in the terminal; the log has all of it


@dataclass(frozen=True)
class PushedRef:
    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str

    @property
    def deletion(self) -> bool:
        return not self.local_sha.strip("0")


@dataclass(frozen=True)
class Check:
    name: str
    command: tuple[str, ...]
    reads: tuple[str, ...]
    timeout: float
    rewrites: bool


@dataclass(frozen=True)
class Job:
    """One check on one commit, with its cache key."""

    commit: str
    check: Check
    key: str


@dataclass(frozen=True)
class Result:
    job: Job
    ok: bool
    seconds: float
    output: str
    error: str = ""
    recordable: bool = True  # False when files changed while it ran


@dataclass(frozen=True)
class Rewrite:
    """Files of the hook worktree that changed while `checks` ran on `commit`."""

    commit: str
    checks: tuple[str, ...]
    files: tuple[str, ...]


class HookError(Exception):
    """Bad input or a broken setup: one line, the push is refused."""


def parse_refs(text: str) -> list[PushedRef]:
    refs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4:
            raise HookError(
                f"stdin line {number}: expected '<local ref> <local sha> <remote ref> "
                f"<remote sha>' (what git gives a pre-push hook), got {line!r}"
            )
        refs.append(PushedRef(*parts))
    return refs


def commits_to_verify(refs: Sequence[PushedRef]) -> list[str]:
    """Each distinct commit a remote ref will point at, in push order; deletions skipped."""
    return list(dict.fromkeys(ref.local_sha for ref in refs if not ref.deletion))


def peel(repo: Path, objects: list[str]) -> list[str]:
    """The commits that `objects` (commits, or annotated tags) name, each once; an object that
    names no commit (a tag of a tree or blob) has nothing to verify."""
    if not objects:
        return []
    try:
        out = tree.git(repo, "rev-parse", *[f"{sha}^{{commit}}" for sha in objects])
        return list(dict.fromkeys(out.split()))
    except tree.GitError:
        found = []
        for sha in objects:
            try:
                found.append(tree.git(repo, "rev-parse", f"{sha}^{{commit}}").strip())
            except tree.GitError:
                continue
        return list(dict.fromkeys(found))


def skipped_names(environ: Mapping[str, str]) -> set[str]:
    return {name.strip() for name in environ.get(SKIP_VARIABLE, "").split(",") if name.strip()}


def load_checks(
    repo: Path, commit: str, entries: tree.Entries, cache: check_cache.CheckCache
) -> list[Check]:
    """The checks the commit's own marathon.yaml declares (the packaged default without one),
    parsed once per distinct text and then read from the cache."""
    entry = entries.get(CONFIG_NAME)
    if entry is not None:
        blob = entry[1]
        text: str | None = None
    else:
        from engine.config.load import default_config_path

        text = default_config_path().read_text(encoding="utf-8")
        blob = tree.hash_blob(text.encode())
    version = f"{blob}:{_loader_version()}"
    known = cache.config(version)
    if known is None:
        if text is None:
            text = tree.git(repo, "cat-file", "blob", blob)
        known = _parse_checks(repo, commit, text)
        cache.save_config(version, known)
    return [
        Check(c["name"], tuple(c["command"]), tuple(c["reads"]), c["timeout"], c["rewrites"])
        for c in known
    ]


def _loader_version() -> str:
    """Which config loader parsed a cached text: another engine version may read the same
    marathon.yaml differently (a new default, a new key), so its parse is not reused."""
    config = Path(__file__).resolve().parent.parent / "config"
    parts = []
    for name in ("load.py", "model.py", "marathon.schema.json"):
        try:
            st = (config / name).stat()
        except OSError:
            continue
        parts.append(f"{st.st_size}.{st.st_mtime_ns}")
    return "-".join(parts)


def _parse_checks(repo: Path, commit: str, text: str) -> list[dict[str, Any]]:
    from engine.config.load import parse_pipeline
    from engine.errors import MarathonError

    try:
        pipeline = parse_pipeline(text, path=repo / CONFIG_NAME, root=repo)
    except MarathonError as exc:
        raise HookError(f"{exc.one_line()} (in pushed commit {_short(commit)})") from None
    return [
        {
            "name": c.name,
            "command": list(c.command),
            "reads": list(c.reads),
            "timeout": c.timeout,
            "rewrites": c.rewrites,
        }
        for c in pipeline.checks.values()
    ]


def job_key(check: Check, entries: tree.Entries) -> str:
    files = tree.listing(tree.select(entries, check.reads))
    return check_cache.key_of(check_cache.inputs(check.command, files))


# --- the hook-owned worktree ------------------------------------------------------------------


def hold_lock(state: Path, out: TextIO) -> IO[str]:
    """One push at a time uses the hook worktree (a second push from another terminal or
    worktree waits); the kernel drops the lock if the hook dies."""
    state.mkdir(parents=True, exist_ok=True)
    handle = open(state / "push.lock", "a+")  # noqa: SIM115 - held until the hook exits
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        out.write("pre-push: another push is verifying; waiting for it\n")
        out.flush()
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def worktree_location(common: Path, environ: Any = os.environ) -> Path:
    """Where the hook's worktree of the repository `common` lives: in the user's cache
    folder, outside every working tree, so a tool that looks for its settings in parent
    folders (ruff, pytest, mypy) can never find the pushing worktree's uncommitted ones."""
    import hashlib

    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    tag = hashlib.sha256(str(common.resolve()).encode()).hexdigest()[:12]
    name = common.resolve().parent.name if common.name == ".git" else common.name
    return Path(base) / "marathon-engine" / "push-worktrees" / f"{name}-{tag}"


def prepare_worktree(repo: Path, path: Path, commit: str, common: Path | None = None) -> Path:
    """The hook's worktree at `path`, at `commit`, with exactly the commit's files (ignored
    files such as caches kept between pushes, so mypy and pytest start warm). `common` is
    the repository's common git dir (asked of git when not given)."""
    common = common or tree.git_dirs(repo)[1]
    gitdir = _registered_gitdir(path, common)
    if gitdir is None:
        if path.exists():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _worktree_records_lock(common):
            tree.git(repo, "worktree", "prune")
            tree.git(repo, "worktree", "add", "-q", "--detach", "--force", str(path), commit)
        return path
    # A hook killed mid-checkout leaves its index lock; we hold the push lock, so it is stale.
    (gitdir / "index.lock").unlink(missing_ok=True)
    tree.git(path, "checkout", "-q", "-f", "--detach", commit)
    tree.git(path, "clean", "-q", "-f", "-d")
    return path


def _worktree_records_lock(common: Path) -> contextlib.AbstractContextManager[None]:
    """What a marathon running in this repository holds while it changes git's records of
    its worktrees (engine/git/worktrees.py): a prune or an add beside it could remove a record
    being made, or fail on reading one. Nothing to hold outside a marathon workspace."""
    state = common.parent / ".marathon"
    if common.name != ".git" or not state.is_dir():
        return contextlib.nullcontext()
    from engine.git.repo import repo_lock
    from engine.git.worktrees import RECORDS_LOCK

    return repo_lock(state, RECORDS_LOCK)


def _registered_gitdir(path: Path, common: Path) -> Path | None:
    """The git dir of the worktree at `path` when it is a live worktree of the repository
    `common` pointing back at `path` (checked by reading git's files, no git process)."""
    try:
        link = (path / ".git").read_text(encoding="utf-8").strip()
        if not link.startswith("gitdir: "):
            return None
        gitdir = Path(link.removeprefix("gitdir: ")).resolve()
        back = Path((gitdir / "gitdir").read_text(encoding="utf-8").strip()).resolve()
    except OSError:
        return None
    mine = gitdir.parent == common.resolve() / "worktrees" and back == (path / ".git").resolve()
    return gitdir if mine and (gitdir / "HEAD").is_file() else None


def remove_worktree(repo: Path) -> Path | None:
    """Remove the hook's worktree of `repo`'s repository (uninstalling); its path, if any."""
    common = tree.git_dirs(repo)[1]
    path = worktree_location(common)
    if _registered_gitdir(path, common) is None:
        return None
    tree.git(repo, "worktree", "remove", "--force", str(path))
    return path


def changed_files(worktree: Path) -> tuple[str, ...]:
    """Files of the hook worktree that differ from the commit (ignored files excluded)."""
    out = tree.git(worktree, "status", "--porcelain", "-z", "--untracked-files=all")
    records = [r for r in out.split("\0") if r]
    paths = []
    skip_next = False
    for record in records:
        if skip_next:  # the source path of a rename
            skip_next = False
            continue
        status, path = record[:2], record[3:]
        skip_next = "R" in status or "C" in status
        paths.append(path)
    return tuple(sorted(paths))


# --- running -----------------------------------------------------------------------------------


def log_path(logs: Path, job: Job) -> Path:
    # A check's name is any YAML key: it must not become a path outside the logs folder.
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in job.check.name)
    return logs / _short(job.commit) / f"{safe.lstrip('.') or '_'}.log"


def run_one(job: Job, worktree: Path, logs: Path) -> Result:
    from engine.run import process

    log = log_path(logs, job)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    outcome = process.run_process(
        job.check.command,
        cwd=worktree,
        log_path=log,
        timeout=job.check.timeout,
        env=tree.clean_env({"MARATHON_CHECK": job.check.name, "MARATHON_COMMIT": job.commit}),
    )
    output = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return Result(job, outcome.ok, outcome.duration, output, outcome.error)


def run_commit(jobs: list[Job], worktree: Path, logs: Path) -> tuple[list[Result], list[Rewrite]]:
    """Declared rewriting checks one by one, then the others in parallel. When files changed,
    the check (or batch of checks) that ran fails the push with them, and none of its checks
    counts as passed: their inputs moved under them."""
    from concurrent.futures import ThreadPoolExecutor  # not on the fast path: imports logging

    results: list[Result] = []
    rewrites: list[Rewrite] = []
    rounds = [[j] for j in jobs if j.check.rewrites] + [[j for j in jobs if not j.check.rewrites]]
    for batch in [b for b in rounds if b]:
        with ThreadPoolExecutor(max_workers=len(batch)) as pool:
            done = list(pool.map(lambda j: run_one(j, worktree, logs), batch))
        changed = changed_files(worktree)
        if changed:
            rewrites.append(Rewrite(batch[0].commit, tuple(j.check.name for j in batch), changed))
            done = [replace(r, recordable=False) for r in done]
            # Back to exactly the commit for the next batch.
            tree.git(worktree, "checkout", "-q", "-f", "--detach", batch[0].commit)
            tree.git(worktree, "clean", "-q", "-f", "-d")
        results += done
    return results, rewrites


# --- reporting ---------------------------------------------------------------------------------


def _short(sha: str) -> str:
    return sha[:10]


def report(
    results: list[Result],
    rewrites: list[Rewrite],
    cached: list[Job],
    skipped: list[str],
    commits: list[str],
    logs: Path,
    out: TextIO,
) -> None:
    """Each ran check as one block, failures first; the last line is the verdict."""
    many = len(commits) > 1

    def label(job: Job) -> str:
        return f"{job.check.name}@{_short(job.commit)}" if many else job.check.name

    failed = [r for r in results if not r.ok]
    passed = [r for r in results if r.ok]
    for rw in rewrites:
        shown = ", ".join(rw.files[:20]) + (" ..." if len(rw.files) > 20 else "")
        who = (
            f"check {rw.checks[0]}"
            if len(rw.checks) == 1
            else f"one of the checks {', '.join(rw.checks)} (they ran together)"
        )
        out.write(
            f"--- {who} rewrote {len(rw.files)} file(s) of commit {_short(rw.commit)}: {shown}\n"
            "    a check must not change what it checks: run it, commit what it changes and push"
            " again (or make it only report)\n"
        )
    for r in failed:
        out.write(
            f"--- {label(r.job)} FAILED on {_short(r.job.commit)} after {r.seconds:.2f} s"
            f" ({r.error}); log: {log_path(logs, r.job)}\n"
        )
        lines = r.output.splitlines()
        if len(lines) > MAX_LINES:
            out.write(f"    ... {len(lines) - MAX_LINES} earlier lines are in the log\n")
        out.writelines(line + "\n" for line in lines[-MAX_LINES:])
    for r in passed:
        note = "" if r.recordable else " (not counted: files changed while it ran)"
        out.write(
            f"--- {label(r.job)} passed on {_short(r.job.commit)} in {r.seconds:.2f} s{note}\n"
        )
    parts = []
    if rewrites:
        parts.append("rewrote files: " + ", ".join(n for rw in rewrites for n in rw.checks))
    if failed:
        parts.append("failed: " + ", ".join(label(r.job) for r in failed))
    if passed:
        parts.append("passed: " + ", ".join(label(r.job) for r in passed))
    if cached:
        parts.append("cached: " + ", ".join(label(j) for j in cached))
    if skipped:
        parts.append(f"skipped ({SKIP_VARIABLE}): " + ", ".join(skipped))
    verdict = "push refused" if failed or rewrites else "ok"
    what = f"{len(commits)} commit{'s' if many else ''} ({', '.join(map(_short, commits))})"
    out.write(f"pre-push {verdict}, {what}: {'; '.join(parts) or 'no checks'}\n")
    out.flush()


# --- the hook ----------------------------------------------------------------------------------


def verify(cwd: Path, refs_text: str, environ: Any, out: TextIO) -> int:
    top, common = tree.git_dirs(cwd)
    state = common / "marathon"
    cache = check_cache.cache_at(state / check_cache.FILE_NAME)
    commits = peel(top, commits_to_verify(parse_refs(refs_text)))
    if not commits:
        out.write("pre-push ok: nothing to verify (no commits pushed)\n")
        return 0
    skip = skipped_names(environ)
    plans: list[tuple[str, list[Job]]] = []
    known_names: set[str] = set()
    for commit in commits:
        entries = tree.tree_entries(top, commit)
        checks = load_checks(top, commit, entries, cache)
        known_names |= {c.name for c in checks}
        jobs = [Job(commit, c, job_key(c, entries)) for c in checks if c.name not in skip]
        plans.append((commit, jobs))
    unknown = sorted(skip - known_names)
    if unknown:
        from engine.errors import did_you_mean

        hint = did_you_mean(unknown[0], sorted(known_names))
        raise HookError(f"{SKIP_VARIABLE}: no check named '{unknown[0]}'{hint}")
    passed_before = cache.passed([job.key for _, jobs in plans for job in jobs])
    cached = [job for _, jobs in plans for job in jobs if job.key in passed_before]
    stale = [(c, [j for j in jobs if j.key not in passed_before]) for c, jobs in plans]
    stale = [(c, jobs) for c, jobs in stale if jobs]
    skipped = sorted(skip & known_names)
    results: list[Result] = []
    rewrites: list[Rewrite] = []
    if stale:
        lock = hold_lock(state, out)
        try:
            results, rewrites = _run_stale(top, state, cache, stale, cached)
        finally:
            lock.close()
    report(results, rewrites, cached, skipped, commits, state / "logs", out)
    return 1 if rewrites or any(not r.ok for r in results) else 0


def _run_stale(
    top: Path,
    state: Path,
    cache: check_cache.CheckCache,
    stale: list[tuple[str, list[Job]]],
    cached: list[Job],
) -> tuple[list[Result], list[Rewrite]]:
    results: list[Result] = []
    rewrites: list[Rewrite] = []
    done: set[str] = set()  # keys that passed earlier in this push (the same files on two refs)
    failed: dict[str, Result] = {}
    shutil.rmtree(state / "logs", ignore_errors=True)  # the logs say what this push ran
    for commit, jobs in stale:
        # Asked again under the lock: a push that ran while this one waited may have passed
        # the same contents, and so may an earlier commit of this push.
        done |= cache.passed([j.key for j in jobs])
        cached += [j for j in jobs if j.key in done]
        for job in [j for j in jobs if j.key in failed]:  # the same files failed already
            first = failed[job.key]
            error = f"failed on the same files in {_short(first.job.commit)}"
            results.append(replace(first, job=job, seconds=0.0, output="", error=error))
        todo = [j for j in jobs if j.key not in done and j.key not in failed]
        if not todo:
            continue
        common = state.parent
        worktree = prepare_worktree(top, worktree_location(common), commit, common)
        ran, changed = run_commit(todo, worktree, state / "logs")
        rewrites += changed
        for result in ran:
            results.append(result)
            if not result.ok:
                failed.setdefault(result.job.key, result)
            elif result.recordable:
                done.add(result.job.key)
                job = result.job
                cache.record(job.key, job.check.name, job.check.command, commit)
    return results, rewrites


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the installed hook: `python -m engine.run.pre_push <remote> <url>`."""
    del argv  # git passes the remote's name and url; the refs on stdin are what matters
    _stop_checks_on_signals()
    environ = os.environ
    try:
        code = verify(Path.cwd(), _pushed_refs(environ), environ, sys.stdout)
    except (HookError, tree.GitError) as exc:
        print(f"error: pre-push: {exc}", file=sys.stderr)
        return 2
    return code


def _pushed_refs(environ: Mapping[str, str]) -> str:
    """The pre-push lines: git's stdin; what pre-commit names; or HEAD when run by hand."""
    if environ.get("PRE_COMMIT") == "1" or environ.get("PRE_COMMIT_TO_REF"):
        # The pre-commit framework keeps stdin for itself. It names the pushed commit in
        # PRE_COMMIT_TO_REF, except for a branch that includes its root commit ("all files"):
        # then only the local ref is named. It passes on the first pushed ref only.
        local = environ.get("PRE_COMMIT_LOCAL_BRANCH") or "HEAD"
        target = environ.get("PRE_COMMIT_TO_REF") or _commit_of(local)
        return f"{local} {target} unknown 0\n"
    if sys.stdin is None or sys.stdin.isatty():
        return f"HEAD {_commit_of('HEAD')} unknown 0\n"  # started by hand
    return sys.stdin.read()


def _commit_of(ref: str) -> str:
    argv = ["rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"]
    return tree.git(Path.cwd(), *argv).strip()


def _stop_checks_on_signals() -> None:
    def handler(signum: int, frame: Any) -> None:
        from engine.run import process

        process.interrupt_all()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
