"""engine.git.worktrees rebases a branch without `git rebase` (merge-tree, commit-tree, one
checkout) when every commit applies cleanly: the commits it makes must be the ones `git
rebase` makes, a conflict must end exactly as `git rebase`'s does, and a kill mid-checkout
must leave nothing behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.git import worktrees

LINES = [f"line {n}\n" for n in range(40)]


def git(root: Path, *args: str, email: str = "t@localhost") -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", f"user.email={email}", *args],
        cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def commit(where: Path, message: str, files: dict[str, str | None], email: str) -> None:
    for name, text in files.items():
        if text is None:
            git(where, "rm", "-q", name)
            continue
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_text(text)
        git(where, "add", name)
    git(where, "commit", "-q", "-m", message, email=email)


def two_branches(tmp_path: Path, branch: list[dict[str, str | None]]) -> tuple[Path, Path, Path]:
    """A repository whose main moved (a far-away line of shared.txt, a new file) since two
    identical branches, each in its own worktree, left it with the commits in `branch`."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, "first", {"shared.txt": "".join(LINES), "gone.txt": "x\n"}, "t@localhost")
    ours, theirs = tmp_path / "replayed", tmp_path / "rebased"
    git(root, "worktree", "add", "-q", "-b", "marathon/PROJ-1", str(ours))
    for n, files in enumerate(branch):
        trailer = f"PROJ-1 phase {n}: the title\n\nMarathon-Run: s-{n}"
        commit(ours, trailer, files, f"agent{n}@localhost")
    git(root, "branch", "copy", "marathon/PROJ-1")
    git(root, "worktree", "add", "-q", str(theirs), "copy")
    moved = LINES.copy()
    moved[35] = "line 35, changed on main\n"
    commit(root, "PROJ-9 code", {"shared.txt": "".join(moved), "main.txt": "m\n"}, "u@localhost")
    return root, ours, theirs


def rewritten(where: Path, onto: str) -> list[tuple[str, ...]]:
    """(tree, message, author name, email, date) of every commit on top of `onto`."""
    out = git(where, "log", "--reverse", "--format=%T%x00%B%x00%an%x00%ae%x00%ad%x1e",
              f"{onto}..HEAD")  # fmt: skip
    return [tuple(entry.strip("\n").split("\0")) for entry in out.split("\x1e") if entry.strip()]


BRANCH = [
    {"src/a.py": "a = 1\n", "shared.txt": "line 0, changed by PROJ-1\n" + "".join(LINES[1:])},
    {"src/a.py": "a = 2\n", "tests/test_a.py": "def test(): pass\n", "gone.txt": None},
    # gives back part of the first commit: the replayed tree must not keep it
    {"shared.txt": "".join(LINES), "src/b.py": "b = 1\n"},
    # what main already has: nothing left of it on main, dropped as git rebase drops it
    {"main.txt": "m\n"},
]


def test_a_replay_makes_the_commits_git_rebase_makes(tmp_path: Path) -> None:
    root, ours, theirs = two_branches(tmp_path, BRANCH)
    onto = git(root, "rev-parse", "main")
    before = git(ours, "rev-parse", "HEAD")

    assert worktrees._replay(ours, "marathon/PROJ-1", onto, ())
    git(theirs, "rebase", "-q", "main")

    assert git(ours, "symbolic-ref", "HEAD") == "refs/heads/marathon/PROJ-1"
    assert git(ours, "rev-parse", "HEAD") != before
    assert rewritten(ours, onto) == rewritten(theirs, onto)
    assert len(rewritten(ours, onto)) == 3  # the fourth added nothing
    assert git(ours, "status", "--porcelain", "--untracked-files=all") == ""
    assert (ours / "main.txt").read_text() == "m\n" and not (ours / "gone.txt").exists()
    assert (ours / "shared.txt").read_text() == (theirs / "shared.txt").read_text()


def test_a_branch_already_on_the_target_is_left_as_it_is(tmp_path: Path) -> None:
    root, ours, _ = two_branches(tmp_path, BRANCH[:1])
    git(ours, "rebase", "-q", "main")
    head = git(ours, "rev-parse", "HEAD")
    assert worktrees._replay(ours, "marathon/PROJ-1", git(root, "rev-parse", "main"), ())
    assert git(ours, "rev-parse", "HEAD") == head


