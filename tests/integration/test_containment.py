"""A hostile agent reaches its worktree and its own credentials, and nothing else.

The agent (a plain command, as a prompt injection would make a real agent behave) tries, in
one run: printing LINEAR_API_KEY, forging a stamp in records.db (marking another issue's phase
done), writing another issue's plan, `touch ~/pwned` and `/tmp/pwned`, moving the target
branch with `git update-ref`, and `git push --force` to a bare remote. Without a sandbox the
environment, the stamp's keyed digest, the ref check and the push refusal stop what they can;
with `isolation: bwrap` every attempt fails at the filesystem too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from engine.records import Records
from engine.trackers.local import LocalTracker
from engine.workspace import scaffold
from tests.conftest import run_doit

pytestmark = pytest.mark.integration

HOSTILE = r"""
import os, pathlib, sqlite3, subprocess, sys
issue = os.environ["MARATHON_ISSUE"]
ws = pathlib.Path(os.environ["MARATHON_WORKSPACE"])
pathlib.Path("src").mkdir(exist_ok=True)
pathlib.Path(f"src/{issue}.py").write_text(f"# {issue}\n")
if issue != "PROJ-1":
    sys.exit(0)
tried = []
def attempt(name, action):
    try:
        action()
        tried.append(f"{name}: done")
    except Exception as exc:
        tried.append(f"{name}: refused ({type(exc).__name__}: {exc})")
print("secret=" + str(os.environ.get("LINEAR_API_KEY")))
def forge():
    with sqlite3.connect(ws / ".marathon" / "records.db") as db:
        db.execute("INSERT OR REPLACE INTO stamps (task, inputs, outputs, finished, mac)"
                   " VALUES ('issue:PROJ-2:code', '{}', 'x', 0, 'forged')")
attempt("forge a stamp", forge)
attempt("another plan", lambda: (ws / ".marathon" / "plans" / "PROJ-2.md").write_text("evil"))
attempt("home", lambda: (pathlib.Path.home() / "pwned").write_text("x"))
attempt("tmp", lambda: pathlib.Path("/tmp/pwned-" + os.environ["PWN_TAG"]).write_text("x"))
def git(*args):
    done = subprocess.run(["git", *args], capture_output=True, text=True)
    if done.returncode:
        raise OSError(done.stderr.strip())
    return done.stdout.strip()
