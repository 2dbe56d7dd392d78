"""The pre-push hook verifies exactly what is pushed: real git, a real bare remote, real pushes.

Every test installs the hook the way `doit hooks install` does and pushes with `git push`;
the checks are small Python programs (and real ruff for the headline cases) that record each
run in a file outside the repository, so "it ran" and "it was served from the cache" are
facts, not log lines.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.commands.hooks import verify_command
from engine.git.hooks import install_hook
from engine.workspace import scaffold
from tests.conftest import doit_env, run_doit, start_doit, wait_for_run

CLEAN = "def answer() -> int:\n    return 42\n"
BROKEN = "import os\n\n\ndef answer() -> int:\n    return 42\n"  # ruff F401

# A stand-in check: appends its name and the file it ran in to RUNS, then fails when any
# src file contains FAIL (or rewrites src/app.py when asked to).
CHECKER = """\
import json, os, pathlib, sys
name, runs = sys.argv[1], sys.argv[2]
with open(runs, "a") as out:
    out.write(json.dumps([name, os.getcwd()]) + "\\n")
texts = {p.as_posix(): p.read_text() for p in pathlib.Path("src").rglob("*.py")}
if "--rewrite" in sys.argv and not texts["src/app.py"].startswith("# rewritten"):
    pathlib.Path("src/app.py").write_text("# rewritten\\n" + texts["src/app.py"])
if "--import" in sys.argv:
    sys.path.insert(0, "src")
    sys.dont_write_bytecode = False  # whatever PYTHONDONTWRITEBYTECODE says
    import app  # noqa: F401 - writes src/__pycache__, which git ignores
if "--local" in sys.argv and pathlib.Path("config/local.txt").exists():
    sys.exit("config/local.txt exists: " + pathlib.Path("config/local.txt").read_text())
bad = [path for path, text in texts.items() if "FAIL" in text]
if bad:
    sys.exit("FAIL in " + ", ".join(bad))
