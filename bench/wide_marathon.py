"""64 independent issues, stand-in agents that sleep 1 s per phase and write one file, at -n 4,
16 and 32 (issue 18). For each: wall time against the lower bound max(critical path, work / n),
the worktrees alive over the run (sampled from `.marathon/worktrees`), when the first issue
merged and when the last one started (as fractions of the run), and the median EXIT.

Printed beside it, `ideal`: `engine.schedule.makespan` of the same compiled tasks, the
schedule the ranked run follows without any engine overhead. For the rule before issue 18 (the
rank alone, every issue in lockstep), run this file with PYTHONPATH pointing at an older copy.

Targets (issue 18): at -n 4 the first merge in the first tenth of the run and live worktrees
near -n; -n 16 within 1.10 x and -n 32 within 1.15 x of the bound (those need the git side);
engine CPU per agent phase under 10 ms.

CPU, from the doit process itself (`getrusage` at its exit, through a small wrapper that runs
doit's own `__main__`): `engine ms/phase` is the doit process's own CPU (the engine and doit,
every thread) divided by the agent phases run; `children ms/phase` is everything it waited for
(git, the stand-in agents, the checks, the gate's shells) divided the same way, and `agent ms`
what one stand-in agent start costs alone (measured here, sleep 0), which is part of the
children's figure. The wrapper also times the engine's file locks (`engine/git/repo.py:
repo_lock`): for the repository's (`git`), the merge's and the issues' own locks, the total
time held as a fraction of the wall and the total wait.

`--files=F` commits F more files (40 folders under `lib/`) before the issues start, for what a
repository's size costs: every new worktree checks all of them out, unless it is a spare.

    python bench/wide_marathon.py [--sh] [--files=F] [ISSUES] [N ...]
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import add_issues, doit, make_workspace, sh_agent

from engine.compile import READ_ONLY_RUNNERS, compile_tasks
from engine.config.load import parse_pipeline
from engine.issue import Issue
from engine.records import Records
from engine.schedule import makespan, remaining_jobs

AGENT_SECONDS = 1.0
AGENT_PHASES = ("plan", "code", "test", "qa")
PHASES = """\
checks:
  unit: {command: ["true"], reads: ["src/**"]}
phases:
  verify: {checks: all}
  plan: {after: [verify], agent: PLAN, prompt: plan.md.j2, writes: [".marathon/plans/{id}.md"]}
  code: {after: [plan], agent: CODE, prompt: code.md.j2, reads: ["src/**"], writes: ["src/**"]}
  test: {after: [code], agent: TEST, prompt: test.md.j2, writes: ["tests/unit/**"]}
  qa: {after: [code], agent: QA, prompt: qa.md.j2, writes: ["tests/e2e/**"]}
  gate: {after: [test, qa], checks: all, where: branch}
  exit: {after: [gate], builtin: exit}
"""


def _phases(**agents: str) -> str:
    text = PHASES
    for phase, agent in agents.items():
        text = text.replace(f"agent: {phase.upper()},", f"agent: {agent},")
    return text


# The stand-in agent (a Python process, ~50-60 ms of CPU to start), or with `--sh` a shell
# that sleeps and writes the prompt to one file (a few ms): the engine's own cost is the same.
PIPELINES = {
    "standin": f"key_prefix: PROJ\nagents:\n  bot: {{preset: standin, sleep: {AGENT_SECONDS}}}\n"
    + _phases(plan="bot", code="bot", test="bot", qa="bot"),
    "sh": "key_prefix: PROJ\nagents:\n"
    f"  planner: {sh_agent(AGENT_SECONDS, '.marathon/plans', '$MARATHON_ISSUE.md')}\n"
    f"  coder: {sh_agent(AGENT_SECONDS, 'src', '$MARATHON_ISSUE.py')}\n"
    f"  tester: {sh_agent(AGENT_SECONDS, 'tests/unit', 'test_$MARATHON_ISSUE.py')}\n"
    f"  qa: {sh_agent(AGENT_SECONDS, 'tests/e2e', 'test_$MARATHON_ISSUE.py')}\n"
    + _phases(plan="planner", code="coder", test="tester", qa="qa"),
}
PIPELINE = PIPELINES["standin"]


# Runs doit's own __main__ with the engine's file locks timed, and writes the process's CPU
# (its own, and its children's) at exit. Argument 1: where to write; the rest is doit's.
WRAPPER = """
import atexit, contextlib, json, resource, runpy, sys, threading, time
out = sys.argv.pop(1)
from engine.git import repo
held, guard, plain = {}, threading.Lock(), repo.repo_lock

