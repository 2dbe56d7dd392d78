"""`doit marathon`: issues in their own worktrees, in dependency order, merged back at EXIT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.records import Records, RunRecord
from engine.trackers.local import LocalTracker
from engine.workspace import scaffold
from tests.conftest import FAST_PIPELINE, doit_env, run_doit, start_doit, wait_for_run

pytestmark = pytest.mark.integration

# CODE lists what its worktree holds before it works, so a test can see where it started.
PEEK = (
    "import os, pathlib; "
    "seen = sorted(str(p) for p in pathlib.Path('src').rglob('*') if p.is_file()); "
    "out = pathlib.Path('.marathon/seen'); out.mkdir(exist_ok=True); "
    "(out / os.environ['MARATHON_ISSUE']).write_text(chr(10).join(seen))"
)
PIPELINE = FAST_PIPELINE.replace(
    "  code:\n",
    f'  peek: {{after: [plan], command: [python, -c, "{PEEK}"]}}\n  code:\n',
).replace(
    "    after: [plan]\n    agent: bot\n    prompt: code.md.j2",
    "    after: [peek]\n    agent: bot\n    prompt: code.md.j2",
)


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


def runs(ws: Path) -> list[RunRecord]:
    return Records(ws / ".marathon" / "records.db").runs()


def only(ws: Path, task: str, status: str = "success") -> RunRecord:
    found = [r for r in runs(ws) if r.task == task and r.status == status]
    assert len(found) == 1, [(r.task, r.status, r.error) for r in runs(ws) if r.task == task]
    return found[0]


def add(ws: Path, title: str, *extra: str) -> None:
    result = run_doit(ws, "add", "--title", title, *extra)
    assert result.returncode == 0, result.stdout + result.stderr


def assert_clean(ws: Path) -> None:
    """No worktree, no marathon branch left behind."""
    assert git(ws, "worktree", "list").count("\n") == 1
    assert git(ws, "branch", "--list", "marathon/*").strip() == ""
    assert not any((ws / ".marathon" / "worktrees").glob("*"))


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return scaffold(tmp_path / "ws", pipeline_text=PIPELINE)


def test_independent_issues_overlap_and_dependent_starts_from_merged_work(ws: Path) -> None:
    add(ws, "Schema")  # PROJ-1
    add(ws, "Logging")  # PROJ-2, independent of PROJ-1
    add(ws, "API on the schema", "--after", "PROJ-1")  # PROJ-3
    result = run_doit(ws, "-n", "4", "marathon")
    assert result.returncode == 0, result.stdout + result.stderr

    one, two = only(ws, "issue:PROJ-1:code"), only(ws, "issue:PROJ-2:code")
    assert min(one.ended or 0, two.ended or 0) > max(one.started, two.started)  # overlapped
    # PROJ-3 began after PROJ-1 merged, from a tree holding PROJ-1's code
    assert only(ws, "issue:PROJ-3:plan").started >= only(ws, "issue:PROJ-1:exit").ended
    seen = (ws / ".marathon" / "seen" / "PROJ-3").read_text().split()
    assert "src/proj-1-code.txt" in seen
    assert (ws / ".marathon" / "seen" / "PROJ-1").read_text() == ""

    subjects = git(ws, "log", "--format=%s").splitlines()
    for issue in ("PROJ-1", "PROJ-2", "PROJ-3"):
        assert sum(s.startswith(f"{issue} code:") for s in subjects) == 1
    assert subjects.index("PROJ-3 code: API on the schema") < subjects.index("PROJ-1 code: Schema")
    tracker = LocalTracker(ws / ".marathon/tracker.db", "PROJ")
    assert {i.state for i in tracker.snapshot()} == {"completed"}
    assert_clean(ws)

    again = run_doit(ws, "-n", "4", "marathon")
    assert again.returncode == 0 and "ran 0" in again.stdout


def test_merge_conflict_is_reported_and_the_issue_is_redone(ws: Path) -> None:
    writer = (
        "import os, pathlib; src = pathlib.Path('src'); src.mkdir(exist_ok=True); "
        "(src / 'shared.txt').write_text(os.environ['MARATHON_ISSUE'])"
    )
    text = PIPELINE.replace(
        "agents:\n", f'agents:\n  writer: {{preset: command, command: [python, -c, "{writer}"]}}\n'
    )
    text = text.replace(
        "    after: [peek]\n    agent: bot\n", "    after: [peek]\n    agent: writer\n"
    )
    (ws / "marathon.yaml").write_text(text)
    add(ws, "First")
    add(ws, "Second")
    first = run_doit(ws, "-n", "4", "marathon")
    assert first.returncode != 0
    failed = [r for r in runs(ws) if r.phase == "exit" and r.status == "failed"]
    assert len(failed) == 1
    assert "conflicts in src/shared.txt" in failed[0].error
    assert "goes back to the queue" in failed[0].error
    loser = failed[0].issue
    assert LocalTracker(ws / ".marathon/tracker.db", "PROJ").get(loser).state != "completed"

    second = run_doit(ws, "-n", "4", "marathon")
    assert second.returncode == 0, second.stdout + second.stderr
    assert (ws / "src" / "shared.txt").read_text() == loser  # redone on top of the winner
    assert (
        len(
            [
                r
                for r in runs(ws)
                if r.issue == loser and r.phase == "code" and r.status == "success"
            ]
        )
        == 2
    )
    assert_clean(ws)


def test_kill_9_during_a_marathon_then_resume(ws: Path) -> None:
    add(ws, "Slow one")
    add(ws, "After it", "--after", "PROJ-1")
    env = {**doit_env(), "MARATHON_STANDIN_SLEEP_SCALE": "20"}  # code takes 4 s
    proc = start_doit(ws, "-n", "4", "marathon", env=env)
    wait_for_run(ws, "issue:PROJ-1:code", "running")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (ws / ".marathon" / "worktrees" / "PROJ-1").is_dir()  # kept for the resume

    result = run_doit(ws, "-n", "4", "marathon", env={"MARATHON_STANDIN_SLEEP_SCALE": "0.1"})
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = [r.status for r in runs(ws) if r.task == "issue:PROJ-1:code"]
    assert statuses == ["interrupted", "success"]
    assert len([r for r in runs(ws) if r.task == "issue:PROJ-1:plan"]) == 1  # not redone
    subjects = git(ws, "log", "--format=%s").splitlines()
    assert sum(s.startswith("PROJ-1 code:") for s in subjects) == 1
    assert sum(s.startswith("PROJ-2 code:") for s in subjects) == 1
    assert_clean(ws)


def test_second_doit_on_the_same_workspace_is_refused(ws: Path) -> None:
    add(ws, "Slow one")
    env = {**doit_env(), "MARATHON_STANDIN_SLEEP_SCALE": "5"}  # the lock is held all run
    proc = start_doit(ws, "-n", "4", "marathon", env=env, capture=True)
    wait_for_run(ws, "issue:PROJ-1:code", "running")
    (ws / "src").mkdir(exist_ok=True)
    (ws / "src" / "new.py").write_text("x = 1\n")  # verify:unit must run again
    second = run_doit(ws, "verify:unit")
    status = run_doit(ws, "list")
    assert status.returncode == 0
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert second.returncode != 0
    assert "another doit (pid " in second.stdout + second.stderr
    assert "MARATHON_WAIT=1" in second.stdout + second.stderr
    assert_clean(ws)


def test_clean_removes_worktrees_of_unfinished_issues(ws: Path) -> None:
    add(ws, "Half done")
    result = run_doit(ws, "-n", "4", "issue:PROJ-1:code")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (ws / ".marathon" / "worktrees" / "PROJ-1").is_dir()
    assert "marathon/PROJ-1" in git(ws, "branch", "--list", "marathon/*")
    cleaned = run_doit(ws, "clean", "issue:PROJ-1")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert_clean(ws)


def test_worktree_and_branch_deleted_by_hand_are_rebuilt_and_the_work_redone(ws: Path) -> None:
    add(ws, "Lost work")
    result = run_doit(ws, "-n", "4", "issue:PROJ-1:code")
    assert result.returncode == 0, result.stdout + result.stderr
    git(ws, "worktree", "remove", "--force", str(ws / ".marathon" / "worktrees" / "PROJ-1"))
    git(ws, "branch", "-D", "marathon/PROJ-1")
    why = run_doit(ws, "why", "issue:PROJ-1:code")
    assert "files it reads changed" in why.stdout, why.stdout
    result = run_doit(ws, "-n", "4", "issue:PROJ-1")
    assert result.returncode == 0, result.stdout + result.stderr
    # PLAN's file lives in the state folder and survived; CODE's commit went with the branch.
    assert [r.status for r in runs(ws) if r.task == "issue:PROJ-1:plan"] == ["success"]
    assert [r.status for r in runs(ws) if r.task == "issue:PROJ-1:code"] == ["success"] * 2
    assert (ws / "src" / "proj-1-code.txt").is_file()
    subjects = git(ws, "log", "--format=%s").splitlines()
    assert sum(s.startswith("PROJ-1 code:") for s in subjects) == 1
    assert_clean(ws)


def test_kill_9_between_test_and_qa_keeps_the_finished_one(ws: Path) -> None:
    text = (ws / "marathon.yaml").read_text().replace("qa: 0.6}", "qa: 30}")
    (ws / "marathon.yaml").write_text(text)
    add(ws, "Uneven")
    proc = start_doit(ws, "-n", "4", "marathon")
    wait_for_run(ws, "issue:PROJ-1:test", "success")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    result = run_doit(ws, "-n", "4", "marathon", env={"MARATHON_STANDIN_SLEEP_SCALE": "0.01"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert [r.status for r in runs(ws) if r.task == "issue:PROJ-1:test"] == ["success"]
    assert [r.status for r in runs(ws) if r.task == "issue:PROJ-1:qa"] == ["interrupted", "success"]
    assert_clean(ws)


def test_merge_interrupted_half_way_is_finished_on_resume(ws: Path) -> None:
    add(ws, "Merge me")
    assert run_doit(ws, "-n", "4", "issue:PROJ-1:test", "issue:PROJ-1:qa").returncode == 0
    worktree = ws / ".marathon" / "worktrees" / "PROJ-1"
    # main moves on, and a rebase of the issue's branch stops half-way, as if killed
    (ws / "NOTES.md").write_text("notes\n")
    git(ws, "add", "NOTES.md")
    subprocess.run(["git", "commit", "-qm", "notes"], cwd=ws, check=True, env=doit_env())
    stopped = subprocess.run(
        ["git", "rebase", "--exec", "false", "main"],
        cwd=worktree,
        capture_output=True,
        text=True,
        env=doit_env(),
    )
    assert stopped.returncode != 0
    assert (Path(git(worktree, "rev-parse", "--git-dir").strip()) / "rebase-merge").exists()

    result = run_doit(ws, "-n", "4", "marathon")
    assert result.returncode == 0, result.stdout + result.stderr
    subjects = git(ws, "log", "--format=%s").splitlines()
    assert sum(s.startswith("PROJ-1 code:") for s in subjects) == 1
    assert subjects.index("PROJ-1 code: Merge me") < subjects.index("notes")  # rebased on top
    assert_clean(ws)


def test_ctrl_c_stops_agents_and_records_interrupted(ws: Path) -> None:
    add(ws, "Interrupt me")
    env = {**doit_env(), "MARATHON_STANDIN_SLEEP_SCALE": "100"}  # plan sleeps 10 s
    proc = start_doit(ws, "-n", "4", "marathon", env=env)
    wait_for_run(ws, "issue:PROJ-1:plan", "running")
    time.sleep(0.3)
    pgid = _child_group(ws, "issue:PROJ-1:plan")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) != 0
    plan = [r for r in runs(ws) if r.task == "issue:PROJ-1:plan"]
    assert [r.status for r in plan] == ["interrupted"]
    assert plan[0].error.startswith("interrupted")  # by the handler or by the worker thread
    assert not any(r.task == "issue:PROJ-1:code" for r in runs(ws))
    deadline = time.monotonic() + 5
    while _living_members(pgid):
        assert time.monotonic() < deadline, f"agent group {pgid} survived: {_living_members(pgid)}"
        time.sleep(0.05)


def _living_members(pgid: int) -> list[int]:
    """Processes of the group that still run (a killed one may stay a zombie a moment longer,
    until whoever inherited it reaps it)."""
    living = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            living.append(int(entry.name))
    return living


def _child_group(ws: Path, task: str) -> int:
    import sqlite3

    with sqlite3.connect(ws / ".marathon" / "records.db") as conn:
        row = conn.execute(
            "SELECT child_pgid FROM runs WHERE task = ? ORDER BY id DESC", (task,)
        ).fetchone()
    assert row and row[0]
    return int(row[0])


def test_works_on_a_machine_where_git_knows_no_user(ws: Path, tmp_path: Path) -> None:
    home = tmp_path / "empty-home"
    home.mkdir()
    bare = {k: v for k, v in doit_env().items() if not k.startswith("GIT_")}
    env = {**bare, "HOME": str(home), "XDG_CONFIG_HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}
    add(ws, "First")
    add(ws, "Second")  # merges after the first: its branch is rebased, which makes commits
    result = subprocess.run(
        [sys.executable, "-m", "doit", "-n", "4", "marathon"],
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    authors = set(git(ws, "log", "--format=%an <%ae>").splitlines())
    assert "marathon-engine <marathon-engine@localhost>" in authors
    assert_clean(ws)


PHASE = "[sleep, '0.8']"  # longer than a merge takes, on a loaded machine too
CHAIN_PIPELINE = (
    "key_prefix: PROJ\nphases:\n"
    f"  first: {{command: {PHASE}}}\n"
    f"  second: {{after: [first], command: {PHASE}}}\n"
    "  exit: {after: [second], builtin: exit}\n"
)


@pytest.mark.parametrize("ranked", [True, False])
def test_ready_tasks_start_by_rank(tmp_path: Path, ranked: bool) -> None:
    from engine.issue import Edge, IssueDraft

    ws = scaffold(tmp_path / "ws", pipeline_text=CHAIN_PIPELINE)
    if not ranked:
        (ws / "doit.cfg").unlink()  # doit's own run: the first task ready starts first
    drafts = [IssueDraft(f"k{n}", f"issue {n}", "") for n in range(1, 5)]
    chain = [Edge("k1", "k3", "test"), Edge("k3", "k4", "test")]  # PROJ-2 stands alone
    LocalTracker(ws / ".marathon" / "tracker.db", "PROJ").import_issues(drafts, chain)
    result = run_doit(ws, "-n", "1", "marathon")
    assert result.returncode == 0, result.stdout + result.stderr
    order = [run.task.removeprefix("issue:") for run in runs(ws)]
    if ranked:
        # -n 1 is one working task at a time; a merge (EXIT) runs in a slot of its own beside
        # it. So PROJ-2 starts while PROJ-1 merges, and PROJ-3 (heading the chain) as soon as
        # it may; PROJ-4 waits for PROJ-3's merge. The phases take longer than a merge does.
        work = [task for task in order if not task.endswith(":exit")]
        assert work == [
            "PROJ-1:first", "PROJ-1:second", "PROJ-2:first", "PROJ-3:first",
            "PROJ-3:second", "PROJ-2:second", "PROJ-4:first", "PROJ-4:second",
        ]  # fmt: skip
        for issue in ("PROJ-1", "PROJ-2", "PROJ-3", "PROJ-4"):
            assert order.index(f"{issue}:exit") > order.index(f"{issue}:second")
        assert order.index("PROJ-3:first") > order.index("PROJ-1:exit")
        assert order.index("PROJ-4:first") > order.index("PROJ-3:exit")
    else:
        # The control: doit alone, one task at a time, finishes what it started first.
        assert order == [
            "PROJ-1:first", "PROJ-1:second", "PROJ-1:exit",
            "PROJ-3:first", "PROJ-3:second", "PROJ-3:exit",
            "PROJ-2:first", "PROJ-2:second", "PROJ-2:exit",
            "PROJ-4:first", "PROJ-4:second", "PROJ-4:exit",
        ]  # fmt: skip


def test_clean_is_refused_while_another_doit_holds_the_workspace(ws: Path) -> None:
    import fcntl

    add(ws, "Half done")
    assert run_doit(ws, "-n", "4", "issue:PROJ-1:code").returncode == 0
    with open(ws / ".marathon" / "run.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        cleaned = run_doit(ws, "clean", "issue:PROJ-1")
    assert cleaned.returncode == 3
    errors = [line for line in cleaned.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "another doit" in errors[0], cleaned.stderr
    assert "Traceback" not in cleaned.stdout + cleaned.stderr
    assert (ws / ".marathon" / "worktrees" / "PROJ-1").is_dir()  # untouched
