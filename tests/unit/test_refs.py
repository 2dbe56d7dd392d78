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
