"""The few git operations phases need: what changed during a phase, and engine-owned commits.

Agents never commit. After a writing phase the engine stages only the files in that phase's
write set and commits them under a repository lock, so TEST and QA finishing at the same
moment both land, one after the other.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from engine.errors import MarathonError
from engine.run import lock

FileSignature = tuple[int, int]  # (size, mtime_ns); (-1, -1) for a deleted file
ENGINE_NAME = "marathon-engine"
ENGINE_EMAIL = "marathon-engine@localhost"


# Every commit, rebase and merge would start `git maintenance run --auto` as a child of its own
# (4 per issue, about 6 ms each); the engine asks once per merged issue instead (`maintain`).
NO_AUTO_MAINTENANCE = ("-c", "maintenance.auto=false")


def git(
    root: Path, *args: str, check: bool = True, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`env`: variables added to this process's for git (an author to commit as)."""
    # git holds the workspace's run lock while it runs (engine/run/lock.py says why).
    result = subprocess.run(
        ["git", *NO_AUTO_MAINTENANCE, *args],
        cwd=root,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        pass_fds=lock.held_fds(),
        env={**os.environ, **env} if env else None,
    )
    if check and result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise MarathonError(
            f"git {next(a for a in args if not a.startswith('-'))} failed in {root}: "
            f"{message[-1] if message else result.returncode}",
            exit_code=1,
        )
    return result


def show_bytes(root: Path, spec: str) -> bytes | None:
    """The content of `spec` (`<rev>:<path>`) as a checkout writes it (filters applied), or
    None when git has no such file."""
    done = subprocess.run(
        ["git", "cat-file", "--filters", spec], cwd=root, capture_output=True,
        stdin=subprocess.DEVNULL, pass_fds=lock.held_fds(), check=False,
    )  # fmt: skip
    return done.stdout if done.returncode == 0 else None


def maintain(root: Path) -> None:
    """What git's own commands would have done as they went: pack loose objects and refs when
    git's thresholds say so (`gc.auto`, usually nothing at all). In the foreground: a gc left
    in the background would hold the workspace's lock (the fds every engine git gets) after
    the run. Never fails a phase."""
    with contextlib.suppress(OSError):
        subprocess.run(
            ["git", "-c", "gc.autoDetach=false", "maintenance", "run", "--auto", "--quiet"],
            cwd=root, capture_output=True, stdin=subprocess.DEVNULL, pass_fds=lock.held_fds(),
            check=False,
        )  # fmt: skip


def is_repo(root: Path) -> bool:
    return (root / ".git").exists()


def exclude_state_dir(root: Path) -> None:
    """Keep `.marathon/` out of `git status` without touching the user's .gitignore."""
    # No trailing slash: in an issue's worktree `.marathon` is a link, not a folder.
    exclude(root, ("/.marathon",))


def exclude(root: Path, patterns: tuple[str, ...]) -> None:
    """Add gitignore-style `patterns` to the repository's info/exclude where missing: files
    git then never reports as changed. The file is shared by all the repository's worktrees,
    whose phases start at the same time: one writer at a time, and readers (`git status` in
    another phase) see the old file or the new one, never half of it."""
    if not patterns:
        return
    info = _exclude_file(root)
    with _exclude_lock:
        text = info.read_text() if info.exists() else ""
        missing = [pattern for pattern in patterns if pattern not in text.split()]
        if not missing:
            return
        info.parent.mkdir(parents=True, exist_ok=True)
        start = "" if text.endswith("\n") or not text else "\n"
        new = info.with_name(f"{info.name}.{os.getpid()}.tmp")
        new.write_text(text + start + "".join(f"{pattern}\n" for pattern in missing))
        os.replace(new, info)


_exclude_lock = threading.Lock()


@functools.cache
def _exclude_file(root: Path) -> Path:
    """Where `root`'s repository keeps info/exclude (a worktree shares the main one's)."""
    info = Path(git(root, "rev-parse", "--git-path", "info/exclude").stdout.strip())
    return info if info.is_absolute() else root / info


def dirty_files(root: Path) -> dict[str, FileSignature]:
    """Modified, added, deleted and untracked files (git's ignores respected), with signatures."""
    # --no-optional-locks: a status must not take the index lock, or a phase committing beside
    # this one (TEST and QA) finds the lock taken and its `git add` fails.
    out = git(
        root, "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all"
    ).stdout
    entries = out.split("\0")
    files: dict[str, FileSignature] = {}
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        if "R" in status or "C" in status:
            i += 1  # the rename's source path follows
        files[path] = _signature(root / path)
    return files


def _signature(path: Path) -> FileSignature:
    try:
        st = path.stat()
    except FileNotFoundError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


def changed_between(before: dict[str, FileSignature], after: dict[str, FileSignature]) -> list[str]:
    """Paths whose state differs between two `dirty_files` snapshots."""
    paths = set(before) | set(after)
    return sorted(p for p in paths if before.get(p) != after.get(p))


@contextmanager
def repo_lock(state_dir: Path, name: str = "git") -> Iterator[None]:
    """One writer at a time, across threads and processes: `git` for what the whole
    repository shares (the target, the user's refs), `locks/<ID>` for one issue's worktree (its
    index and branch: TEST and QA share it, different issues do not). Always the issue's
    lock before the repository's, never the other way round."""
    path = state_dir / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def lock_for(root: Path, state_dir: Path) -> str:
    """The lock of the worktree at `root`: its issue's own, or the repository's."""
    return f"locks/{root.name}" if root.parent == state_dir / "worktrees" else "git"


