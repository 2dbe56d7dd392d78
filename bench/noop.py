"""A rerun with everything up to date, for 10, 100, 1000 and 3000 issues, against plain doit
running the same task graph.

Each size: a first run does the work (agents are `true`, so it is quick), then `doit -n 4 issue`
again must find every task up to date. Printed against two references in the same process:

* `doit list` in the same workspace, which pays the same start-up (imports, loading
  marathon.yaml and the snapshot, compiling) and runs nothing;
* plain doit with the same tasks (the floor): a dodo.py of its own declaring every compiled
  task with the same name, group and `task_dep` edges, a Python action that does nothing and
  `uptodate: [True]`, run once, then timed the same way. What is left above it is the engine.

Targets (issue 18): at 1000 issues the no-op within 1.4 x of the floor and under 0.45 s, at
3000 issues under 1.3 s (issue 2: under 1 s at 1000).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from _common import add_issues, doit, make_workspace

from engine.compile import READ_ONLY_RUNNERS, compile_tasks, task_name
from engine.config.load import load_pipeline
from engine.trackers.open import open_snapshot

PIPELINE = """\
key_prefix: PROJ
agents:
  bot: {preset: command, command: ["true"]}
checks:
  lint: {command: ["true"], reads: ["src/**"]}
  unit: {command: ["true"], reads: ["src/**", "tests/**"]}
phases:
  verify: {checks: all}
  plan: {after: [verify], agent: bot, prompt: plan.md.j2, writes: [".marathon/plans/{id}.md"]}
  code: {after: [plan], agent: bot, prompt: code.md.j2, reads: ["src/**"], writes: ["src/**"]}
  test: {after: [code], agent: bot, prompt: test.md.j2, writes: ["tests/unit/**"]}
  qa: {after: [code], agent: bot, prompt: qa.md.j2, writes: ["tests/e2e/**"]}
  exit: {after: [test, qa], builtin: exit}
"""

FLOOR_DODO = '''\
"""Plain doit, the same task graph as the workspace beside it: nothing of marathon-engine."""
import json
from pathlib import Path

DOIT_CONFIG = {"par_type": "thread", "dep_file": "doit-floor.db", "backend": "sqlite3"}


def nothing():
    return True


def task_floor():
    for basename, name, deps, action in json.loads(Path("tasks.json").read_text()):
        task = {"basename": basename, "name": name, "task_dep": deps, "verbosity": 0}
        task["actions"] = [nothing] if action else None
        if action:
            task["uptodate"] = [True]
        yield task
'''


def floor_workspace(root: Path, folder: Path) -> Path:
    """A plain doit project with `root`'s compiled task graph."""
    pipeline = load_pipeline(root)
    tasks = compile_tasks(pipeline, open_snapshot(pipeline).snapshot(), READ_ONLY_RUNNERS)
    folder.mkdir()
    rows = [
        [t["basename"], t.get("name"), list(t.get("task_dep", ())), bool(t.get("actions"))]
        for t in tasks
        if task_name(t)
    ]
    (folder / "tasks.json").write_text(json.dumps(rows))
    (folder / "dodo.py").write_text(FLOOR_DODO)
    return folder


def measure(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_workspace(Path(tmp) / "ws", PIPELINE)
        (root / "src").mkdir()
        for n in range(20):
            (root / "src" / f"module_{n}.py").write_text(f"VALUE = {n}\n")
        add_issues(root, count)
        first = doit(root, "-n", "4", "issue")
        floor = floor_workspace(root, Path(tmp) / "floor")
        doit(floor, "-n", "4", "issue")  # records every task's success, as the first run did
        out = {"first": first}
        for _ in range(3):  # interleaved, so a busy moment of the machine hits both
            for key, where, args in (
                ("list", root, ("list",)),
                ("noop", root, ("-n", "4", "issue")),
                ("floor", floor, ("-n", "4", "issue")),
                ("serial", root, ("issue",)),
            ):
                out[key] = min(out.get(key, float("inf")), doit(where, *args))
        return out


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [10, 100, 1000, 3000]
    print(
        f"{'issues':>7} {'first run':>10} {'doit list':>10} {'no-op -n 4':>11} "
        f"{'no-op -n 1':>11} {'floor -n 4':>11} {'no-op/floor':>12}"
    )
    for count in sizes:
        m = measure(count)
        print(
            f"{count:7d} {m['first']:9.2f}s {m['list']:9.2f}s {m['noop']:10.2f}s "
            f"{m['serial']:10.2f}s {m['floor']:10.2f}s {m['noop'] / m['floor']:11.2f}x"
        )
    print("floor: plain doit, the same tasks and edges, every task up to date")
    print("targets: 1000 issues <= 1.4 x the floor and < 0.45 s; 3000 issues < 1.3 s")


if __name__ == "__main__":
    main()
