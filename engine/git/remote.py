"""The coordinator's side of git as the transport to cluster workers.

The coordinator is the one writer of the issues' branches, here and on the shared remote: it
publishes a branch's head before a phase is sent (`publish`), and brings a worker's pushed
commit into the issue's worktree (`integrate`), where the up-to-date checks read it and the
gate and the merge find it. Workers only ever push a ref of their own run
(engine/cluster/job.py: RUN_REFS), so no two writers race for a branch.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from engine.errors import MarathonError
from engine.git import repo
from engine.run import lock


def publish(root: Path, url: str, branch: str, sha: str) -> None:
    """`branch` on `url` is `sha`: the coordinator's branch is the truth, so it is forced (a
    gate's rebase moves it sideways)."""
    repo.git(root, "push", "-q", "--force", url, f"{sha}:refs/heads/{branch}")


def fetch(root: Path, url: str, ref: str) -> str:
    """The commit of `ref` on `url`, fetched into this repository under the same ref."""
    repo.git(root, "fetch", "-q", "--no-write-fetch-head", url, f"+{ref}:{ref}")
    return repo.git(root, "rev-parse", ref).stdout.strip()


def receive(root: Path, pack: bytes, sha: str) -> bool:
    """Unpack `pack` (objects a worker sent with its result) into this repository; True when
    `sha` is here afterwards. A fetch is the fallback."""
    if pack:
        subprocess.run(
            ["git", "unpack-objects", "-q"], cwd=root, input=pack, capture_output=True,
            check=False, pass_fds=lock.held_fds(),
        )  # fmt: skip
    return has_commit(root, sha)


def has_commit(root: Path, sha: str) -> bool:
    """Is commit `sha` in the repository at `root`?"""
    return repo.git(root, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0


def listed(root: Path, url: str, pattern: str) -> dict[str, str]:
    """ref -> sha of the refs on `url` matching `pattern` (a `git ls-remote` pattern)."""
    out = repo.git(root, "ls-remote", url, pattern).stdout
    refs = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref:
            refs[ref] = sha
    return refs


def delete(root: Path, url: str, refs: Sequence[str]) -> None:
    """Remove `refs` from `url` and from this repository."""
    if refs:
        repo.git(root, "push", "-q", url, *(f":{ref}" for ref in refs))
    for ref in refs:
        repo.git(root, "update-ref", "-d", ref, check=False)


def integrate(worktree: Path, sha: str, base: str = "") -> str:
    """Put commit `sha` on the branch checked out in `worktree`: a fast-forward when it was
    made on the branch's head (it keeps its id), else the same change replayed on top (a
    sibling phase's commit came first; their write sets are disjoint). Returns the new head.
    `base`: the commit a fresh result `sha` was made on (never one taken before): a
    fast-forward is tried first, which saves asking git. The caller holds the worktree's
    lock."""
    if base and repo.git(worktree, "merge", "-q", "--ff-only", sha, check=False).returncode == 0:
        return sha  # made on the head (or on a commit the head is behind of)
    head = repo.git(worktree, "rev-parse", "HEAD").stdout.strip()
    if _already_on(worktree, sha, head):
        return head  # an earlier integration whose record was lost
    parent = repo.git(worktree, "rev-parse", f"{sha}^").stdout.strip()
    if parent == head:
        repo.git(worktree, "merge", "-q", "--ff-only", sha)
    else:
        done = repo.git(
            worktree, *repo.identity_args(worktree), "cherry-pick", "--allow-empty", sha,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            repo.git(worktree, "cherry-pick", "--abort", check=False)
            said = (done.stderr or done.stdout).strip().splitlines()
            raise MarathonError(
                f"the worker's commit {sha[:12]} does not apply on {head[:12]}: "
                f"{said[-1] if said else done.returncode}",
                exit_code=1,
            )
    return repo.git(worktree, "rev-parse", "HEAD").stdout.strip()


def _already_on(worktree: Path, sha: str, head: str) -> bool:
    """Is `sha`, or its replay (a commit naming the same run), in `head`'s history?"""
    if repo.git(worktree, "merge-base", "--is-ancestor", sha, head, check=False).returncode == 0:
        return True
    key = repo.git(
        worktree, "log", "-1", f"--format=%(trailers:key={repo.RUN_TRAILER},valueonly)", sha
    ).stdout.strip()
    return bool(key) and repo.commit_of_run(worktree, [key], head) is not None


def init_bare(path: Path) -> str:
    """A bare repository at `path` (made when missing), as a URL for push and fetch."""
    if not (path / "HEAD").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        repo.git(path.parent, "init", "-q", "--bare", str(path))
    return str(path)
