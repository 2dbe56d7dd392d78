"""engine.git.refs on a real repository: an agent's moves are put back, the engine's are not."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.git import refs

AGENT = "agent-PROJ-1-code@marathon.invalid"


def git(root: Path, *args: str, email: str = "user@localhost") -> str:
    return subprocess.run(
        ["git", "-c", "user.name=u", "-c", f"user.email={email}", *args],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "commit", "-q", "--allow-empty", "-m", "first")
    return root


def commit_on_main(root: Path, message: str) -> str:
    sha = git(root, "commit-tree", "main^{tree}", "-p", "main", "-m", message)
    return sha


def test_merges_made_while_a_phase_ran_are_not_taken_for_the_agents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two merges while an agent worked; the look after it saw main between them (the second
    merge landed while it read the reflog): neither is the agent's, nothing is put back."""
    root = repo(tmp_path)
    before = refs.snapshot(root)
    first = commit_on_main(root, "merge 1")
    refs.engine_moved(root, "refs/heads/main", first)
    git(root, "update-ref", "refs/heads/main", first)
    seen = refs.snapshot(root)
    second = commit_on_main(root, "merge 2")
    refs.engine_moved(root, "refs/heads/main", second)
    git(root, "update-ref", "refs/heads/main", second)
    monkeypatch.setattr(refs, "snapshot", lambda root: seen)
    assert refs.undo_agent_moves(root, before, AGENT) == []
    assert git(root, "rev-parse", "main") == second  # nothing put back


def test_an_agent_moving_main_is_put_back(tmp_path: Path) -> None:
    root = repo(tmp_path)
    before = refs.snapshot(root)
    evil = commit_on_main(root, "evil")
    git(root, "update-ref", "refs/heads/main", evil, email=AGENT)
    assert refs.undo_agent_moves(root, before, AGENT) == ["refs/heads/main"]
    assert git(root, "rev-parse", "main") == before["refs/heads/main"]


def test_main_put_back_to_an_older_merge_is_the_agents(tmp_path: Path) -> None:
    root = repo(tmp_path)
    old = git(root, "rev-parse", "main")
    refs.engine_moved(root, "refs/heads/main", old)
    merged = commit_on_main(root, "merge")
    refs.engine_moved(root, "refs/heads/main", merged)
    git(root, "update-ref", "refs/heads/main", merged)
    before = refs.snapshot(root)
    git(root, "update-ref", "refs/heads/main", old, email=AGENT)  # back to an engine value
    assert refs.undo_agent_moves(root, before, AGENT) == ["refs/heads/main"]
    assert git(root, "rev-parse", "main") == merged


def refs_as_git_lists_them(root: Path) -> dict[str, str]:
    out = git(root, "for-each-ref", "--format=%(refname) %(objectname)")
    listed = dict(line.split(" ") for line in out.splitlines())
    return {k: v for k, v in listed.items() if not k.startswith(refs.ENGINE_NAMESPACE)}


def test_the_snapshot_read_from_files_is_what_git_lists(tmp_path: Path) -> None:
    root = repo(tmp_path)
    first = git(root, "rev-parse", "HEAD")
    git(root, "branch", "feature")
    git(root, "tag", "light")
    git(root, "tag", "-a", "annotated", "-m", "a tag object: its peeled line is not a ref")
    git(root, "update-ref", "refs/remotes/origin/main", first)
    git(root, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    git(root, "branch", "marathon/PROJ-1")  # the engine's own: never in the snapshot
    git(root, "pack-refs", "--all")
    # loose refs over packed ones, and some only loose
    second = commit_on_main(root, "second")
    git(root, "update-ref", "refs/heads/main", second)
    git(root, "update-ref", "refs/heads/deep/nested/name", second)
    git(root, "update-ref", "refs/bisect/bad", first)
    (root / ".git" / "refs" / "heads" / "feature.lock").write_text("being written\n")

    read = refs._from_files(root)

    assert read is not None
    assert {k: v for k, v in read.items() if not k.startswith("refs/heads/marathon/")} == (
        refs_as_git_lists_them(root)
    )
    assert refs.snapshot(root) == refs_as_git_lists_them(root)
    assert refs.snapshot(root)["refs/heads/main"] == second
    assert "refs/heads/marathon/PROJ-1" not in refs.snapshot(root)


@pytest.mark.parametrize("odd", ["not a ref at all\n", "ref: refs/heads/gone\n"])
def test_files_git_would_have_to_interpret_are_left_to_git(tmp_path: Path, odd: str) -> None:
    root = repo(tmp_path)
    (root / ".git" / "refs" / "heads" / "odd").write_text(odd)

    assert refs._from_files(root) is None
    # git's own answer (it skips the broken ref, with a warning on its stderr)
    assert refs.snapshot(root) == refs_as_git_lists_them(root)


def test_an_agent_moving_a_packed_ref_is_seen_and_put_back(tmp_path: Path) -> None:
    root = repo(tmp_path)
    git(root, "pack-refs", "--all")
    before = refs.snapshot(root)
    moved = commit_on_main(root, "by the agent")
    git(root, "update-ref", "refs/heads/main", moved, email=AGENT)

    assert refs.snapshot(root) != before
    assert refs.undo_agent_moves(root, before, AGENT) == ["refs/heads/main"]
    assert refs.snapshot(root) == before