print(name, "ok")
"""


def pipeline(checks: dict[str, dict[str, object]]) -> str:
    return json.dumps(
        {
            "key_prefix": "HOOK",
            "tracker": {"kind": "local"},
            "agents": {},
            "checks": checks,
            "phases": {"verify": {"checks": "all"}},
        }
    )


def stand_in(name: str, runs: Path, *flags: str, reads: tuple[str, ...] = ("src/**",)) -> dict:
    return {"command": [sys.executable, "checker.py", name, str(runs), *flags], "reads": reads}


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for key, value in doit_env().items():
        if key.startswith("GIT_"):
            monkeypatch.setenv(key, value)
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "MARATHON_SKIP"):
        monkeypatch.delenv(name, raising=False)


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stdout}{done.stderr}")
    return done


def push(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "push", "origin", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # the hook's output and git's, in the order a terminal shows
        text=True,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def commit(root: Path, files: dict[str, str], message: str = "change") -> str:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "add", *files)
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").stdout.strip()


def remote_sha(remote: Path, ref: str = "refs/heads/main") -> str:
    return git(remote, "rev-parse", "--verify", "-q", ref, check=False).stdout.strip()


def runs_of(runs: Path) -> list[str]:
    if not runs.exists():
        return []
    return [json.loads(line)[0] for line in runs.read_text().splitlines()]


def make_workspace(tmp_path: Path, checks: dict[str, dict[str, object]]) -> tuple[Path, Path]:
    root = scaffold(tmp_path / "ws", pipeline_text=pipeline(checks))
    commit(root, {"checker.py": CHECKER, "src/app.py": CLEAN}, "app")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(root, "remote", "add", "origin", str(remote))
    install_hook(root, command=verify_command())
    return root, remote


def ruff_checks() -> dict[str, dict[str, object]]:
    return {"lint": {"command": [sys.executable, "-m", "ruff", "check", "--no-cache", "src"],
                     "reads": ["src/**"]}}  # fmt: skip


def test_broken_commit_fixed_only_in_the_working_tree_is_refused(tmp_path: Path) -> None:
    root, remote = make_workspace(tmp_path, ruff_checks())
    assert push(root, "main").returncode == 0
    before = remote_sha(remote)
    commit(root, {"src/app.py": BROKEN}, "broken")
    (root / "src" / "app.py").write_text(CLEAN)  # fixed, never committed
    status = git(root, "status", "--porcelain").stdout

    pushed = push(root, "main")
    assert pushed.returncode != 0, pushed.stdout
    assert "F401" in pushed.stdout and "lint FAILED" in pushed.stdout
    assert pushed.stdout.strip().splitlines()[-2].startswith("pre-push push refused")
    assert remote_sha(remote) == before
    # The uncommitted fix is exactly where it was: never stashed, never touched.
    assert (root / "src" / "app.py").read_text() == CLEAN
    assert git(root, "status", "--porcelain").stdout == status
    assert git(root, "stash", "list").stdout == ""


def test_clean_commit_with_a_dirty_working_tree_is_allowed(tmp_path: Path) -> None:
    root, remote = make_workspace(tmp_path, ruff_checks())
    head = commit(root, {"src/more.py": CLEAN}, "more")
    (root / "src" / "app.py").write_text(BROKEN)  # a lint error nobody committed
    (root / "src" / "scratch.py").write_text(BROKEN)  # and an untracked one

    pushed = push(root, "main")
    assert pushed.returncode == 0, pushed.stdout
    assert "pre-push ok" in pushed.stdout and "passed: lint" in pushed.stdout
    assert remote_sha(remote) == head
    assert (root / "src" / "app.py").read_text() == BROKEN
    assert (root / "src" / "scratch.py").read_text() == BROKEN


def test_refused_pushes_never_lock_out_the_fixed_one(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    root, remote = make_workspace(tmp_path, {"lint": stand_in("lint", runs)})
    commit(root, {"src/app.py": "FAIL = 1\n"}, "broken")
    for attempt in range(4):  # more than the breaker's default limit of 3
        pushed = push(root, "main")
        assert pushed.returncode != 0, attempt
        assert "FAIL in src/app.py" in pushed.stdout
        assert "same error" not in pushed.stdout  # the breaker's words never appear
    assert runs_of(runs) == ["lint"] * 4  # judged by running the check, every time
    fixed = commit(root, {"src/app.py": CLEAN}, "fixed")
    pushed = push(root, "main")
    assert pushed.returncode == 0, pushed.stdout
    assert remote_sha(remote) == fixed


def test_a_check_that_rewrites_files_fails_naming_them(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    root, remote = make_workspace(tmp_path, {"fix": stand_in("fix", runs, "--rewrite")})
    commit(root, {"src/app.py": CLEAN.replace("42", "43")}, "change")
    pushed = push(root, "main")
    assert pushed.returncode != 0
    assert "check fix rewrote 1 file(s)" in pushed.stdout and "src/app.py" in pushed.stdout
    assert "rewrote files: fix" in pushed.stdout.splitlines()[-2]
    assert remote_sha(remote) == ""
    # Nothing was recorded as passed: the next push runs it again, and fails again.
    assert push(root, "main").returncode != 0
    assert runs_of(runs) == ["fix", "fix"]
    assert (root / "src" / "app.py").read_text() == CLEAN.replace("42", "43")  # untouched


def test_in_the_workspace_a_rewriting_check_is_never_recorded_as_passed(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    root, _ = make_workspace(tmp_path, {"fix": stand_in("fix", runs, "--rewrite")})
    assert run_doit(root, "verify").returncode == 0  # rewrites src/app.py, like ruff --fix
    log = (root / ".marathon" / "logs" / "verify" / "fix.log").read_text()
    assert "changed while it ran; not recorded as passed" in log
    git(root, "checkout", "--", "src/app.py")  # back to the contents it rewrote
    assert run_doit(root, "verify").returncode == 0
    assert runs_of(runs) == ["fix", "fix"]  # those contents never counted as passed
    assert run_doit(root, "verify").returncode == 0  # its own output is stable: recorded now
    assert run_doit(root, "verify").returncode == 0
    assert runs_of(runs) == ["fix", "fix", "fix"]


def test_hooks_path_install_verifies_the_push(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    root, remote = make_workspace(tmp_path, {"lint": stand_in("lint", runs)})
    git(root, "config", "core.hooksPath", ".githooks")
    assert install_hook(root, command=verify_command()) == root / ".githooks" / "pre-push"
    commit(root, {"src/app.py": "FAIL = 12\n"}, "bad")
    pushed = push(root, "main")
    assert pushed.returncode != 0 and "FAIL in src/app.py" in pushed.stdout
    assert remote_sha(remote) == ""


def test_a_declared_rewriting_check_runs_alone_and_fails_naming_the_files(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    fmt = {**stand_in("fmt", runs, "--rewrite"), "rewrites": True}
    root, remote = make_workspace(tmp_path, {"fmt": fmt})
    pushed = push(root, "main")
    assert pushed.returncode != 0
    assert "check fmt rewrote 1 file(s)" in pushed.stdout and "src/app.py" in pushed.stdout
    assert remote_sha(remote) == ""


def test_a_push_while_a_marathon_runs_needs_no_run_lock(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    checks = {
        "lint": stand_in("lint", runs),
        "slow": {
            "command": [sys.executable, "-c", "import time; time.sleep(30)"],
            "reads": ["slow/**"],
            "timeout": 60,
        },
    }
    root, remote = make_workspace(tmp_path, checks)
    busy = start_doit(root, "-n", "2", "verify:slow")  # holds .marathon/run.lock
    try:
        wait_for_run(root, "verify:slow", "running")
        head = commit(root, {"src/app.py": CLEAN.replace("42", "44")}, "during")
        pushed = push(root, "main", env={"MARATHON_SKIP": "slow"})
        assert pushed.returncode == 0, pushed.stdout
        assert remote_sha(remote) == head
        assert busy.poll() is None  # the marathon is still running, undisturbed
    finally:
        busy.kill()
        busy.wait()


def test_pycache_written_by_a_check_is_not_an_input(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    root, _ = make_workspace(tmp_path, {"unit": stand_in("unit", runs, "--import")})
    # In the workspace (doit verify): the check writes src/__pycache__, and is up to date after.
    assert run_doit(root, "verify").returncode == 0
    assert list((root / "src" / "__pycache__").glob("app.*.pyc"))
    assert run_doit(root, "verify").returncode == 0
    assert runs_of(runs) == ["unit"]
    # The push of that same content is served by the workspace's pass, from the commit's tree
    # alone: no worktree was made, nothing was checked out.
    pushed = push(root, "main")
    assert pushed.returncode == 0 and "cached: unit" in pushed.stdout
    assert runs_of(runs) == ["unit"]
    assert not (tmp_path / "cache" / "marathon-engine").exists()


def test_ignored_files_are_never_phase_inputs_unless_named(tmp_path: Path) -> None:
    from engine import globs

    root, _ = make_workspace(tmp_path, {})
    (root / "src" / "__pycache__").mkdir()
    (root / "src" / "__pycache__" / "app.cpython-312.pyc").write_bytes(b"bytecode")
    (root / "src" / "app.pyc").write_bytes(b"bytecode")
    (root / ".marathon" / "plans").mkdir(parents=True)
    (root / ".marathon" / "plans" / "HOOK-1.md").write_text("plan")  # git ignores .marathon/
    found = globs.expand(root, ["src/**", ".marathon/plans/*.md"])
    assert found == [".marathon/plans/HOOK-1.md", "src/app.py"]


def test_several_refs_in_one_push(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    root, remote = make_workspace(tmp_path, {"lint": stand_in("lint", runs)})
    git(root, "branch", "same")  # the same commit under two names: verified once
    git(root, "switch", "-q", "-c", "bad")
    bad = commit(root, {"src/app.py": "FAIL = 2\n"}, "bad")
    git(root, "switch", "-q", "main")

    pushed = push(root, "main", "same", "bad")
    assert pushed.returncode != 0
    assert f"lint@{bad[:10]} FAILED" in pushed.stdout
    assert "2 commits" in pushed.stdout.splitlines()[-2]
    assert remote_sha(remote) == "" and remote_sha(remote, "refs/heads/bad") == ""
    assert runs_of(runs) == ["lint", "lint"]  # main and same share a commit: one run

    pushed = push(root, "main", "same")
    assert pushed.returncode == 0, pushed.stdout
    assert "cached: lint" in pushed.stdout  # main passed in the refused push already
    assert runs_of(runs) == ["lint", "lint"]


def test_the_same_failing_files_on_two_commits_run_once(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    root, _ = make_workspace(tmp_path, {"lint": stand_in("lint", runs)})
    first = commit(root, {"src/app.py": "FAIL = 11\n"}, "bad")
    git(root, "switch", "-q", "-c", "twin")
    git(root, "commit", "-q", "--allow-empty", "-m", "same files")
    pushed = push(root, "main", "twin")
    assert pushed.returncode != 0
    assert f"failed on the same files in {first[:10]}" in pushed.stdout
    assert pushed.stdout.count("FAIL in src/app.py") == 1  # one block, not two
    assert runs_of(runs) == ["lint"]


def test_a_tag_is_verified_as_the_commit_it_names(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    root, remote = make_workspace(tmp_path, {"lint": stand_in("lint", runs)})
    bad = commit(root, {"src/app.py": "FAIL = 14\n"}, "bad")
    git(root, "tag", "-a", "v1", "-m", "release")  # an annotated tag: its own object id
    pushed = push(root, "main", "v1")
    assert pushed.returncode != 0
    assert f"1 commit ({bad[:10]})" in pushed.stdout  # the tag and main: one commit
    assert runs_of(runs) == ["lint"]
    assert remote_sha(remote, "refs/tags/v1") == ""


def test_a_new_branch_is_verified_in_full_and_a_deletion_is_not(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    root, remote = make_workspace(tmp_path, {"lint": stand_in("lint", runs)})
    assert push(root, "main").returncode == 0
    git(root, "switch", "-q", "-c", "feature")
    commit(root, {"src/old.py": "FAIL = 3\n"}, "bad file")
    commit(root, {"README": "unrelated\n"}, "later commit touches no src file")
    pushed = push(root, "feature")
    assert pushed.returncode != 0 and "FAIL in src/old.py" in pushed.stdout

    git(root, "rm", "-q", "src/old.py")
    git(root, "commit", "-q", "-m", "fix")
    assert push(root, "feature").returncode == 0
    deleted = push(root, ":feature")
    assert deleted.returncode == 0, deleted.stdout
    assert "nothing to verify" in deleted.stdout
    assert remote_sha(remote, "refs/heads/feature") == ""


def test_a_force_push_verifies_the_new_commit(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    root, remote = make_workspace(tmp_path, {"lint": stand_in("lint", runs)})
    assert push(root, "main").returncode == 0
    (root / "src" / "app.py").write_text("FAIL = 4\n")
    git(root, "commit", "-q", "-a", "--amend", "-m", "rewritten history")
    pushed = push(root, "--force", "main")
    assert pushed.returncode != 0 and "FAIL in src/app.py" in pushed.stdout
    (root / "src" / "app.py").write_text(CLEAN.replace("42", "45"))
    git(root, "commit", "-q", "-a", "--amend", "-m", "fixed")
    amended = git(root, "rev-parse", "HEAD").stdout.strip()
    assert push(root, "--force", "main").returncode == 0
    assert remote_sha(remote) == amended


def test_a_push_from_a_linked_worktree(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    root, remote = make_workspace(tmp_path, {"lint": stand_in("lint", runs)})
    assert push(root, "main").returncode == 0
    linked = tmp_path / "linked"
    git(root, "worktree", "add", "-q", "-b", "topic", str(linked))
    # The same files pushed from another worktree: one cache per clone, nothing runs.
    pushed = push(linked, "topic")
    assert pushed.returncode == 0 and "cached: lint" in pushed.stdout
    assert runs_of(runs) == ["lint"]

    (root / "src" / "app.py").write_text("FAIL = 5\n")  # the main worktree is dirty: unseen
    bad = commit(linked, {"src/app.py": "FAIL = 6\n"}, "bad in linked")
    pushed = push(linked, "topic")
    assert pushed.returncode != 0 and "FAIL in src/app.py" in pushed.stdout
    (linked / "src" / "app.py").write_text(CLEAN.replace("42", "46"))
    git(linked, "commit", "-q", "-a", "-m", "fixed in linked")
    pushed = push(linked, "topic")
    assert pushed.returncode == 0, pushed.stdout
    assert remote_sha(remote, "refs/heads/topic") not in ("", bad)
    cwds = {json.loads(line)[1] for line in runs.read_text().splitlines()}
    # Always the hook's own worktree, outside every working tree of the clone.
    assert len(cwds) == 1
    assert Path(cwds.pop()).is_relative_to(tmp_path / "cache" / "marathon-engine")


def test_uninstall_removes_the_hook_worktree(tmp_path: Path) -> None:
    import io

    from engine.commands.hooks import run_hooks

    runs = tmp_path / "runs.txt"
    root, _ = make_workspace(tmp_path, {"lint": stand_in("lint", runs)})
    assert push(root, "main").returncode == 0
    assert git(root, "worktree", "list").stdout.count("\n") == 2
    out = io.StringIO()
    assert run_hooks(root, "uninstall", out=out) == 0
    assert "and the worktree it checked pushed commits out in" in out.getvalue()
    assert git(root, "worktree", "list").stdout.count("\n") == 1


def test_the_checks_are_the_pushed_commits_own(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    root, remote = make_workspace(tmp_path, {"lint": stand_in("lint", runs)})
    # An uncommitted marathon.yaml with a check that always fails does not judge the push ...
    failing = {"command": [sys.executable, "-c", "raise SystemExit(3)"], "reads": ["src/**"]}
    config = pipeline({"lint": stand_in("lint", runs), "strict": failing})
    (root / "marathon.yaml").write_text(config)
    pushed = push(root, "main")
    assert pushed.returncode == 0, pushed.stdout
    assert "strict" not in pushed.stdout
    pushed_before = remote_sha(remote)
    # ... and once committed, it does.
    git(root, "commit", "-q", "-a", "-m", "a strict check")
    pushed = push(root, "main")
    assert pushed.returncode != 0
    assert "strict FAILED" in pushed.stdout and "cached: lint" in pushed.stdout
    assert remote_sha(remote) == pushed_before


def test_the_cache_serves_the_same_tree_on_another_branch(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    checks = {"lint": stand_in("lint", runs), "unit": stand_in("unit", runs)}
    root, _ = make_workspace(tmp_path, checks)
    assert push(root, "main").returncode == 0
    assert sorted(runs_of(runs)) == ["lint", "unit"]
    git(root, "switch", "-q", "-c", "other")
    git(root, "commit", "-q", "--allow-empty", "-m", "same tree, different commit")
    pushed = push(root, "other")
    assert pushed.returncode == 0, pushed.stdout
    assert "cached: lint, unit" in pushed.stdout
    assert sorted(runs_of(runs)) == ["lint", "unit"]  # nothing ran again
    # The workspace's own `doit verify` asks the same cache: up to date, nothing runs.
    assert run_doit(root, "verify").returncode == 0
    assert sorted(runs_of(runs)) == ["lint", "unit"]
    # And it can say where it passed (for `doit why`): on the commit pushed first.
    from engine.compile import CheckTask
    from engine.config.load import load_pipeline
    from engine.run.check import passed_where

    loaded = load_pipeline(root)
    main_sha = git(root, "rev-parse", "main").stdout.strip()
    assert {passed_where(CheckTask(loaded, c)) for c in loaded.checks.values()} == {main_sha}


def test_a_file_that_only_exists_in_the_working_tree_is_not_seen(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    check = stand_in("conf", runs, "--local", reads=("src/**", "config/**"))
    root, remote = make_workspace(tmp_path, {"conf": check})
    (root / "config").mkdir()
    (root / "config" / "local.txt").write_text("only here")  # untracked, matches reads
    pushed = push(root, "main")
    assert pushed.returncode == 0, pushed.stdout
    assert remote_sha(remote) != ""
    # The workspace's own verify does see it, and fails: the two were never confused.
    verified = run_doit(root, "verify")
    assert verified.returncode != 0
    assert runs_of(runs) == ["conf", "conf"]


def test_skip_one_check_for_one_push(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    checks = {"lint": stand_in("lint", runs), "typecheck": stand_in("typecheck", runs)}
    root, remote = make_workspace(tmp_path, checks)
    bad = commit(root, {"src/app.py": "FAIL = 7\n"}, "bad")
    pushed = push(root, "main", env={"MARATHON_SKIP": "lint,typecheck"})
    assert pushed.returncode == 0, pushed.stdout
    assert remote_sha(remote) == bad
    assert "skipped (MARATHON_SKIP): lint, typecheck" in pushed.stdout
    assert runs_of(runs) == []

    commit(root, {"src/app.py": "FAIL = 10\n"}, "worse")
    typo = push(root, "main", env={"MARATHON_SKIP": "lnit"})
    assert typo.returncode != 0
    assert "error: pre-push: MARATHON_SKIP: no check named 'lnit' (did you mean 'lint'?)" in (
        typo.stdout
    )


def test_no_verify_skips_the_hook_as_git_defines_it(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    root, remote = make_workspace(tmp_path, {"lint": stand_in("lint", runs)})
    bad = commit(root, {"src/app.py": "FAIL = 8\n"}, "bad")
    pushed = push(root, "--no-verify", "main")
    assert pushed.returncode == 0
    assert remote_sha(remote) == bad and runs_of(runs) == []


def test_checks_run_in_parallel_with_output_in_blocks_failures_first(tmp_path: Path) -> None:
    times = tmp_path / "times.txt"
    code = (
        "import sys, time; start = time.time(); print(sys.argv[1] + ' line 1', flush=True);"
        " time.sleep(1); print(sys.argv[1] + ' line 2');"
        f" open({str(times)!r}, 'a').write(f'{{start}} {{time.time()}}\\n');"
        " sys.exit(sys.argv[1] == 'b')"
    )
    checks = {
        name: {"command": [sys.executable, "-c", code, name], "reads": ["src/**"]}
        for name in ("a", "b", "c")
    }
    root, _ = make_workspace(tmp_path, checks)
    pushed = push(root, "main")
    assert pushed.returncode != 0
    lines = pushed.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("--- "))
    assert lines[first].startswith("--- b FAILED")
    assert lines[first + 1 : first + 3] == ["b line 1", "b line 2"]  # one block
    assert [line.split(" passed")[0] for line in lines if " passed on " in line] == [
        "--- a",
        "--- c",
    ]
    assert "failed: b; passed: a, c" in lines[-2]
    spans = [tuple(map(float, line.split())) for line in times.read_text().splitlines()]
    assert len(spans) == 3
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # all at once


def test_pre_commit_framework_entry_verifies_the_named_commit(tmp_path: Path) -> None:
    """pre-commit keeps the hook's stdin and names the pushed commit in PRE_COMMIT_TO_REF."""
    runs = tmp_path / "runs.txt"
    root, _ = make_workspace(tmp_path, {"lint": stand_in("lint", runs)})
    good = git(root, "rev-parse", "HEAD").stdout.strip()
    bad = commit(root, {"src/app.py": "FAIL = 9\n"}, "bad")
    entry = [sys.executable, "-m", "engine.run.pre_push"]
    env = {**os.environ, "PRE_COMMIT_FROM_REF": good}
    ran = subprocess.run(
        entry, cwd=root, env={**env, "PRE_COMMIT_TO_REF": bad}, capture_output=True, text=True
    )
    assert ran.returncode == 1 and "FAIL in src/app.py" in ran.stdout
    ran = subprocess.run(
        entry, cwd=root, env={**env, "PRE_COMMIT_TO_REF": good}, capture_output=True, text=True
    )
    assert ran.returncode == 0 and "passed: lint" in ran.stdout


