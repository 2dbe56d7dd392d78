"""engine.git.repo on real repositories in temporary folders."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine.agents import aider
from engine.git import repo


def init(root: Path) -> Path:
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    return root


def test_excluded_patterns_leave_git_status_and_are_added_once(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    info = root / ".git" / "info" / "exclude"
    info.write_text("# the user's own line\n*.log")  # no final newline
    (root / ".aider.tags.cache.v4").mkdir()
    (root / ".aider.tags.cache.v4" / "cache.db").write_text("x")
    (root / "src.py").write_text("print()\n")
    assert set(repo.dirty_files(root)) == {".aider.tags.cache.v4/cache.db", "src.py"}

    repo.exclude(root, (".aider*", "/.marathon"))
    repo.exclude(root, (".aider*",))  # asking again adds nothing

    assert info.read_text() == "# the user's own line\n*.log\n.aider*\n/.marathon\n"
    assert set(repo.dirty_files(root)) == {"src.py"}


def test_no_patterns_touch_nothing(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    before = (root / ".git" / "info" / "exclude").read_bytes()
    repo.exclude(root, ())
    assert (root / ".git" / "info" / "exclude").read_bytes() == before


def test_worktrees_adding_patterns_at_once_lose_nothing(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    info = root / ".git" / "info" / "exclude"
    info.write_text("# keep-this-line\n")
    patterns = [f"/scratch-{n}" for n in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda pattern: repo.exclude(root, (pattern,)), patterns))
    lines = info.read_text().splitlines()
    assert lines[0] == "# keep-this-line"
    assert sorted(lines[1:]) == sorted(patterns)
    assert not list(info.parent.glob("*.tmp"))


def test_aiders_scratch_patterns_hide_its_cache_and_nothing_of_the_users(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    for name in (
        ".aider.tags.cache.v4/cache.db",
        ".aider.chat.history.md",
        ".aiderignore",
        ".aider.conf.yml",
        "sub/.aider.tags.cache.v4/x",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    repo.exclude(root, aider.SCRATCH)
    assert set(repo.dirty_files(root)) == {
        ".aiderignore",
        ".aider.conf.yml",
        "sub/.aider.tags.cache.v4/x",
    }