RUN_TRAILER = "Marathon-Run"  # names the run that made a commit: `<session>-<run id>`
TASK_TRAILER = "Marathon-Task"


def run_key(session: str, run_id: int) -> str:
    return f"{session}-{run_id}"


def commit_paths(
    root: Path,
    state_dir: Path,
    paths: Sequence[str],
    message: str,
    *,
    task: str = "",
    run: str = "",
    identity: tuple[str, ...] | None = None,
) -> str:
    """Commit exactly `paths` (others' staged or unstaged changes stay out); returns the sha.

    `task` and `run` go into the message as trailers: a rerun after a kill between this
    commit and the run's record finds the commit (`commit_of_run`) instead of redoing it.
    `identity`: git options naming the committer, when the caller knows (else asked)."""
    if not paths:
        return ""
    trailers = [f"{TASK_TRAILER}: {task}"] if task else []
    trailers += [f"{RUN_TRAILER}: {run}"] if run else []
    if trailers:
        message = f"{message}\n\n" + "\n".join(trailers)
    with repo_lock(state_dir, lock_for(root, state_dir)):
        git(root, "add", "-A", "--", *paths)
        done = git(
            root,
            *(identity_args(root) if identity is None else identity),
            "commit",
            "--no-verify",
            "-m",
            message,
            "--",
            *paths,
            check=False,
        )
    if done.returncode != 0:
        if not git(root, "diff", "--cached", "--name-only", "--", *paths).stdout.strip():
            return ""  # the files were already committed as they are: nothing to do
        said = (done.stderr or done.stdout).strip().splitlines()
        raise MarathonError(f"git commit failed in {root}: {said[-1] if said else ''}", exit_code=1)
    # "[branch 1a2b3c4] message": the short sha, without another git call.
    first = done.stdout.split("\n", 1)[0]
    return first.split("]", 1)[0].rsplit(" ", 1)[-1] if first.startswith("[") else ""


def commit_of_run(
    root: Path, runs: Sequence[str], revision: str = "HEAD", depth: int = 200
) -> tuple[str, str] | None:
    """(run key, sha) of the newest of the last `depth` commits of `revision` made by one of
    `runs` (their `Marathon-Run` trailer)."""
    if not runs:
        return None
    log = git(
        root,
        "log",
        f"-n{depth}",
        f"--format=%H%x00%(trailers:key={RUN_TRAILER},valueonly,separator=%x00)",
        revision,
        "--",
        check=False,
    ).stdout
    wanted = set(runs)
    for line in log.splitlines():
        sha, *keys = line.strip().split("\0")
        for key in keys:
            if key.strip() in wanted:
                return key.strip(), sha
    return None


def discard(root: Path, state_dir: Path, paths: Sequence[str]) -> None:
    """Put `paths` back as HEAD has them, under the worktree's lock. For what an interrupted
    run left half-written, before its phase is redone from scratch."""
    if not paths:
        return
    with repo_lock(state_dir, lock_for(root, state_dir)):
        restore(root, paths)


def restore(root: Path, paths: Sequence[str]) -> None:
    """`paths` as HEAD has them: tracked files restored (index and file), the others removed.
    The caller holds the lock that covers `root`."""
    if not paths:
        return
    tracked = set(git(root, "ls-tree", "-r", "-z", "--name-only", "HEAD", "--", *paths,
                      check=False).stdout.split("\0")) - {""}  # fmt: skip
    if tracked:
        git(root, "reset", "-q", "--", *sorted(tracked), check=False)
        git(root, "checkout", "-q", "HEAD", "--", *sorted(tracked))
    for rel in set(paths) - tracked:
        git(root, "rm", "-q", "--cached", "--ignore-unmatch", "--", rel, check=False)
        with contextlib.suppress(FileNotFoundError):
            (root / rel).unlink()


def stale_locks(root: Path) -> list[Path]:
    """git lock files in `root`'s repository that no running git can be holding: none of the
    repository's processes is alive (run with the workspace lock held, after the processes a
    killed run left were stopped). [] while any git runs there (the user's own included)."""
    common = Path(git(root, "rev-parse", "--git-common-dir").stdout.strip())
    common = common if common.is_absolute() else root / common
    found = [*common.glob("*.lock"), *common.glob("worktrees/*/*.lock")]
    refs = common / "refs"
    for folder, _, files in os.walk(refs):
        found += [Path(folder) / name for name in files if name.endswith(".lock")]
    if not found or _git_running_in(root.resolve(), common.resolve()):
        return []
    return found


def _git_running_in(*places: Path) -> bool:
    """Is a git process working in (or below) one of `places`? From /proc; True where /proc
    cannot tell, so nothing is removed on a guess."""
    if not Path("/proc/self/cwd").exists():
        return True
    prefixes = tuple(str(place) for place in places)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if Path(entry.path, "comm").read_text().strip() not in ("git", "git-remote-http"):
                continue
            cwd = os.readlink(Path(entry.path, "cwd"))
        except OSError:
            continue
        if cwd.startswith(prefixes):
            return True
    return False


@functools.cache
def identity_args(root: Path) -> tuple[str, ...]:
    """Commit (and rebase) as the user when git knows who they are, else as the engine: a
    fresh machine has no user.email, and git refuses to make commits without one."""
    if os.environ.get("GIT_AUTHOR_EMAIL") or _configured_email(root):
        return ()
    return ("-c", f"user.name={ENGINE_NAME}", "-c", f"user.email={ENGINE_EMAIL}")


@functools.cache
def _configured_email(root: Path) -> str:
    """Once per process and repository: every commit asks, the answer does not change."""
    return git(root, "config", "user.email", check=False).stdout.strip()