@contextlib.contextmanager
def timed(state_dir, name="git"):
    asked = time.perf_counter()
    with plain(state_dir, name):
        got = time.perf_counter()
        try:
            yield
        finally:
            done = time.perf_counter()
            with guard:
                s = held.setdefault(name.split("/")[0], [0, 0.0, 0.0])
                s[0] += 1; s[1] += got - asked; s[2] += done - got

repo.repo_lock = timed
calls, plain_git = {}, repo.git

def counted(root, *args, **options):
    started = time.perf_counter()
    try:
        return plain_git(root, *args, **options)
    finally:
        took = time.perf_counter() - started
        name = next((a for a in args if not a.startswith("-") and "=" not in a), "?")
        with guard:
            c = calls.setdefault(name, [0, 0.0])
            c[0] += 1; c[1] += took

repo.git = counted

def report():
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        json.dump({"self": me.ru_utime + me.ru_stime, "children": kids.ru_utime + kids.ru_stime,
                   "locks": held, "git": calls}, f)

atexit.register(report)
sys.argv[0] = "doit"
runpy.run_module("doit", run_name="__main__", alter_sys=True)
"""


def agent_cpu(kind: str, repeat: int = 8) -> float:
    """CPU seconds of one stand-in agent start (sleep 0, one file written), as the engine
    starts it, measured alone."""
    from engine.agents import standin
    from engine.config.model import AgentConfig

    with tempfile.TemporaryDirectory() as tmp:
        agent = AgentConfig(name="bot", preset="standin", options={"sleep": 0})
        invocation = standin.build(agent, Path(tmp) / "prompt.md", Path(tmp))
        argv = invocation.argv
        if kind == "sh":
            argv = ("sh", "-c", 'sleep 0; mkdir -p src; cat > "src/$MARATHON_ISSUE.py"')
        env = {**os.environ, **invocation.env, "MARATHON_ISSUE": "PROJ-1",
               "MARATHON_PHASE": "code", "MARATHON_WRITES": json.dumps(["src/**"])}  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for _ in range(repeat):
            subprocess.run(
                argv, cwd=tmp, input="a prompt\n" * 100, env=env,
                capture_output=True, text=True, check=True,
            )  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return used / repeat


def sample_worktrees(folder: Path, stop: threading.Event, out: list[tuple[float, int]]) -> None:
    while not stop.is_set():
        count = sum(1 for _ in folder.iterdir()) if folder.is_dir() else 0
        out.append((time.time(), count))
        stop.wait(0.05)


def add_files(root: Path, files: int) -> None:
    """`files` committed files of 20 lines each, in 40 folders under lib/."""
    for n in range(files):
        path = root / "lib" / f"d{n % 40}" / f"m{n}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# module {n}\n" * 20)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(["git", *identity, "commit", "-qm", f"{files} files"], cwd=root, check=True)


def one_run(count: int, jobs: int, pipeline: str, files: int = 0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_workspace(Path(tmp) / "ws", pipeline)
        if files:
            add_files(root, files)
        add_issues(root, count)
        doit(root, "list")  # as `doit init` would have: the pipeline has been loaded once
        samples: list[tuple[float, int]] = []
        stop = threading.Event()
        sampler = threading.Thread(
            target=sample_worktrees, args=(root / ".marathon" / "worktrees", stop, samples)
        )
        started = time.time()
        sampler.start()
        usage = Path(tmp) / "usage.json"
        result = subprocess.run(
            [sys.executable, "-c", WRAPPER, str(usage), "-n", str(jobs), "marathon"],
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
        used = json.loads(usage.read_text())
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
        "agent_phases": sum(1 for r in runs if r.phase in AGENT_PHASES),
        "cpu_self": used["self"],
        "cpu_children": used["children"],
        "locks": used["locks"],
        "git": used["git"],
    }
    return out


def ideal(count: int, jobs: int, pipeline: str) -> float:
    """The schedule the run follows (engine/schedule.py), on the compiled tasks, without any
    engine overhead."""
    with tempfile.TemporaryDirectory() as tmp:
        parsed = parse_pipeline(pipeline, path=Path(tmp) / "marathon.yaml", root=Path(tmp))
    issues = [Issue(f"PROJ-{n}", f"issue {n}") for n in range(1, count + 1)]
    seconds = {phase: AGENT_SECONDS for phase in AGENT_PHASES}
    seconds.update(verify=0.0, gate=0.0, exit=0.0)
    tasks = compile_tasks(parsed, issues, READ_ONLY_RUNNERS, durations=seconds)
    return makespan(remaining_jobs(tasks, seconds.__getitem__, done=()), jobs)


def main() -> None:
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    kind = "sh" if "--sh" in sys.argv[1:] else "standin"
    files = next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--files=")), 0)
    pipeline = PIPELINES[kind]
    count = int(args[0]) if args else 64
    sizes = [int(arg) for arg in args[1:]] or [4, 16, 32]
    path = 2 * AGENT_SECONDS + AGENT_SECONDS  # plan, code, then test beside qa
    work = count * len(AGENT_PHASES) * AGENT_SECONDS
    phases = ", ".join(AGENT_PHASES)
    size = f", {files} more files in the repository" if files else ""
    print(f"{count} independent issues, {kind} agents sleep {AGENT_SECONDS:g} s in {phases}{size}")
    print(
        f"{'-n':>3} {'bound':>6} {'ideal':>6} {'wall':>7} {'wall/bound':>10} {'live max':>8} "
        f"{'live mean':>9} {'1st merge':>9} {'last start':>10} {'EXIT med':>8}"
    )
    alone = agent_cpu(kind)
    rows = []
    for jobs in sizes:
        bound = max(path, work / jobs)
        reference = ideal(count, jobs, pipeline)
        run = one_run(count, jobs, pipeline, files)
        print(
            f"{jobs:3d} {bound:5.1f}s {reference:5.1f}s {run['wall']:6.1f}s "
            f"{run['wall'] / bound:9.2f}x {run['live_max']:8.0f} {run['live_mean']:9.1f} "
            f"{run['first_merge']:9.2f} {run['last_start']:10.2f} {run['exit_median']:7.2f}s"
        )
        rows.append((jobs, run))
        if run["merged"] != count:
            print(f"    only {run['merged']} of {count} issues merged; failed:")
            for line in run["failures"][:3]:
                print(f"      {line}")
    print("1st merge / last start: fractions of the run; live: worktrees on disk, sampled")
    print(
        f"\n{'-n':>3} {'engine ms/phase':>15} {'children ms/phase':>17} {'agent ms':>8}   "
        "locks: held / wall (wait), by lock"
    )
    for jobs, run in rows:
        phases = max(run["agent_phases"], 1)
        locks = "  ".join(
            f"{name} {held / run['wall']:.2f} ({wait:.1f}s, {n})"
            for name, (n, wait, held) in sorted(run["locks"].items())
        )
        print(
            f"{jobs:3d} {1000 * run['cpu_self'] / phases:15.1f} "
            f"{1000 * run['cpu_children'] / phases:17.1f} {1000 * alone:8.1f}   {locks}"
        )
    print("ms/phase: CPU of the doit process (engine) and of what it ran, per agent phase run")
    for jobs, run in rows:
        top = sorted(run["git"].items(), key=lambda item: -item[1][0])[:10]
        calls = sum(n for n, _ in run["git"].values())
        print(
            f"-n {jobs}: {calls / count:.0f} git calls per issue, the most frequent: "
            + ", ".join(
                f"{name} {n / count:.1f} ({1000 * took / n:.0f} ms)" for name, (n, took) in top
            )
        )
    print(
        "targets: -n 4 first merge < 0.10, live near -n; -n 16 <= 1.10 x; -n 32 <= 1.15 x; "
        "engine < 10 ms per agent phase"
    )


if __name__ == "__main__":
    main()
