"""One git worktree per issue, on its own branch, merged back at EXIT.

An issue's phases run in `.marathon/worktrees/<ID>` on branch `marathon/<ID>`, created from the
target branch when the issue starts (after the issues it depends on have merged), reused after
a crash, and removed when the issue has merged. Merging happens under the repository lock; a
conflict is aborted and reported, never recorded as success.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.errors import MarathonError
from engine.git.repo import git, identity_args, repo_lock

BRANCH_PREFIX = "marathon/"


@dataclass(frozen=True)
class MergeResult:
    merged: bool
    conflicts: tuple[str, ...] = ()
    message: str = ""


def worktree_path(state_dir: Path, issue_id: str) -> Path:
    return state_dir / "worktrees" / issue_id


def branch_name(issue_id: str) -> str:
    return f"{BRANCH_PREFIX}{issue_id}"


def current_branch(root: Path) -> str:
    result = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if result.returncode != 0:
        raise MarathonError(
            f"{root} is on a detached HEAD; check out the branch issues should merge into "
            "(or set git.target in marathon.yaml)"
        )
    return result.stdout.strip()


def ensure_worktree(root: Path, state_dir: Path, issue_id: str, target: str) -> Path:
    """The issue's worktree, created from `target` if it does not exist yet."""
    path = worktree_path(state_dir, issue_id)
    with repo_lock(state_dir):
        if (path / ".git").exists():
            _abort_unfinished_merge(path)
            return path
        branch = branch_name(issue_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        made = git(root, "worktree", "add", "-q", "-b", branch, str(path), target, check=False)
        if made.returncode != 0:
            # The branch is left by an interrupted run (it keeps its finished phases'
            # commits), or git still remembers a worktree folder removed by hand.
            git(root, "worktree", "prune")
            git(root, "worktree", "add", "-q", str(path), branch)
        # The worktree shares the workspace's state (plans, logs, prompts) by a link.
        link = path / ".marathon"
        if not link.exists():
            os.symlink(state_dir.resolve(), link)
    return path


def merge_back(
    root: Path,
    state_dir: Path,
    issue_id: str,
    target: str,
    strategy: str,
    *,
    target_in_root: bool,
) -> MergeResult:
    """Bring `marathon/<ID>` into `target`: rebase (or merge) in the worktree, then fast-forward.

    When `target` is checked out in the main worktree (`target_in_root`) it is fast-forwarded
    there, which refuses (and reports) rather than overwrite local changes.
    """
    path = worktree_path(state_dir, issue_id)
    branch = branch_name(issue_id)
    with repo_lock(state_dir):
        _abort_unfinished_merge(path)
        dirty = git(
            path, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all"
        ).stdout.splitlines()
        if dirty:
            # Removing the worktree after the merge would lose them.
            files = ", ".join(line[3:] for line in dirty[:10])
            return MergeResult(
                False,
                message=f"uncommitted changes in {path}: {files}; commit "
                f"them on {branch} or remove them, then run again",
            )
        who = identity_args(root)
        if strategy == "rebase":
            step = git(path, *who, "rebase", target, check=False)
        else:
            step = git(
                path,
                *who,
                "merge",
                "--no-edit",
                "-m",
                f"Merge {target} into {branch}",
                target,
                check=False,
            )
        if step.returncode != 0:
            conflicts = _conflicted(path)
            _abort_unfinished_merge(path)
            if conflicts:
                message = f"{strategy} onto {target} conflicts in {', '.join(conflicts)}"
            else:  # not a conflict: say what git said
                said = (step.stderr or step.stdout).strip().splitlines()
                message = (
                    f"{strategy} onto {target} failed: {said[-1] if said else step.returncode}"
                )
            return MergeResult(False, conflicts=conflicts, message=message)
        if target_in_root:
            ff = git(root, "merge", "--ff-only", "-q", branch, check=False)
            if ff.returncode != 0:
                reason = (ff.stderr or ff.stdout).strip().splitlines()
                return MergeResult(
                    False,
                    message=f"cannot fast-forward {target} in {root}: "
                    f"{reason[-1] if reason else 'refused'}",
                )
        else:
            sha = git(path, "rev-parse", "HEAD").stdout.strip()
            old = git(root, "rev-parse", f"refs/heads/{target}").stdout.strip()
            git(root, "update-ref", f"refs/heads/{target}", sha, old)
        return MergeResult(True)


def remove_worktree(root: Path, state_dir: Path, issue_id: str) -> bool:
    """Remove the issue's worktree and branch; False when there was nothing to remove."""
    path = worktree_path(state_dir, issue_id)
    branch = branch_name(issue_id)
    removed = False
    with repo_lock(state_dir):
        if path.exists():
            if git(root, "worktree", "remove", "--force", str(path), check=False).returncode:
                git(root, "worktree", "prune")
            removed = True
        else:
            git(root, "worktree", "prune")  # a folder removed by hand: forget it
        if git(root, "branch", "-q", "-D", branch, check=False).returncode == 0:
            removed = True
    return removed


def checked_out_in(root: Path) -> str:
    result = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def _conflicted(path: Path) -> tuple[str, ...]:
    out = git(path, "diff", "--name-only", "--diff-filter=U", check=False).stdout
    return tuple(sorted(set(out.split())))


def _abort_unfinished_merge(path: Path) -> None:
    """A rebase or merge interrupted by a crash is undone before anything else happens."""
    git_dir = _git_dir(path)
    if (git_dir / "rebase-merge").exists() or (git_dir / "rebase-apply").exists():
        git(path, "rebase", "--abort", check=False)
    if (git_dir / "MERGE_HEAD").exists():
        git(path, "merge", "--abort", check=False)


def _git_dir(worktree: Path) -> Path:
    """A linked worktree's `.git` is a file naming its git folder; read it (every phase asks,
    and a `git rev-parse` each time costs a process)."""
    dot_git = worktree / ".git"
    if dot_git.is_file():
        text = dot_git.read_text().strip()
        if text.startswith("gitdir:"):
            found = Path(text[len("gitdir:") :].strip())
            return found if found.is_absolute() else worktree / found
    return dot_git
