"""The pre-push hook, against real git repositories and a local bare remote."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engine.commands.hooks import run_hooks
from engine.errors import MarathonError
from engine.git.hooks import (
    CHAINED_NAME,
    MARKER,
    hook_status,
    hooks_dir,
    install_hook,
    uninstall_hook,
)


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user or system git config (a global core.hooksPath would change every answer)."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.invalid")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check)


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "README").write_text("hello\n")
    git(path, "add", "README")
    git(path, "commit", "-q", "-m", "first")
    return path


def make_remote(repo: Path, where: Path) -> Path:
    git(where.parent, "init", "-q", "--bare", str(where))
    git(repo, "remote", "add", "origin", str(where))
    return where


def remote_heads(remote: Path) -> str:
    return git(remote, "for-each-ref", "--format=%(refname)").stdout.strip()


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def foreign_hook(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_install_writes_one_executable_hook_with_marker(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    path = install_hook(repo, command=py("pass"))
    assert path == repo / ".git" / "hooks" / "pre-push"
    assert MARKER in path.read_text()
    assert path.stat().st_mode & stat.S_IXUSR
    first = path.read_text()

    assert install_hook(repo, command=py("pass")) == path  # installing twice: still one hook
    assert path.read_text() == first
    assert not (path.parent / CHAINED_NAME).exists()
    assert [p.name for p in path.parent.iterdir() if not p.name.endswith(".sample")] == ["pre-push"]
    status = hook_status(repo)
    assert status.installed and not status.foreign and status.chained is None


def test_reinstall_updates_the_command(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    install_hook(repo, command=py("print('first-command')"))
    path = install_hook(repo, command=py("print('second-command')"))
    assert "second-command" in path.read_text() and "first-command" not in path.read_text()
    assert not (path.parent / CHAINED_NAME).exists()


def test_relative_hooks_path_is_resolved_from_the_top_of_the_work_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "config", "core.hooksPath", ".githooks")
    (repo / "sub").mkdir()
    # Asked from a subdirectory, the answer is still relative to the top, as git does it.
    assert hooks_dir(repo / "sub") == repo / ".githooks"
    path = install_hook(repo / "sub", command=py("pass"))
    assert path == repo / ".githooks" / "pre-push"
    assert not (repo / ".git" / "hooks" / "pre-push").exists()
    assert uninstall_hook(repo) is True
    assert not path.exists()


def test_absolute_hooks_path(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    shared = tmp_path / "shared hooks"  # a space, to prove paths are handled as data
    git(repo, "config", "core.hooksPath", str(shared))
    path = install_hook(repo, command=py("pass"))
    assert path == shared / "pre-push"
    assert hook_status(repo).installed


def test_existing_hook_is_chained_and_restored(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    original = repo / ".git" / "hooks" / "pre-push"
    foreign_hook(original, "exit 0\n")
    before = original.read_bytes()

    path = install_hook(repo, command=py("pass"))
    chained = path.parent / CHAINED_NAME
    assert chained.read_bytes() == before
    assert hook_status(repo).chained == chained
    install_hook(repo, command=py("pass"))  # idempotent with a chained hook too
    assert chained.read_bytes() == before and MARKER in path.read_text()

    assert uninstall_hook(repo) is True
    assert original.read_bytes() == before
    assert original.stat().st_mode & stat.S_IXUSR
    assert not chained.exists()
    assert uninstall_hook(repo) is False  # the foreign hook is not ours to remove
    assert original.read_bytes() == before


def test_chaining_with_hooks_path(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "config", "core.hooksPath", "hooks")
    foreign_hook(repo / "hooks" / "pre-push", "exit 0\n")
    install_hook(repo, command=py("pass"))
    assert (repo / "hooks" / CHAINED_NAME).exists()
    uninstall_hook(repo)
    assert (repo / "hooks" / "pre-push").read_text() == "#!/bin/sh\nexit 0\n"


def test_refuses_to_clobber_a_second_foreign_hook(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    hooks = repo / ".git" / "hooks"
    foreign_hook(hooks / "pre-push", "exit 0\n")
    foreign_hook(hooks / CHAINED_NAME, "exit 1\n")
    with pytest.raises(MarathonError, match="already exists"):
        install_hook(repo, command=py("pass"))
    assert (hooks / "pre-push").read_text() == "#!/bin/sh\nexit 0\n"


def test_failing_command_blocks_the_push(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    remote = make_remote(repo, tmp_path / "remote.git")
    install_hook(repo, command=py("raise SystemExit(1)"))
    pushed = git(repo, "push", "-q", "origin", "main", check=False)
    assert pushed.returncode != 0
    assert remote_heads(remote) == ""

    install_hook(repo, command=py("raise SystemExit(0)"))
    assert git(repo, "push", "-q", "origin", "main", check=False).returncode == 0
    assert remote_heads(remote) == "refs/heads/main"


def test_hook_runs_at_the_top_with_arguments_quoted(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    make_remote(repo, tmp_path / "remote.git")
    record = tmp_path / "record.txt"
    hostile = "$(touch pwned) `touch pwned2`; touch pwned3 'x\""
    code = f"import os, sys; open({str(record)!r}, 'w').write(os.getcwd() + '\\n' + sys.argv[1])"
    install_hook(repo, command=[*py(code), hostile])
    assert git(repo, "push", "-q", "origin", "main", check=False).returncode == 0
    cwd, argument = record.read_text().split("\n", 1)
    assert Path(cwd).resolve() == repo.resolve()
    assert argument == hostile  # reached the command as one literal argument
    assert not list(repo.glob("pwned*")) and not list(tmp_path.glob("pwned*"))


def test_chained_hook_runs_first_with_stdin_and_its_failure_blocks(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    remote = make_remote(repo, tmp_path / "remote.git")
    seen = tmp_path / "chained-stdin.txt"
    hook = repo / ".git" / "hooks" / "pre-push"
    foreign_hook(hook, f'cat > "{seen}"\necho "$1" >> "{seen}"\nexit 3\n')
    ours_ran = tmp_path / "ours-ran"
    install_hook(repo, command=py(f"open({str(ours_ran)!r}, 'w').close()"))

    pushed = git(repo, "push", "-q", "origin", "main", check=False)
    assert pushed.returncode != 0
    assert remote_heads(remote) == ""
    text = seen.read_text()
    assert "refs/heads/main" in text  # the refs reached the chained hook on stdin
    assert "origin" in text  # and its arguments too
    assert not ours_ran.exists()  # our command never started after the chained failure

    foreign_hook(hook.parent / CHAINED_NAME, "exit 0\n")
    assert git(repo, "push", "-q", "origin", "main", check=False).returncode == 0
    assert ours_ran.exists()
    assert remote_heads(remote) == "refs/heads/main"


def test_not_a_git_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(MarathonError, match="not a git work tree"):
        install_hook(plain, command=py("pass"))
    with pytest.raises(MarathonError, match="not a git work tree"):
        run_hooks(plain, "status", out=io.StringIO())


def test_run_hooks_actions(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    out = io.StringIO()
    assert run_hooks(repo, "status", out=out) == 0
    assert "not installed" in out.getvalue()

    out = io.StringIO()
    assert run_hooks(repo, "install", out=out, command=py("pass")) == 0
    assert "installed the pre-push hook" in out.getvalue()
    assert hook_status(repo).installed

    out = io.StringIO()
    run_hooks(repo, "status", out=out)
    assert out.getvalue().startswith("installed:")

    out = io.StringIO()
    assert run_hooks(repo, "uninstall", out=out) == 0
    assert "removed" in out.getvalue()
    assert not hook_status(repo).installed

    with pytest.raises(MarathonError, match="did you mean 'install'"):
        run_hooks(repo, "instal", out=io.StringIO())


def test_default_command_runs_the_pre_push_verifier_with_this_python(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    run_hooks(repo, "install", out=io.StringIO())
    text = (repo / ".git" / "hooks" / "pre-push").read_text()
    assert '-m engine.run.pre_push "$@"' in text
    assert os.path.basename(sys.executable) in text


def test_pre_commit_manifest() -> None:
    import yaml

    manifest = Path(__file__).resolve().parents[2] / ".pre-commit-hooks.yaml"
    hooks = yaml.safe_load(manifest.read_text())
    (hook,) = [h for h in hooks if h["id"] == "marathon-verify"]
    assert {"id", "name", "entry", "language"} <= set(hook)  # pre-commit's required keys
    assert hook["entry"] == "python -m engine.run.pre_push"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    assert hook["stages"] == ["pre-push"]


def test_chained_hook_and_ours_both_get_the_pushed_refs(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    make_remote(repo, tmp_path / "remote.git")
    foreign_hook(repo / ".git" / "hooks" / "pre-push", f'cat > "{tmp_path / "theirs.txt"}"\n')
    ours = tmp_path / "ours.txt"
    install_hook(repo, command=py(f"import sys; open({str(ours)!r}, 'w').write(sys.stdin.read())"))
    assert git(repo, "push", "-q", "origin", "main", check=False).returncode == 0
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    for seen in (tmp_path / "theirs.txt", ours):
        assert f"refs/heads/main {head} refs/heads/main " in seen.read_text()


def test_parse_refs_skips_deletions_and_repeats() -> None:
    from engine.run.pre_push import HookError, commits_to_verify, parse_refs

    zero, a, b = "0" * 40, "a" * 40, "b" * 40
    text = (
        f"refs/heads/main {a} refs/heads/main {b}\n"
        f"refs/heads/same {a} refs/heads/same {zero}\n"  # a new branch at the same commit
        f"(delete) {zero} refs/heads/old {b}\n"
        f"refs/heads/new {b} refs/heads/new {zero}\n\n"
    )
    assert commits_to_verify(parse_refs(text)) == [a, b]
    with pytest.raises(HookError, match="stdin line 1: expected"):
        parse_refs("refs/heads/main only-two\n")


def test_the_hook_worktree_is_reused_and_updated_by_checkout(tmp_path: Path) -> None:
    from engine.run.pre_push import changed_files, prepare_worktree

    repo = make_repo(tmp_path / "repo")
    (repo / ".gitignore").write_text("cache/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore")
    first = git(repo, "rev-parse", "HEAD").stdout.strip()
    (repo / "README").write_text("second\n")
    git(repo, "commit", "-q", "-a", "-m", "second")
    second = git(repo, "rev-parse", "HEAD").stdout.strip()
    where = tmp_path / "hook-worktree"

    path = prepare_worktree(repo, where, first)
    (path / "cache").mkdir()
    (path / "cache" / "warm").write_text("kept")  # ignored: a tool's cache survives
    (path / "stray.txt").write_text("left by a check")  # untracked: removed
    (path / "README").write_text("modified by a check")  # tracked: restored
    assert changed_files(path) == ("README", "stray.txt")
    assert prepare_worktree(repo, where, second) == path
    assert (path / "README").read_text() == "second\n"
    assert not (path / "stray.txt").exists()
    assert (path / "cache" / "warm").read_text() == "kept"
    assert changed_files(path) == ()
    listed = git(repo, "worktree", "list", "--porcelain").stdout
    assert listed.count("worktree ") == 2  # the repository and the one hook worktree
    # The user's worktree was never touched.
    assert git(repo, "status", "--porcelain").stdout == ""


def test_the_hook_adds_its_worktree_only_between_a_marathons_worktree_changes(
    tmp_path: Path,
) -> None:
    """A push during a marathon: the hook's `worktree prune` and `add` wait for the lock the
    marathon holds around git's worktree records."""
    import threading

    from engine.git.repo import repo_lock
    from engine.git.worktrees import RECORDS_LOCK
    from engine.run.pre_push import prepare_worktree

    repo = make_repo(tmp_path / "repo")
    (repo / ".marathon").mkdir()
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    where = tmp_path / "hook-worktree"
    done = threading.Event()

    def push() -> None:
        prepare_worktree(repo, where, head)
        done.set()

    with repo_lock(repo / ".marathon", RECORDS_LOCK):
        hook = threading.Thread(target=push)
        hook.start()
        assert not done.wait(0.5)  # held back while the marathon changes its records
        assert git(repo, "worktree", "list", "--porcelain").stdout.count("worktree ") == 1
    hook.join(10)
    assert done.is_set()
    assert git(where, "rev-parse", "HEAD").stdout.strip() == head


def test_a_broken_hook_worktree_is_made_again(tmp_path: Path) -> None:
    from engine.run.pre_push import prepare_worktree

    repo = make_repo(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    where = tmp_path / "hook-worktree"
    path = prepare_worktree(repo, where, head)
    (path / ".git").write_text("gitdir: /nowhere\n")  # e.g. the clone was moved or re-made
    (path / "leftover").write_text("x")
    assert prepare_worktree(repo, where, head) == path
    assert not (path / "leftover").exists()
    assert git(path, "rev-parse", "HEAD").stdout.strip() == head
    assert git(repo, "worktree", "list", "--porcelain").stdout.count("worktree ") == 2


def test_a_check_name_never_becomes_a_path_outside_the_logs(tmp_path: Path) -> None:
    from engine.run.pre_push import Check, Job, log_path

    for name in ("../../escape", "/abs/path", "..", "a/b"):
        path = log_path(tmp_path, Job("a" * 40, Check(name, (), (), 1.0, False), "key"))
        assert path.parent == tmp_path / ("a" * 10)
        assert "/" not in path.name and not path.name.startswith(".")
