"""Shared by the benchmarks: make a workspace, run doit in it, time it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from engine.issue import Edge, IssueDraft
from engine.trackers.local import LocalTracker
from engine.workspace import scaffold


def make_workspace(root: Path, pipeline_text: str) -> Path:
    return scaffold(root, pipeline_text=pipeline_text)


def add_issues(root: Path, count: int, edges: list[tuple[int, int]] | None = None) -> None:
    """`count` issues PROJ-1..N; `edges` are (blocker, blocked) issue numbers."""
    tracker = LocalTracker(root / ".marathon" / "tracker.db", "PROJ")
    drafts = [
        IssueDraft(f"bench-{n}", f"[Bench] issue {n}", f"work item {n}")
        for n in range(1, count + 1)
    ]
    tracker.import_issues(
        drafts, [Edge(f"bench-{a}", f"bench-{b}", "bench") for a, b in edges or []]
    )


def doit(root: Path, *args: str, env: dict[str, str] | None = None) -> float:
    """Run doit; returns wall seconds; exits loudly if doit fails."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "doit", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"doit {' '.join(args)} failed in {root}:\n{result.stdout}\n{result.stderr}")
    return elapsed


# The seed's durations (VERIFY ~30 s split into its checks, PLAN 60, CODE 180, TEST 120,
# QA 120, EXIT 10), divided by 100.
SEED_CHECKS = {"unit": 0.15, "integration": 0.08, "lint": 0.04, "typecheck": 0.03}
SEED_PHASES = {"plan": 0.6, "code": 1.8, "test": 1.2, "qa": 1.2, "exit": 0.1}


def issue_critical_path() -> float:
    """One issue's critical path: the slowest check, PLAN, CODE, the slower of TEST/QA, EXIT."""
    p = SEED_PHASES
    return max(SEED_CHECKS.values()) + p["plan"] + p["code"] + max(p["test"], p["qa"]) + p["exit"]


def issue_work() -> float:
    """One issue's work if nothing ran at the same time."""
    return sum(SEED_CHECKS.values()) + sum(SEED_PHASES.values())


def sh_agent(seconds: float, folder: str, name: str) -> str:
    """A stand-in agent as a plain command: sleep, then write one file in the write set, so
    commits and write-set checks are measured too. The issue id reaches sh as an environment
    variable inside quotes, never as part of the script."""
    script = f'sleep {seconds}; mkdir -p {folder}; cat > "{folder}/{name}"'
    return f"{{preset: command, command: [sh, -c, '{script}']}}"


def seed_pipeline() -> str:
    p = SEED_PHASES
    checks = "".join(
        f"  {name}: {{command: [sleep, '{seconds}'], reads: ['src/**']}}\n"
        for name, seconds in SEED_CHECKS.items()
    )
    return (
        "key_prefix: PROJ\nagents:\n"
        f"  planner: {sh_agent(p['plan'], '.marathon/plans', '$MARATHON_ISSUE.md')}\n"
        f"  coder: {sh_agent(p['code'], 'src', '$MARATHON_ISSUE.py')}\n"
        f"  tester: {sh_agent(p['test'], 'tests/unit', 'test_$MARATHON_ISSUE.py')}\n"
        f"  qa: {sh_agent(p['qa'], 'tests/e2e', 'test_$MARATHON_ISSUE.py')}\n"
        f"checks:\n{checks}"
        "phases:\n"
        "  verify: {checks: all}\n"
        "  plan: {after: [verify], agent: planner, prompt: plan.md.j2,"
        " writes: ['.marathon/plans/{id}.md']}\n"
        "  code: {after: [plan], agent: coder, prompt: code.md.j2, reads: ['src/**'],"
        " writes: ['src/**']}\n"
        "  test: {after: [code], agent: tester, prompt: test.md.j2, writes: ['tests/unit/**']}\n"
        "  qa: {after: [code], agent: qa, prompt: qa.md.j2, writes: ['tests/e2e/**']}\n"
        f"  wrapup: {{after: [test, qa], command: [sleep, '{p['exit']}']}}\n"
        "  exit: {after: [wrapup], builtin: exit}\n"
    )
