"""What `isolation: bwrap` costs per agent start: the same command with and without the sandbox.

Runs a trivial agent (`python -c pass`, and `true`) through the engine's executor (the gate,
the process group, the log) `--runs` times each way, in one process, and prints the medians
and the ratio. The sandbox's cost is a fixed start-up (namespaces, mounts), paid once per phase:
against an agent that runs for minutes it is noise; the `true` row shows it bare.

    python bench/sandbox_cost.py [--runs 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from engine.run import sandbox
from engine.run.executor import LOCAL, Work


def timed(work: Work, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        outcome = LOCAL.run(work)
        seconds.append(time.perf_counter() - started)
        if not outcome.ok:
            sys.exit(f"{' '.join(work.argv)} failed: {outcome.error}; see {work.log}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if shutil.which("bwrap") is None:
        print("skipped: bubblewrap is not installed (apt-get install bubblewrap)")
        return 0
    with tempfile.TemporaryDirectory(prefix="marathon-sandbox-") as tmp:
        root = Path(tmp) / "ws"
        state = root / ".marathon"
        worktree = state / "worktrees" / "PROJ-1"
        for folder in (worktree, root / ".git" / "worktrees" / "PROJ-1", root / ".git" / "objects"):
            folder.mkdir(parents=True)
        box = sandbox.Sandbox(
            worktree=worktree,
            state_dir=state,
            git_common=root / ".git",
            git_private=root / ".git" / "worktrees" / "PROJ-1",
            git_objects=root / ".git" / "objects",
            scratch=Path(tmp) / "scratch",
            home=Path.home(),
        )
        rows = []
        for argv in ((sys.executable, "-c", "pass"), ("true",)):
            work = Work(
                argv, cwd=worktree, log=state / "bench.log", timeout=60, env=dict(os.environ)
            )
            plain = statistics.median(timed(work, args.runs))
            sandbox.prepare(box, "PROJ-1")
            boxed = statistics.median(timed(dataclasses.replace(work, sandbox=box), args.runs))
            rows.append((Path(argv[0]).name, plain, boxed))
    for name, plain, boxed in rows:
        print(
            f"{name}: {plain * 1000:.1f} ms plain, {boxed * 1000:.1f} ms in bwrap: "
            f"{boxed / plain:.2f} x, +{(boxed - plain) * 1000:.1f} ms per start"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
