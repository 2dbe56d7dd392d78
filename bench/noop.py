"""A rerun with everything up to date, for 10, 100 and 1000 issues.

Each size: a first run does the work (agents are `true`, so it is quick), then `doit -n 4 issue`
again must find every task up to date. Printed against `doit list` in the same workspace, which
pays the same start-up (imports, loading marathon.yaml and the snapshot, compiling) and runs
nothing. Target (issue 2): the no-op rerun under 1 s at 1000 issues.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _common import add_issues, doit, make_workspace

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
  qa: {after: [code], agent: bot, prompt: qa.md.j2, reads: ["src/**"], writes: ["tests/e2e/**"]}
  exit: {after: [test, qa], builtin: exit}
"""


def measure(count: int) -> tuple[float, float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_workspace(Path(tmp) / "ws", PIPELINE)
        (root / "src").mkdir()
        for n in range(20):
            (root / "src" / f"module_{n}.py").write_text(f"VALUE = {n}\n")
        add_issues(root, count)
        first = doit(root, "-n", "4", "issue")
        listing = min(doit(root, "list") for _ in range(3))
        noop = min(doit(root, "-n", "4", "issue") for _ in range(3))
        serial = min(doit(root, "issue") for _ in range(3))
        return first, listing, noop, serial


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [10, 100, 1000]
    print(
        f"{'issues':>7} {'first run':>10} {'doit list':>10} {'no-op -n 4':>11} "
        f"{'no-op -n 1':>11} {'(-n 4)/list':>12}"
    )
    for count in sizes:
        first, listing, noop, serial = measure(count)
        print(
            f"{count:7d} {first:9.2f}s {listing:9.2f}s {noop:10.2f}s {serial:10.2f}s "
            f"{noop / listing:11.2f}x"
        )
    print("target: no-op rerun under 1 s at 1000 issues")


if __name__ == "__main__":
    main()