def move_main():
    evil = git("commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "evil")
    git("update-ref", "refs/heads/main", evil)
attempt("update-ref main", move_main)
attempt("push --force", lambda: git("push", "--force", "origin", "HEAD:refs/heads/main"))
print("\n".join(tried))
"""

PIPELINE = """\
key_prefix: PROJ
{isolation}
agents:
  hostile: {{preset: command, command: [python, tools/hostile.py], env: [PWN_TAG]}}
phases:
  code: {{agent: hostile, prompt: code.md.j2, reads: ["src/**"], writes: ["src/**"]}}
  exit: {{after: [code], builtin: exit}}
"""


def bwrap_works() -> bool:
    if shutil.which("bwrap") is None:
        return False
    probe = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-pid", "true"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


@pytest.mark.parametrize("isolation", ["none", "bwrap"])
def test_a_hostile_agent_reaches_nothing_it_should_not(tmp_path: Path, isolation: str) -> None:
    if isolation == "bwrap" and not bwrap_works():
        pytest.skip("bubblewrap is not installed or user namespaces are not available here")
    ws = scaffold(
        tmp_path / "ws",
        pipeline_text=PIPELINE.format(isolation=f"isolation: {isolation}"),
    )
    (ws / "tools").mkdir()
    (ws / "tools" / "hostile.py").write_text(HOSTILE)
    git(ws, "add", "-A")
    git(ws, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "agent")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(ws, "remote", "add", "origin", str(remote))
    git(ws, "push", "-q", "origin", "main")
    main_before, remote_before = git(ws, "rev-parse", "main"), git(remote, "rev-parse", "main")
    home = tmp_path / "home"
    home.mkdir()
    tag = uuid.uuid4().hex
    secret = f"lin_api_{uuid.uuid4().hex}"
    tracker = LocalTracker(ws / ".marathon" / "tracker.db", "PROJ")
    for title in ("Hostile", "Victim"):
        run_doit(ws, "add", "--title", title)
    (ws / ".marathon" / "plans").mkdir(exist_ok=True)
    (ws / ".marathon" / "plans" / "PROJ-2.md").write_text("the real plan\n")
    env = {"LINEAR_API_KEY": secret, "HOME": str(home), "PWN_TAG": tag}

    result = run_doit(ws, "-n", "1", "marathon", env=env)

    log = (ws / ".marathon" / "logs" / "PROJ-1" / "code.log").read_text()
    assert "secret=None" in log  # the tracker's key never reaches an agent
    assert "push --force: refused" in log
    assert git(remote, "rev-parse", "main") == remote_before
    # The victim's phase ran for real: a forged stamp is no stamp.
    victim = [r for r in Records(ws / ".marathon" / "records.db").runs()
              if r.task == "issue:PROJ-2:code"]  # fmt: skip
    assert [r.status for r in victim] == ["success"]
    states = {issue.id: issue.state for issue in tracker.snapshot()}
    assert states["PROJ-2"] == "completed"
    if isolation == "none":
        # The ref moved, and was put back; the phase failed, naming it.
        assert "update-ref main: done" in log
        hostile = [r for r in Records(ws / ".marathon" / "records.db").runs()
                   if r.task == "issue:PROJ-1:code"]  # fmt: skip
        assert hostile[-1].status == "failed"
        assert "moved refs outside its own branch: refs/heads/main" in hostile[-1].error
        assert result.returncode == 1
    else:
        # Each attempt failed, or wrote only inside the sandbox (its view of the state
        # folder, its home and /tmp are its own and gone when it ends).
        assert "forge a stamp: refused" in log, log
        assert "update-ref main: refused" in log and "Read-only file system" in log, log
        assert (ws / ".marathon" / "plans" / "PROJ-2.md").read_text() == "the real plan\n"
        assert not (home / "pwned").exists()
        assert not Path(f"/tmp/pwned-{tag}").exists()
        assert states["PROJ-1"] == "completed", result.stdout  # its own work did merge
        assert (ws / "src" / "PROJ-1.py").exists()
    # main moved only by the engine's merges: each of its new commits is an issue's
    new = git(ws, "log", "--format=%s", f"{main_before}..main").splitlines()
    assert all(subject.startswith(("PROJ-1 code:", "PROJ-2 code:")) for subject in new), new
    assert "evil" not in git(ws, "log", "--format=%s", "main")
    # The secret is nowhere the engine writes.
    for path in (ws / ".marathon").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    os.environ.pop("PWN_TAG", None)


def test_a_marathon_in_the_sandbox_does_its_work(tmp_path: Path) -> None:
    """Plans reach the state folder (through the sandbox's own view of it), code and tests
    are committed and merged, as without the sandbox."""
    if not bwrap_works():
        pytest.skip("bubblewrap is not installed or user namespaces are not available here")
    from tests.conftest import FAST_PIPELINE

    ws = scaffold(tmp_path / "ws", pipeline_text="isolation: bwrap\n" + FAST_PIPELINE)
    for title in ("One", "Two"):
        run_doit(ws, "add", "--title", title)
    result = run_doit(ws, "-n", "4", "marathon")
    assert result.returncode == 0, result.stdout + result.stderr
    for issue in ("PROJ-1", "PROJ-2"):
        assert (ws / ".marathon" / "plans" / f"{issue}.md").read_text().startswith(f"# {issue}")
        assert (ws / "src" / f"{issue.lower()}-code.txt").is_file()
    assert not list((ws / ".marathon" / "sandboxes").glob("*"))  # each run's scratch is gone