def test_a_conflict_is_left_to_git_rebase_and_ends_as_it_does(tmp_path: Path) -> None:
    clash = LINES.copy()
    clash[35] = "line 35, changed by PROJ-1\n"
    root, ours, _ = two_branches(tmp_path, [{"shared.txt": "".join(clash)}])
    before = git(ours, "rev-parse", "HEAD")
    state = root / ".marathon"
    state.mkdir()
    (root / ".git" / "info" / "exclude").write_text("/.marathon\n")

    assert not worktrees._replay(ours, "marathon/PROJ-1", git(root, "rev-parse", "main"), ())
    assert git(ours, "rev-parse", "HEAD") == before  # nothing moved, no object in the way

    # the whole step, as a gate runs it: git rebase says what conflicts, and is aborted
    wt = worktrees.worktree_path(state, "PROJ-1")
    wt.parent.mkdir()
    git(root, "worktree", "move", str(ours), str(wt))
    (wt / ".marathon").symlink_to(state)
    (worktrees.git_dir(wt) / worktrees.READY_MARKER).write_text("marathon/PROJ-1\n")
    result = worktrees._update_branch(root, state, "PROJ-1", "main", "rebase")
    assert not result.merged and result.conflicts == ("shared.txt",)
    assert git(wt, "rev-parse", "HEAD") == before
    assert git(wt, "status", "--porcelain", "--untracked-files=all") == ""


@pytest.mark.parametrize("written", [0, 1, 2])
def test_a_replay_killed_mid_checkout_is_put_back(tmp_path: Path, written: int) -> None:
    """The state a SIGKILL leaves while the checkout writes the new files: the marker, HEAD
    still at the old commit, some of the new commit's files written (`written` of them)."""
    root, ours, _ = two_branches(tmp_path, BRANCH[:2])
    before = git(ours, "rev-parse", "HEAD")
    onto = git(root, "rev-parse", "main")
    assert worktrees._replay(ours, "marathon/PROJ-1", onto, ())
    new = git(ours, "rev-parse", "HEAD")
    git(ours, "checkout", "-q", "-B", "marathon/PROJ-1", before)
    (worktrees.git_dir(ours) / worktrees.REPLAY_MARKER).write_text(new + "\n")
    for name in ["main.txt", "shared.txt"][:written]:
        (ours / name).write_text(git(ours, "show", f"{new}:{name}") + "\n")

    assert worktrees._abort_unfinished_merge(ours)

    assert git(ours, "rev-parse", "HEAD") == before
    assert git(ours, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (worktrees.git_dir(ours) / worktrees.REPLAY_MARKER).exists()
    # and the replay, run again, gets where it was going
    assert worktrees._replay(ours, "marathon/PROJ-1", onto, ())
    assert git(ours, "rev-parse", "HEAD^{tree}") == git(ours, "rev-parse", f"{new}^{{tree}}")


def test_a_message_holding_the_log_separator_is_left_to_git_rebase(tmp_path: Path) -> None:
    root, ours, _ = two_branches(tmp_path, [])
    commit(ours, "odd \x1e message", {"src/odd.py": "odd = 1\n"}, "agent@localhost")
    before = git(ours, "rev-parse", "HEAD")
    assert not worktrees._replay(ours, "marathon/PROJ-1", git(root, "rev-parse", "main"), ())
    assert git(ours, "rev-parse", "HEAD") == before


def test_a_merge_landing_mid_replay_is_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate's rebase is given the target by name. Another issue's merge lands while the
    replay runs (here: just before its first commit is made). The replay stays on the commit
    the target had when it began: the branch holds that target's files and its own, and the
    merge that follows sees the target moved (instead of fast-forwarding it to a tree that
    lacks the merge that landed)."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, "first", {"a.txt": "a\n"}, "t@localhost")
    state = root / ".marathon"
    state.mkdir()
    (root / ".git" / "info" / "exclude").write_text("/.marathon\n")
    path = worktrees.ensure_worktree(root, state, "PROJ-1", "main")
    commit(path, "PROJ-1 code", {"mine.txt": "1\n"}, "agent@localhost")
    commit(root, "PROJ-2 merged", {"two.txt": "2\n"}, "t@localhost")
    before = git(root, "rev-parse", "main")
    plain = worktrees.git

    def merge_lands(where: Path, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
        if "commit-tree" in args and not (root / "three.txt").exists():
            commit(root, "PROJ-3 merged", {"three.txt": "3\n"}, "t@localhost")
        return plain(where, *args, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(worktrees, "git", merge_lands)
    assert worktrees.update_branch(root, state, "PROJ-1", "main", "rebase").merged
    monkeypatch.setattr(worktrees, "git", plain)
    assert git(root, "rev-parse", "marathon/PROJ-1^") == before
    assert git(root, "ls-tree", "--name-only", "marathon/PROJ-1").split() == [
        "a.txt", "mine.txt", "two.txt",
    ]  # fmt: skip
    merged = worktrees.merge_back(
        root, state, "PROJ-1", "main", "rebase", target_in_root=True, rebase=False
    )
    assert merged.moved and not merged.merged
    assert "three.txt" in git(root, "ls-tree", "--name-only", "main").split()
