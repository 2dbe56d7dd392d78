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


def commit_all(root: Path, message: str, **trailers: str) -> None:
    (root / "f.txt").write_text(message)
    repo.commit_paths(root, root / ".marathon", ["f.txt"], message, **trailers)


def test_a_commit_names_its_run_and_is_found_by_it(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    commit_all(root, "PROJ-1 code: x", task="issue:PROJ-1:code", run="abc-7")
    commit_all(root, "PROJ-1 test: x", task="issue:PROJ-1:test", run="abc-8")
    body = subprocess.run(
        ["git", "log", "-1", "--skip=1", "--format=%B"], cwd=root, capture_output=True, text=True
    ).stdout
    assert "Marathon-Task: issue:PROJ-1:code\nMarathon-Run: abc-7" in body
    found = repo.commit_of_run(root, ["abc-7", "zzz-1"])
    assert found is not None and found[0] == "abc-7"
    assert repo.commit_of_run(root, ["abc-70"]) is None  # whole keys, never prefixes
    assert repo.commit_of_run(root, []) is None


def test_stale_lock_files_are_found_only_while_no_git_runs_there(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    commit_all(root, "first")
    (root / ".git" / "index.lock").write_text("")
    (root / ".git" / "refs" / "heads" / "main.lock").write_text("")
    found = {p.relative_to(root).as_posix() for p in repo.stale_locks(root)}
    assert found == {".git/index.lock", ".git/refs/heads/main.lock"}
    # A git of the user's, working in the repository: nothing is stale while it runs.
    waiting = subprocess.Popen(["git", "hash-object", "--stdin"], cwd=root, stdin=subprocess.PIPE)
    try:
        assert repo.stale_locks(root) == []
    finally:
        waiting.communicate(b"x")


def test_discard_puts_back_what_head_has(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    commit_all(root, "kept\n")
    (root / "f.txt").write_text("half written")
    (root / "new.txt").write_text("left by a killed agent")
    subprocess.run(["git", "add", "new.txt"], cwd=root, check=True)
    repo.discard(root, root / ".marathon", ["f.txt", "new.txt"])
    assert (root / "f.txt").read_text() == "kept\n"
    assert not (root / "new.txt").exists()
    assert set(repo.dirty_files(root)) == {".marathon/git.lock"}  # the lock, not the files


def loose_objects(root: Path) -> int:
    out = subprocess.run(
        ["git", "count-objects", "-v"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    return int(dict(line.split(": ") for line in out.splitlines())["count"])


def test_the_engines_commits_leave_maintenance_to_one_call(tmp_path: Path) -> None:
    """gc.auto=1: any git command that auto-maintains would pack at once. The engine's commit
    does not (each would start a maintenance child); `maintain` does, once."""
    root = init(tmp_path / "repo")
    subprocess.run(["git", "config", "gc.auto", "1"], cwd=root, check=True)
    subprocess.run(["git", "config", "gc.autoDetach", "false"], cwd=root, check=True)
    # enough objects that git's estimate (one of 256 folders, times 256) is above 1
    (root / "many").mkdir()
    for n in range(3000):
        (root / "many" / f"{n}.txt").write_text(f"{n}\n")
    subprocess.run(["git", "add", "many"], cwd=root, check=True)
    repo.commit_paths(root, tmp_path / "state", ["many"], "many files")
    assert loose_objects(root) > 3000

    # git's default: a gc started by a command goes to the background; `maintain`'s does not
    subprocess.run(["git", "config", "gc.autoDetach", "true"], cwd=root, check=True)
    repo.maintain(root)

    assert loose_objects(root) == 0
