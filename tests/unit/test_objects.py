"""engine.git.objects reads commits from loose object files: every answer it gives must equal
git's, and where the files cannot say (packed, replaced, shallow) it must say None."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from engine.git import objects
from tests.conftest import git_stdout

git = git_stdout


def history(tmp_path: Path, seed: int) -> tuple[Path, list[str]]:
    """A repository of 30 commits on random branches, some of them merges."""
    rng = random.Random(seed)
    root = tmp_path / f"repo{seed}"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commits: list[str] = []
    for n in range(30):
        if commits and rng.random() < 0.3:
            git(root, "checkout", "-q", "--detach", rng.choice(commits))
        (root / f"f{n}.txt").write_text(f"{n}\n")
        git(root, "add", f"f{n}.txt")
        git(root, "commit", "-qm", f"commit {n}")
        if len(commits) > 3 and rng.random() < 0.25:
            other = rng.choice(commits)
            git(root, "merge", "-q", "--no-edit", "-m", f"merge {n}", other)
        commits.append(git(root, "rev-parse", "HEAD"))
    return root, commits


def is_ancestor(root: Path, ancestor: str, descendant: str) -> bool:
    done = subprocess.run(
        ["git", "merge-base", "--is-ancestor", ancestor, descendant], cwd=root, check=False
    )
    return done.returncode == 0


def test_commits_and_ancestry_read_from_files_equal_gits(tmp_path: Path) -> None:
    for seed in range(3):
        root, commits = history(tmp_path, seed)
        common = root / ".git"
        for sha in commits:
            found = objects.loose_commit(common, sha)
            assert found is not None
            assert found.tree == git(root, "rev-parse", f"{sha}^{{tree}}")
            assert list(found.parents) == git(root, "rev-parse", f"{sha}^@").split()
        pairs = random.Random(seed).sample([(d, a) for d in commits for a in commits], 100)
        for descendant, ancestor in pairs:
            truth = is_ancestor(root, ancestor, descendant)
            assert objects.reaches(common, descendant, ancestor, steps=64) == truth
            # A short walk says what it saw, or that it cannot tell; never something else.
            assert objects.reaches(common, descendant, ancestor, steps=3) in (None, truth)


def test_where_the_files_cannot_say_git_is_asked(tmp_path: Path) -> None:
    root, commits = history(tmp_path, 7)
    common = root / ".git"
    head, first = commits[-1], commits[0]
    assert objects.loose_commit(common, "not a sha") is None
    assert objects.loose_commit(common, "0" * 40) is None  # no such object
    blob = git(root, "rev-parse", f"{head}:f0.txt")
    assert objects.loose_commit(common, blob) is None  # not a commit
    # A replaced commit: git reads the replacement, the file holds the original.
    git(root, "replace", "--graft", head, first)
    assert objects.loose_commit(common, head) is None
    assert objects.reaches(common, head, first) is None
    git(root, "pack-refs", "--all")  # the replace ref only in packed-refs now
    assert objects.loose_commit(common, head) is None
    git(root, "replace", "-d", head)
    assert objects.loose_commit(common, head) is not None
    (common / "shallow").write_text(first + "\n")
    assert objects.loose_commit(common, head) is None
    (common / "shallow").unlink()
    git(root, "gc", "-q", "--prune=now")  # every object packed
    assert objects.loose_commit(common, head) is None
    assert objects.reaches(common, head, first) is None
    assert objects.reaches(common, head, head) is True  # itself: no file needed
