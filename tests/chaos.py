"""Kill doit at the worst moments, restart it, and audit what it left: shared by the durability
tests (tests/integration/test_durability.py) and the chaos benchmark (bench/chaos.py).

The audit states the durability promise as counts that must all be zero: finished phases run
again, duplicate commits on the target, leftovers (worktrees, branches, git lock files, live
processes, runs still marked running, unfinished merges), agent runs the records never knew
of, and issues that did not finish.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from engine.git.repo import RUN_TRAILER, TASK_TRAILER
from engine.issue import Edge, IssueDraft
from engine.records import Records
from engine.trackers.local import LocalTracker
from engine.workspace import scaffold
from tests.conftest import run_doit, start_doit

# Agents whose output differs on every run, as real agents' does: a redone phase is a new
# commit, never an identical one that early cut-off would hide.
PIPELINE = """\
key_prefix: PROJ
agents:
  bot:
    preset: standin
    vary: true
    sleep: {{plan: {plan}, code: {code}, test: {test}, qa: {qa}}}
checks:
  unit: {{command: [python, -c, pass], reads: ["src/**"]}}
  lint: {{command: [python, -c, pass], reads: ["src/**", "tests/**"]}}
phases:
  verify: {{checks: all}}
  plan: {{after: [verify], agent: bot, prompt: plan.md.j2, writes: [".marathon/plans/{{id}}.md"]}}
  code:
    after: [plan]
    agent: bot
    prompt: code.md.j2
    reads: [".marathon/plans/{{id}}.md", "src/**"]
    writes: ["src/**"]
  test:
    {{after: [code], agent: bot, prompt: test.md.j2, reads: ["src/**"], writes: ["tests/unit/**"]}}
  qa: {{after: [code], agent: bot, prompt: qa.md.j2, reads: ["src/**"], writes: ["tests/e2e/**"]}}
  exit: {{after: [test, qa], builtin: exit}}
"""
WRITING_PHASES = ("code", "test", "qa")


def make_workspace(root: Path, issues: int, edges: list[tuple[int, int]], **sleep: float) -> Path:
    """A workspace with `issues` issues PROJ-1..N; `edges` are (blocker, blocked) numbers."""
    seconds = {"plan": 0.05, "code": 0.05, "test": 0.1, "qa": 0.1, **sleep}
    ws = scaffold(root, pipeline_text=PIPELINE.format(**seconds))
    drafts = [IssueDraft(f"k{n}", f"issue {n}", f"work item {n}") for n in range(1, issues + 1)]
    LocalTracker(ws / ".marathon" / "tracker.db", "PROJ").import_issues(
        drafts, [Edge(f"k{a}", f"k{b}", "chain") for a, b in edges]
    )
    return ws


def ledger(ws: Path) -> Path:
    return ws.parent / f"{ws.name}-agents.ledger"


def doit_env(ws: Path) -> dict[str, str]:
    return {"MARATHON_STANDIN_LEDGER": str(ledger(ws))}


# Git hooks (and a smudge filter) that kill doit, or doit's whole process group, the first
# time they run with a matching subject (or at the Nth match, MARATHON_KILL_COUNT); the flag
# file makes them fire once.
_ARMED = """\
flag="$MARATHON_KILL_FLAG"
[ -n "$flag" ] && [ -f "$flag" ] || exit 0
case "{subject}" in
  {pattern}) ;;
  *) exit 0 ;;
