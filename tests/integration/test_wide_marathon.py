"""A wide marathon (many independent issues, few workers) finishes the issues it started before
it starts new ones: worktrees on disk stay near -n, and issues merge as the run goes instead of
all at the end (issue 18). The invariants, not the timings."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.issue import IssueDraft
from engine.records import Records
from engine.trackers.local import LocalTracker
from engine.workspace import scaffold
from tests.conftest import run_doit

pytestmark = pytest.mark.integration

ISSUES = 8
JOBS = 2
PIPELINE = """\
key_prefix: PROJ
agents:
  bot: {preset: standin, sleep: 0.05}
checks:
  unit: {command: ["true"], reads: ["src/**"]}
phases:
  verify: {checks: all}
  plan: {after: [verify], agent: bot, prompt: plan.md.j2, writes: [".marathon/plans/{id}.md"]}
  code: {after: [plan], agent: bot, prompt: code.md.j2, reads: ["src/**"], writes: ["src/**"]}
  test: {after: [code], agent: bot, prompt: test.md.j2, writes: ["tests/unit/**"]}
  qa: {after: [code], agent: bot, prompt: qa.md.j2, writes: ["tests/e2e/**"]}
  gate: {after: [test, qa], checks: all, where: branch}
  exit: {after: [gate], builtin: exit}
"""


def live_worktrees(folder: Path, stop: threading.Event, seen: list[int]) -> None:
    while not stop.is_set():
        seen.append(sum(1 for _ in folder.iterdir()) if folder.is_dir() else 0)
        stop.wait(0.01)


def test_a_wide_marathon_keeps_few_worktrees_and_merges_as_it_goes(tmp_path: Path) -> None:
    root = scaffold(tmp_path / "ws", pipeline_text=PIPELINE)
    tracker = LocalTracker(root / ".marathon" / "tracker.db", "PROJ")
    tracker.import_issues(
        [IssueDraft(f"k{n}", f"issue {n}", f"work item {n}") for n in range(ISSUES)], []
    )
    seen: list[int] = []
    stop = threading.Event()
    sampler = threading.Thread(
        target=live_worktrees, args=(root / ".marathon" / "worktrees", stop, seen)
    )
    sampler.start()
    try:
        result = run_doit(root, "-n", str(JOBS), "marathon", timeout=180)
    finally:
        stop.set()
        sampler.join()
    assert result.returncode == 0, result.stdout + result.stderr
    runs = [run for run in Records(root / ".marathon" / "records.db").runs() if run.issue]
    merged = sorted(run.ended or 0 for run in runs if run.phase == "exit")
    assert len(merged) == ISSUES and all(run.status == "success" for run in runs)

    # By the rank alone every issue's VERIFY and PLAN come before any CODE: all eight
    # worktrees exist at once and the first merge comes after the last issue has started.
    assert max(seen) <= JOBS + 2, f"live worktrees: {sorted(set(seen))}"
    first_start = {}
    for run in sorted(runs, key=lambda run: run.started):
        first_start.setdefault(run.issue, run.started)
    assert merged[0] < max(first_start.values())
    # Issues end in about the order they began: half of them have merged before the last
    # quarter starts.
    starts = sorted(first_start.values())
    assert merged[ISSUES // 2 - 1] < starts[ISSUES - ISSUES // 4]
