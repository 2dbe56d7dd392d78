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
