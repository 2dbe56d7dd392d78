"""engine.git.repo on real repositories in temporary folders."""

from __future__ import annotations

import subprocess
from pathlib import Path

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
    repo.exclude.cache_clear()  # a second process asking again adds nothing
    repo.exclude(root, (".aider*",))

    assert info.read_text() == "# the user's own line\n*.log\n.aider*\n/.marathon\n"
    assert set(repo.dirty_files(root)) == {"src.py"}


def test_no_patterns_touch_nothing(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    before = (root / ".git" / "info" / "exclude").read_bytes()
    repo.exclude(root, ())
    assert (root / ".git" / "info" / "exclude").read_bytes() == before