def _pre_commit() -> str | None:
    found = shutil.which("pre-commit")
    tools = Path.home() / ".cache" / "marathon-engine" / "bench-tools" / "venv" / "bin"
    return found or (str(tools / "pre-commit") if (tools / "pre-commit").exists() else None)


@pytest.mark.skipif(_pre_commit() is None, reason="pre-commit is not installed")
def test_through_the_real_pre_commit_framework_a_staged_fix_does_not_slip_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    runs = tmp_path / "runs.txt"
    root, remote = make_workspace(tmp_path, {"lint": stand_in("lint", runs)})
    hook = {
        "id": "marathon-verify",
        "name": "marathon verify checks",
        "entry": f"{sys.executable} -m engine.run.pre_push",
        "language": "system",
        "pass_filenames": False,
        "always_run": True,
        "require_serial": True,
        "stages": ["pre-push"],
    }
    config = {"repos": [{"repo": "local", "hooks": [hook]}]}
    (root / ".pre-commit-config.yaml").write_text(json.dumps(config))
    git(root, "add", ".pre-commit-config.yaml")
    git(root, "commit", "-q", "-m", "pre-commit config")
    (root / ".git" / "hooks" / "pre-push").unlink()  # ours goes; pre-commit's comes
    installed = subprocess.run(
        [str(_pre_commit()), "install", "--hook-type", "pre-push"], cwd=root, capture_output=True
    )
    assert installed.returncode == 0, installed.stderr
    commit(root, {"src/app.py": "FAIL = 13\n"}, "bad")
    (root / "src" / "app.py").write_text(CLEAN)
    git(root, "add", "src/app.py")  # the fix is staged, not committed
    pushed = push(root, "main")
    assert pushed.returncode != 0
    assert "FAIL in src/app.py" in pushed.stdout and remote_sha(remote) == ""
