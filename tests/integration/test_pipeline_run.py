"""Real doit runs in subprocesses, in temporary git repositories, with the stand-in agent."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from engine.records import Records, RunRecord
from engine.trackers.local import LocalTracker
from tests.conftest import doit_env, run_doit, start_doit, wait_for_run

pytestmark = pytest.mark.integration


def add_issue(ws: Path, title: str, *extra: str) -> None:
    result = run_doit(ws, "add", "--title", title, *extra)
    assert result.returncode == 0, result.stderr


def runs(ws: Path) -> list[RunRecord]:
    return Records(ws / ".marathon" / "records.db").runs()


def successes(ws: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for run in runs(ws):
        if run.status == "success":
            counts[run.task] = counts.get(run.task, 0) + 1
    return counts


def overlap(a: RunRecord, b: RunRecord) -> float:
    assert a.ended is not None and b.ended is not None
    return min(a.ended, b.ended) - max(a.started, b.started)


def only(ws: Path, task: str) -> RunRecord:
    found = [r for r in runs(ws) if r.task == task]
    assert len(found) == 1, found
    return found[0]


def test_issue_runs_checks_and_test_qa_in_parallel_then_skips_everything(workspace: Path) -> None:
    add_issue(workspace, "Add login")
    first = run_doit(workspace, "-n", "4", "issue:PROJ-1")
    assert first.returncode == 0, first.stdout + first.stderr

    # the two checks overlapped, and so did TEST and QA
    assert overlap(only(workspace, "verify:unit"), only(workspace, "verify:lint")) > 0.3
    assert overlap(only(workspace, "issue:PROJ-1:test"), only(workspace, "issue:PROJ-1:qa")) > 0.4
    # order: everything of the gate before plan, code before test and qa, both before exit
    assert only(workspace, "issue:PROJ-1:plan").started >= only(workspace, "verify:unit").ended
    assert only(workspace, "issue:PROJ-1:exit").started >= only(workspace, "issue:PROJ-1:qa").ended
    assert (
        LocalTracker(workspace / ".marathon/tracker.db", "PROJ").get("PROJ-1").state == "completed"
    )

    # the engine committed each writing phase, with the issue id in the message
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=workspace, capture_output=True, text=True
    ).stdout.splitlines()
    assert {"PROJ-1 code: Add login", "PROJ-1 test: Add login", "PROJ-1 qa: Add login"} <= set(log)
    assert (workspace / ".marathon/logs/PROJ-1/code.log").read_text().count("standin:") >= 2

    before = len(runs(workspace))
    started = time.monotonic()
    second = run_doit(workspace, "-n", "4", "issue:PROJ-1")
    elapsed = time.monotonic() - started
    assert second.returncode == 0
    assert len(runs(workspace)) == before  # nothing ran
    assert elapsed < 5  # generous: a subprocess start on a loaded machine; bench/noop.py measures


def test_changed_source_file_reruns_code_and_its_dependents_but_not_plan(workspace: Path) -> None:
    add_issue(workspace, "Add login")
    # up to QA: the issue is in progress in its worktree, not merged yet
    assert run_doit(workspace, "-n", "4", "issue:PROJ-1:qa", "issue:PROJ-1:test").returncode == 0
    worktree = workspace / ".marathon" / "worktrees" / "PROJ-1"
    assert (worktree / "src").is_dir()
    (worktree / "src" / "extra.py").write_text("x = 1\n")  # a hand edit in the issue's tree
    subprocess.run(["git", "add", "src/extra.py"], cwd=worktree, check=True)
    subprocess.run(["git", "commit", "-qm", "fix"], cwd=worktree, check=True, env=doit_env())
    result = run_doit(workspace, "-n", "4", "issue:PROJ-1")
    assert result.returncode == 0, result.stdout + result.stderr
    counts = successes(workspace)
    assert counts["issue:PROJ-1:plan"] == 1
    assert counts["issue:PROJ-1:verify"] == 1
    assert counts["issue:PROJ-1:code"] == 2
    assert counts["issue:PROJ-1:test"] == 2
    assert counts["issue:PROJ-1:qa"] == 2
    assert counts["issue:PROJ-1:exit"] == 1
    assert not worktree.exists()  # merged and removed
    assert (workspace / "src" / "extra.py").exists()  # merged with the issue's branch


def test_completed_issue_stays_done_when_later_work_changes_files(workspace: Path) -> None:
    add_issue(workspace, "Add login")
    assert run_doit(workspace, "-n", "4", "issue:PROJ-1").returncode == 0
    (workspace / "src" / "later.py").write_text("y = 2\n")
    subprocess.run(["git", "add", "src/later.py"], cwd=workspace, check=True)
    subprocess.run(["git", "commit", "-qm", "later"], cwd=workspace, check=True, env=doit_env())
    before = len(runs(workspace))
    assert run_doit(workspace, "-n", "4", "issue:PROJ-1").returncode == 0
    assert len(runs(workspace)) == before


def test_changed_issue_text_reruns_agent_phases(workspace: Path) -> None:
    add_issue(workspace, "Add login")
    assert run_doit(workspace, "-n", "4", "issue:PROJ-1").returncode == 0
    tracker = LocalTracker(workspace / ".marathon/tracker.db", "PROJ")
    with tracker._conn as conn:  # edit the text as a tracker sync would
        conn.execute("UPDATE issues SET title = 'Add login and logout' WHERE id = 'PROJ-1'")
    assert run_doit(workspace, "-n", "4", "issue:PROJ-1").returncode == 0
    counts = successes(workspace)
    assert counts["issue:PROJ-1:plan"] == 2 and counts["issue:PROJ-1:verify"] == 2


def test_kill_9_mid_code_then_rerun_resumes_without_redoing_finished_phases(
    workspace: Path,
) -> None:
    text = (workspace / "marathon.yaml").read_text().replace("code: 0.2", "code: 30")
    (workspace / "marathon.yaml").write_text(text)
    add_issue(workspace, "Slow code")
    proc = start_doit(workspace, "-n", "4", "issue:PROJ-1")
    wait_for_run(workspace, "issue:PROJ-1:code", "running", timeout=30)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    result = run_doit(
        workspace, "-n", "4", "issue:PROJ-1", env={"MARATHON_STANDIN_SLEEP_SCALE": "0.01"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    code_runs = [r for r in runs(workspace) if r.task == "issue:PROJ-1:code"]
    assert [r.status for r in code_runs] == ["interrupted", "success"]
    counts = successes(workspace)
    assert counts["issue:PROJ-1:plan"] == 1  # finished before the kill: not redone
    assert counts["verify:unit"] == 1
    assert counts["issue:PROJ-1:exit"] == 1


def test_hostile_issue_title_is_data_everywhere(workspace: Path) -> None:
    title = "Fix $(touch pwned) `touch pwned2` 'q' \"dq\" {{ 7*7 }} {% raw %} ; rm -rf /"
    add_issue(workspace, title)
    result = run_doit(workspace, "-n", "4", "issue:PROJ-1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (workspace / "pwned").exists() and not (workspace / "pwned2").exists()
    prompt = (workspace / ".marathon/prompts/PROJ-1/code.md").read_text()
    assert f"## Issue PROJ-1: {title}\n" in prompt


def test_failing_phase_stops_dependents_and_is_recorded(workspace: Path) -> None:
    text = (
        (workspace / "marathon.yaml")
        .read_text()
        .replace("preset: standin", "preset: standin\n    fail: [qa]")
    )
    (workspace / "marathon.yaml").write_text(text)
    add_issue(workspace, "Breaks in QA")
    result = run_doit(workspace, "-n", "4", "issue:PROJ-1")
    assert result.returncode != 0
    qa = only(workspace, "issue:PROJ-1:qa")
    assert qa.status == "failed"
    assert qa.error == "exited with status 1: standin: told to fail PROJ-1:qa"
    assert "issue:PROJ-1:exit" not in {r.task for r in runs(workspace)}
    assert LocalTracker(workspace / ".marathon/tracker.db", "PROJ").get("PROJ-1").state == "started"


def test_timeout_kills_the_whole_process_group(workspace: Path) -> None:
    marker = f"marathon-timeout-{os.getpid()}-{time.monotonic_ns()}"
    text = (
        (workspace / "marathon.yaml")
        .read_text()
        .replace(
            "  exit: {after: [test, qa], builtin: exit}",
            "  exit: {after: [test, qa], builtin: exit}\n"
            f"  hang: {{command: [sh, -c, 'sleep 60 & sleep 61 & wait', {marker}], timeout: 0.5}}",
        )
    )
    (workspace / "marathon.yaml").write_text(text)
    add_issue(workspace, "Hangs")
    result = run_doit(workspace, "issue:PROJ-1:hang")
    assert result.returncode != 0
    hang = only(workspace, "issue:PROJ-1:hang")
    assert hang.status == "failed" and "timed out after 0.5s" in hang.error
    time.sleep(0.2)
    leftover = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert leftover.stdout == "", "processes of the timed-out group survived"


def test_bad_marathon_yaml_refuses_before_anything_runs(tmp_path: Path) -> None:
    from engine.workspace import scaffold

    ws = scaffold(tmp_path / "bad", pipeline_text="phases:\n  plan: {aftr: []}\n", git=False)
    result = run_doit(ws, "list")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: marathon.yaml:2:10: phases.plan.aftr: unknown key (did you mean 'after'?)"
    )
    assert not (ws / ".marathon").exists()
