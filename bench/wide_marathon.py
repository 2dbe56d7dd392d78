"""64 independent issues, stand-in agents that sleep 1 s per phase and write one file, at -n 4,
16 and 32 (issue 18). For each: wall time against the lower bound max(critical path, work / n),
the worktrees alive over the run (sampled from `.marathon/worktrees`), when the first issue
merged and when the last one started (as fractions of the run), and the median EXIT.

Printed beside it, `ideal`: `engine.schedule.makespan` of the same compiled tasks, the
schedule the ranked run follows without any engine overhead. For the rule before issue 18 (the
rank alone, every issue in lockstep), run this file with PYTHONPATH pointing at an older copy.

Targets (issue 18): at -n 4 the first merge in the first tenth of the run and live worktrees
near -n; -n 16 within 1.10 x and -n 32 within 1.15 x of the bound (those need the git side).

    python bench/wide_marathon.py [ISSUES] [N ...]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import add_issues, doit, make_workspace

from engine.compile import READ_ONLY_RUNNERS, compile_tasks
from engine.config.load import parse_pipeline
from engine.issue import Issue
from engine.records import Records
from engine.schedule import makespan, remaining_jobs

AGENT_SECONDS = 1.0
AGENT_PHASES = ("plan", "code", "test", "qa")
PIPELINE = f"""\
key_prefix: PROJ
agents:
  bot: {{preset: standin, sleep: {AGENT_SECONDS}}}
checks:
  unit: {{command: ["true"], reads: ["src/**"]}}
phases:
  verify: {{checks: all}}
  plan: {{after: [verify], agent: bot, prompt: plan.md.j2, writes: [".marathon/plans/{{id}}.md"]}}
  code: {{after: [plan], agent: bot, prompt: code.md.j2, reads: ["src/**"], writes: ["src/**"]}}
  test: {{after: [code], agent: bot, prompt: test.md.j2, writes: ["tests/unit/**"]}}
  qa: {{after: [code], agent: bot, prompt: qa.md.j2, writes: ["tests/e2e/**"]}}
  gate: {{after: [test, qa], checks: all, where: branch}}
  exit: {{after: [gate], builtin: exit}}
"""


def sample_worktrees(folder: Path, stop: threading.Event, out: list[tuple[float, int]]) -> None:
    while not stop.is_set():
        count = sum(1 for _ in folder.iterdir()) if folder.is_dir() else 0
        out.append((time.time(), count))
        stop.wait(0.05)


def one_run(count: int, jobs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_workspace(Path(tmp) / "ws", PIPELINE)
        add_issues(root, count)
        doit(root, "list")  # as `doit init` would have: the pipeline has been loaded once
        samples: list[tuple[float, int]] = []
        stop = threading.Event()
        sampler = threading.Thread(
            target=sample_worktrees, args=(root / ".marathon" / "worktrees", stop, samples)
        )
        started = time.time()
        sampler.start()
        result = subprocess.run(
            [sys.executable, "-m", "doit", "-n", str(jobs), "marathon"],
            cwd=root,
            capture_output=True,
            text=True,
        )
        wall = time.time() - started
        stop.set()
        sampler.join()
        # A failed task is reported with the figures, not instead of them.
        failures = [line for line in result.stdout.splitlines() if line.startswith("issue:")]
        if result.returncode != 0 and not failures:
            sys.exit(f"doit -n {jobs} marathon failed (exit {result.returncode}):\n{result.stderr}")
        runs = [r for r in Records(root / ".marathon" / "records.db").runs() if r.issue]
    exits = [r for r in runs if r.phase == "exit" and r.status == "success" and r.ended]
    first_start: dict[str, float] = {}
    for run in runs:
        first_start[run.issue] = min(first_start.get(run.issue, run.started), run.started)
    counts = [n for _, n in samples]
    out: dict[str, Any] = {
        "wall": wall,
        "live_max": max(counts),
        "live_mean": statistics.mean(counts),
        "first_merge": (min(r.ended for r in exits if r.ended) - started) / wall,
        "last_start": (max(first_start.values()) - started) / wall,
        "exit_median": statistics.median((r.ended or r.started) - r.started for r in exits),
        "merged": len(exits),
        "failures": failures,
    }
    return out


def ideal(count: int, jobs: int) -> float:
    """The schedule the run follows (engine/schedule.py), on the compiled tasks, without any
    engine overhead."""
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = parse_pipeline(PIPELINE, path=Path(tmp) / "marathon.yaml", root=Path(tmp))
    issues = [Issue(f"PROJ-{n}", f"issue {n}") for n in range(1, count + 1)]
    seconds = {phase: AGENT_SECONDS for phase in AGENT_PHASES}
    seconds.update(verify=0.0, gate=0.0, exit=0.0)
    tasks = compile_tasks(pipeline, issues, READ_ONLY_RUNNERS, durations=seconds)
    return makespan(remaining_jobs(tasks, seconds.__getitem__, done=()), jobs)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    sizes = [int(arg) for arg in sys.argv[2:]] or [4, 16, 32]
    path = 2 * AGENT_SECONDS + AGENT_SECONDS  # plan, code, then test beside qa
    work = count * len(AGENT_PHASES) * AGENT_SECONDS
    phases = ", ".join(AGENT_PHASES)
    print(f"{count} independent issues, agents sleep {AGENT_SECONDS:g} s in {phases}")
    print(
        f"{'-n':>3} {'bound':>6} {'ideal':>6} {'wall':>7} {'wall/bound':>10} {'live max':>8} "
        f"{'live mean':>9} {'1st merge':>9} {'last start':>10} {'EXIT med':>8}"
    )
    for jobs in sizes:
        bound = max(path, work / jobs)
        reference = ideal(count, jobs)
        run = one_run(count, jobs)
        print(
            f"{jobs:3d} {bound:5.1f}s {reference:5.1f}s {run['wall']:6.1f}s "
            f"{run['wall'] / bound:9.2f}x {run['live_max']:8.0f} {run['live_mean']:9.1f} "
            f"{run['first_merge']:9.2f} {run['last_start']:10.2f} {run['exit_median']:7.2f}s"
        )
        if run["merged"] != count:
            print(f"    only {run['merged']} of {count} issues merged; failed:")
            for line in run["failures"][:3]:
                print(f"      {line}")
    print("1st merge / last start: fractions of the run; live: worktrees on disk, sampled")
    print("targets: -n 4 first merge < 0.10, live near -n; -n 16 <= 1.10 x; -n 32 <= 1.15 x")


if __name__ == "__main__":
    main()