esac
"""
_KILL = """\
if [ -n "$MARATHON_KILL_COUNT" ]; then
  n=$(cat "$flag.count" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$flag.count"
  [ "$n" -ge "$MARATHON_KILL_COUNT" ] || exit 0
fi
rm -f "$flag"
pid=$(cat "$MARATHON_KILL_WS/.marathon/run.lock")
if [ "$MARATHON_KILL_GROUP" = 1 ]; then kill -KILL "-$pid"; else kill -KILL "$pid"; fi
"""


def install_kill_hook(ws: Path, hook: str, pattern: str, subject: str = "$*") -> None:
    """`.git/hooks/<hook>` kills doit when `subject` (shell words, "$*" by default: the
    hook's arguments) matches the shell `case` `pattern`."""
    path = ws / ".git" / "hooks" / hook
    path.write_text("#!/bin/sh\n" + _ARMED.format(subject=subject, pattern=pattern) + _KILL)
    path.chmod(0o755)


def install_kill_smudge(ws: Path, files: str, where: str = "*", *, half: bool = False) -> None:
    """A smudge filter on `files` (a gitattributes pattern) that kills doit mid-checkout, in
    a checkout whose folder matches `where`. `half`: when the whole group is killed (git
    with it), the file being written gets only the first half of its content, as a write
    cut short leaves it."""
    script = ws / ".git" / "kill-smudge.sh"
    armed = _ARMED.format(subject="$(pwd)", pattern=where)
    # The content passes through first, whether or not this call kills (half of it, armed).
    passed = "cat\n"
    if half:
        passed = (
            "content=$(cat; echo x); content=${content%x}\n"
            'if [ -f "$MARATHON_KILL_FLAG" ] && [ "$MARATHON_KILL_GROUP" = 1 ]; then\n'
            '  printf %s "$content" | head -c $(( ${#content} / 2 ))\n'
            'else printf %s "$content"; fi\n'
        )
    script.write_text("#!/bin/sh\n" + passed + armed + _KILL)
    script.chmod(0o755)
    (ws / ".git" / "info").mkdir(exist_ok=True)
    with open(ws / ".git" / "info" / "attributes", "a") as handle:
        handle.write(f"{files} filter=killer\n")
    subprocess.run(["git", "config", "filter.killer.smudge", str(script)], cwd=ws, check=True)


def kill_env(ws: Path, *, group: bool, count: int = 0) -> dict[str, str]:
    flag = ws.parent / f"{ws.name}-kill.flag"
    flag.write_text("armed\n")
    env = {
        **doit_env(ws),
        "MARATHON_KILL_FLAG": str(flag),
        "MARATHON_KILL_WS": str(ws),
        "MARATHON_KILL_GROUP": "1" if group else "0",
    }
    if count:
        env["MARATHON_KILL_COUNT"] = str(count)
    return env


def kill_fired(env: dict[str, str]) -> bool:
    return not Path(env["MARATHON_KILL_FLAG"]).exists()


def marathon(ws: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return run_doit(ws, "-n", "4", "marathon", env=doit_env(ws), timeout=timeout)


def killed_marathon(ws: Path, env: dict[str, str], timeout: float = 120) -> int:
    """`doit -n 4 marathon` in its own process group, until a hook kills it; its exit code."""
    proc = start_doit(ws, "-n", "4", "marathon", env=env, new_session=True)
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Chaos:
    seed: int
    kills: int = 0
    group_kills: int = 0
    finished_early: bool = False
    log: list[str] = field(default_factory=list)


def run_chaos(
    ws: Path, kills: int, seed: int, *, longest: float = 1.4, group_share: float = 0.3
) -> Chaos:
    """Start `doit -n 4 marathon` and SIGKILL it at a random moment, `kills` times (doit alone,
    or its whole process group as a container kill does), then let a last run finish."""
    rng = random.Random(seed)
    chaos = Chaos(seed)
    env = doit_env(ws)
    while chaos.kills < kills:
        proc = start_doit(ws, "-n", "4", "marathon", env=env, new_session=True)
        delay = rng.uniform(0.15, longest)
        group = rng.random() < group_share
        try:
            code = proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            chaos.kills += 1
            chaos.group_kills += group
            chaos.log.append(f"kill {chaos.kills} at {delay:.2f}s ({'group' if group else 'doit'})")
            continue
        chaos.log.append(f"run ended by itself with {code} after <{delay:.2f}s")
        if code == 0:
            chaos.finished_early = True
            break
    return chaos


@dataclass
class Audit:
    redone: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.redone or self.duplicates or self.leftovers or self.unrecorded or self.unfinished
        )

    def summary(self) -> str:
        return (
            f"{len(self.redone)} finished phases redone, {len(self.duplicates)} duplicate "
            f"commits, {len(self.leftovers)} leftovers, {len(self.unrecorded)} unrecorded "
            f"agent runs, {len(self.unfinished)} unfinished issues"
        )

    def details(self) -> str:
        return (
            f"redone={self.redone} duplicates={self.duplicates} leftovers={self.leftovers} "
            f"unrecorded={self.unrecorded} unfinished={self.unfinished}"
        )


def audit(ws: Path, target: str = "main") -> Audit:
    found = Audit()
    runs = Records(ws / ".marathon" / "records.db").runs()
    by_task: dict[str, list] = {}
    for run in runs:
        by_task.setdefault(run.task, []).append(run)

    # Finished phases run again: any run after a task's first success. (A check runs again
    # whenever the files it reads change, as other issues merge: that is not a redo.)
    for task, task_runs in by_task.items():
        if not task.startswith("issue:"):
            continue
        first = next((i for i, r in enumerate(task_runs) if r.status == "success"), None)
        if first is not None and task_runs[first + 1 :]:
            found.redone.append(f"{task}: {[r.status for r in task_runs]}")

    # Commits on the target: one per writing phase of each issue, made by the run recorded
    # as that task's success, and no run of the task after it.
    log = _git(ws, "log", "--format=%s%x00%(trailers:key=" + TASK_TRAILER + ",valueonly)%x00"
               "%(trailers:key=" + RUN_TRAILER + ",valueonly)%x1e", target)  # fmt: skip
    subjects: Counter[str] = Counter()  # by the subject git shows, trailers or not
    for record in log.split("\x1e"):
        parts = [part.strip() for part in record.split("\x00")]
        words = parts[0].split(" ", 2)
        if len(words) >= 2 and words[1].rstrip(":") in WRITING_PHASES:
            subjects[f"issue:{words[0]}:{words[1].rstrip(':')}"] += 1
        if len(parts) < 3 or not parts[1]:
            continue
        subject, task, key = parts[0], parts[1], parts[2]
        task_runs = by_task.get(task, [])
        maker = [r for r in task_runs if f"{r.session}-{r.id}" == key]
        if not maker or maker[0].status != "success":
            found.redone.append(f"{task}: commit '{subject}' by run {key} not its success")
        elif any(r.id > maker[0].id and r.status != "skipped" for r in task_runs):
            found.redone.append(f"{task}: ran again after its commit '{subject}'")
    found.duplicates += [f"{task} x{n}" for task, n in subjects.items() if n > 1]

    tracker = LocalTracker(ws / ".marathon" / "tracker.db", "PROJ")
    issues = [issue for issue in tracker.snapshot() if issue.kind != "meta"]
    found.unfinished += [f"{i.id} {i.state}" for i in issues if i.state != "completed"]
    for issue in issues:
        for phase in WRITING_PHASES:
            if subjects[f"issue:{issue.id}:{phase}"] == 0:
                found.duplicates.append(f"issue:{issue.id}:{phase} has no commit on {target}")

    # Agent runs the records do not know: the ledger counts every start of the stand-in.
    starts = Counter(line.split()[0] for line in _lines(ledger(ws)) if line.endswith(" start"))
    for key, count in starts.items():
        issue, phase = key.split(":", 1)
        known = [r for r in by_task.get(f"issue:{issue}:{phase}", []) if r.status != "skipped"]
        if count > len(known):
            found.unrecorded.append(f"{key}: {count} agent starts, {len(known)} runs recorded")

    found.leftovers += _leftovers(ws, runs)
    return found


def _leftovers(ws: Path, runs: list) -> list[str]:
    left = []
    worktrees = _git(ws, "worktree", "list", "--porcelain").count("worktree ")
    if worktrees != 1:
        left.append(f"{worktrees - 1} worktree(s)")
    left += [f"branch {b.strip()}" for b in _git(ws, "branch", "--list", "marathon/*").split()
             if b.strip() and b.strip() != "*"]  # fmt: skip
    left += [f"lock {p.relative_to(ws)}" for p in (ws / ".git").rglob("*.lock")]
    folder = ws / ".marathon" / "worktrees"
    left += [f"folder {p.relative_to(ws)}" for p in folder.glob("*")] if folder.exists() else []
    left += [f"run {r.task} still running" for r in runs if r.status == "running"]
    with sqlite3.connect(ws / ".marathon" / "records.db") as conn:
        left += [
            f"merge of {row[0]} unfinished" for row in conn.execute("SELECT issue FROM merges")
        ]
    left += [f"process {pid}" for pid in processes_in(ws)]
    return left


def processes_in(ws: Path, settle: float = 3.0) -> list[int]:
    """Living processes whose working directory is in `ws` (a killed one may take a moment)."""
    deadline = time.monotonic() + settle
    while True:
        found = _processes_in(ws)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _processes_in(ws: Path) -> list[int]:
    root = str(ws.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if state not in ("Z", "X") and (cwd == root or cwd.startswith(root + "/")):
            found.append(int(entry.name))
    return found


def _git(ws: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ws, capture_output=True, text=True)
    assert done.returncode == 0, f"git {' '.join(args)} in {ws}: {done.stderr.strip()}"
    return done.stdout


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
