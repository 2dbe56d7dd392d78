"""kill -9 at any instant, then the same command: no finished phase redone, no duplicate commit,
nothing left behind (worktrees, branches, git lock files, processes, unfinished merges).

Each window is placed exactly by a git hook (or a smudge filter) that kills doit, or doit's
whole process group as a container kill or an OOM kill does; the random chaos test kills at
random moments, many times in one marathon. The agents write something new on every run, as
real agents do, so a redone phase always shows as a second commit.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.git import worktrees
from tests import chaos
from tests.chaos import audit, install_kill_hook, install_kill_smudge, kill_env, kill_fired

pytestmark = pytest.mark.integration


def git_out(ws: Path, *args: str) -> str:
    return chaos._git(ws, *args)


def evidence_commit_without_record(ws: Path, issue: str, phase: str) -> bool:
    task = f"issue:{issue}:{phase}"
    committed = f"{issue} {phase}:" in git_out(ws, "log", "--format=%s", f"marathon/{issue}")
    recorded = any(r.task == task and r.status == "success" for r in _runs(ws))
    return committed and not recorded


def evidence_merge_started(ws: Path) -> bool:
    with sqlite3.connect(ws / ".marathon" / "records.db") as conn:
        return conn.execute("SELECT COUNT(*) FROM merges").fetchone()[0] > 0


def _runs(ws: Path) -> list:
    from engine.records import Records

    return Records(ws / ".marathon" / "records.db").runs()


@dataclass(frozen=True)
class Window:
    name: str
    install: Callable[[Path], None]
    # What the kill must have left, checked before the rerun: proof the window was hit.
    evidence: Callable[[Path, bool], bool] = lambda ws, group: True
    count: int = 0  # kill at the Nth matching call


def spare_claimed(ws: Path, issue: str) -> bool:
    """The issue's worktree was a spare: git's record of it is the one made for another issue
    (a new worktree's is named after its own)."""
    dot_git = ws / ".marathon" / "worktrees" / issue / ".git"
    return dot_git.is_file() and not dot_git.read_text().strip().endswith(f"/worktrees/{issue}")


WINDOWS = [
    Window(
        "commit-then-stamp",
        lambda ws: install_kill_hook(
            ws, "post-commit", '"PROJ-1 code:"*', subject="$(git log -1 --format=%s)"
        ),
        lambda ws, group: evidence_commit_without_record(ws, "PROJ-1", "code"),
    ),
    Window(
        "test-commit-beside-qa",
        lambda ws: install_kill_hook(
            ws, "post-commit", '"PROJ-2 test:"*', subject="$(git log -1 --format=%s)"
        ),
        lambda ws, group: evidence_commit_without_record(ws, "PROJ-2", "test"),
    ),
    Window(
        # The rebase at EXIT brought another issue's merged work into the worktree: the
        # checkout that moved its branch there ended ($1, the old HEAD, is not $2).
        "after-rebase",
        lambda ws: install_kill_hook(
            ws,
            "post-checkout",
            '*/worktrees/*" 1 moved"',
            subject='$(pwd) $3 $([ "$1" = "$2" ] && echo same || echo moved)',
        ),
        lambda ws, group: evidence_merge_started(ws),
    ),
    Window(
        "target-moved-before-done",
        lambda ws: install_kill_hook(
            ws, "reference-transaction", "committed*refs/heads/main*", subject="$1 $(cat)"
        ),
        lambda ws, group: evidence_merge_started(ws),
    ),
    Window(
        "target-update-prepared",
        lambda ws: install_kill_hook(
            ws, "reference-transaction", "prepared*refs/heads/main*", subject="$1 $(cat)"
        ),
        lambda ws, group: not group or (ws / ".git" / "refs" / "heads" / "main.lock").exists(),
    ),
    Window(
        "after-fast-forward",
        lambda ws: install_kill_hook(ws, "post-merge", "*"),
        lambda ws, group: evidence_merge_started(ws),
    ),
    Window(
        "worktree-checked-out-before-link",
        lambda ws: install_kill_hook(
            ws, "post-checkout", '*/worktrees/PROJ-1" 1"', subject="$(pwd) $3"
        ),
        lambda ws, group: (
            (ws / ".marathon" / "worktrees" / "PROJ-1").is_dir()
            and not (ws / ".marathon" / "worktrees" / "PROJ-1" / ".marathon").exists()
        ),
    ),
    Window(
        # Kill during the second file the fast-forward of main writes.
        "fast-forward-mid-checkout",
        lambda ws: install_kill_smudge(ws, "*.txt", where=str(ws)),
        lambda ws, group: (
            evidence_merge_started(ws) and (not group or (ws / ".git" / "index.lock").exists())
        ),
        count=2,
    ),
    Window(
        # As above, the file being written left half-written when git dies with doit.
        "fast-forward-mid-write",
        lambda ws: install_kill_smudge(ws, "*.txt", where=str(ws), half=True),
        lambda ws, group: (
            evidence_merge_started(ws)
            and (
                not group or ".txt" in git_out(ws, "status", "--porcelain", "--untracked-files=all")
            )
        ),
        count=2,
    ),
    Window(
        # The second of PROJ-1 and PROJ-2 to merge is rebased onto the first's work: killed
        # while that checkout writes the first's files (a replay, engine/git/worktrees.py).
        "rebase-mid-checkout",
        lambda ws: install_kill_smudge(ws, "*.txt", where="*/worktrees/PROJ-[12]"),
        lambda ws, group: any(
            (ws / ".git" / "worktrees" / f"PROJ-{n}" / "marathon-replay").exists() for n in (1, 2)
        ),
    ),
    Window(
        # PROJ-1's new worktree, killed while its checkout writes the files.
        "worktree-mid-checkout",
        lambda ws: install_kill_smudge(ws, "marathon.yaml", where="*/worktrees/PROJ-1"),
        lambda ws, group: not (ws / ".git" / "worktrees" / "PROJ-1" / "marathon-ready").exists(),
    ),
    Window(
        # PROJ-3 starts once PROJ-1 merged, in PROJ-1's parked worktree (a spare): killed once
        # it is moved to PROJ-3's place and checked out, before it is marked ready.
        "spare-claimed-before-ready",
        lambda ws: install_kill_hook(
            ws, "post-checkout", '*/worktrees/PROJ-3" 1"', subject="$(pwd) $3"
        ),
        lambda ws, group: (
            spare_claimed(ws, "PROJ-3")
            and not worktrees.is_ready(ws / ".marathon" / "worktrees" / "PROJ-3", ws / ".marathon")
        ),
    ),
]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    # PROJ-1 and PROJ-2 run side by side; PROJ-3 starts from main after PROJ-1 merged.
    return chaos.make_workspace(tmp_path / "ws", 3, [(1, 3)])


@pytest.mark.parametrize("group", [False, True], ids=["doit", "group"])
@pytest.mark.parametrize("window", WINDOWS, ids=[w.name for w in WINDOWS])
def test_kill_in_a_window_then_rerun(ws: Path, window: Window, group: bool) -> None:
    window.install(ws)
    env = kill_env(ws, group=group, count=window.count)
    code = chaos.killed_marathon(ws, env)
    assert kill_fired(env), f"the {window.name} hook never fired (exit {code})"
    assert code == -signal.SIGKILL
    assert window.evidence(ws, group), f"the kill did not leave the {window.name} state"

    result = chaos.marathon(ws)
    assert result.returncode == 0, result.stdout + result.stderr
    found = audit(ws)
    assert found.ok, found.details()


def test_an_agent_is_recorded_before_it_runs(ws: Path) -> None:
    """doit killed while the records database is locked, between an agent's start and its
    record: the agent never ran, and nothing of it is left."""
    hold = ws.parent / "hold"
    # When PLAN's worktree is made, the hook waits until the test holds the database lock.
    hook = ws / ".git" / "hooks" / "post-checkout"
    hook.write_text(
        "#!/bin/sh\n"
        f'[ -f "{hold}.armed" ] || exit 0\nrm -f "{hold}.armed"\ntouch "{hold}.at-hook"\n'
        f'while [ ! -f "{hold}.locked" ]; do sleep 0.01; done\n'
    )
    hook.chmod(0o755)
    Path(f"{hold}.armed").touch()
    proc = chaos.start_doit(ws, "-n", "1", "issue:PROJ-1", env=chaos.doit_env(ws), new_session=True)
    try:
        _wait_for(lambda: Path(f"{hold}.at-hook").exists(), "the worktree hook")
        conn = sqlite3.connect(ws / ".marathon" / "records.db", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        Path(f"{hold}.locked").touch()
        agent = _wait_for(lambda: _agent_child(proc.pid), "the agent's process")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        conn.execute("ROLLBACK")
        conn.close()
        _wait_for(lambda: not _alive(agent), "the agent to exit when its doit died")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not chaos.ledger(ws).exists(), "the agent ran although it was never recorded"

    result = chaos.run_doit(ws, "-n", "4", "issue:PROJ-1", env=chaos.doit_env(ws))
    assert result.returncode == 0, result.stdout + result.stderr
    starts = [line for line in chaos.ledger(ws).read_text().splitlines() if "start" in line]
    # Each agent started once, all in the second run.
    assert sorted(line.split()[0] for line in starts) == [
        "PROJ-1:code", "PROJ-1:plan", "PROJ-1:qa", "PROJ-1:test"
    ]  # fmt: skip
    assert not chaos.processes_in(ws)


def test_random_kills_during_a_marathon(tmp_path: Path) -> None:
    """At least 20 SIGKILLs at random moments of one marathon of 8 issues (two chains and an
    independent issue), restarting each time; the seed is printed to replay a failure."""
    seed = int(os.environ.get("MARATHON_CHAOS_SEED") or random.randrange(1 << 30))
    print(f"chaos seed {seed} (MARATHON_CHAOS_SEED={seed} replays it)")
    edges = [(1, 2), (2, 3), (3, 4), (5, 6), (6, 7)]
    # Long enough that 20 kills land before the end (a faster engine finished after 19).
    ws = chaos.make_workspace(tmp_path / "ws", 8, edges, plan=0.4, code=1.0, test=0.8, qa=0.8)
    run = chaos.run_chaos(ws, kills=20, seed=seed)
    result = chaos.marathon(ws)
    assert result.returncode == 0, f"seed {seed}: {result.stdout}{result.stderr}"
    assert run.kills >= 20, f"seed {seed}: the marathon finished after {run.kills} kills"
    found = audit(ws)
    assert found.ok, f"seed {seed}: {found.details()}\n" + "\n".join(run.log)


def _wait_for(condition: Callable[[], object], what: str, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
    return value


def _agent_child(parent: int) -> int:
    """The pid of `parent`'s child that runs (or waits to run) the stand-in agent."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[1]) == parent and b"engine.agents.standin" in cmdline:
            return int(entry.name)
    return 0


def _alive(pid: object) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
