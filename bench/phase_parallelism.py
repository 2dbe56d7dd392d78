"""One issue through the default pipeline shape, stand-in agents sleeping the seed's durations
divided by 100. Prints wall time with -n 1 and -n 4, the critical path, and the ratios.

Targets (issue 2): -n 4 within 1.10 x critical path + 0.3 s, and at least 1.3 x faster than -n 1.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import add_issues, doit, make_workspace

# The seed: VERIFY ~30 s split into unit/integration/lint/typecheck, PLAN 60, CODE 180,
# TEST 120, QA 120, EXIT 10; all / 100.
CHECKS = {"unit": 0.15, "integration": 0.08, "lint": 0.04, "typecheck": 0.03}
PHASES = {"plan": 0.6, "code": 1.8, "test": 1.2, "qa": 1.2, "exit": 0.1}
CRITICAL_PATH = (
    max(CHECKS.values())
    + PHASES["plan"]
    + PHASES["code"]
    + max(PHASES["test"], PHASES["qa"])
    + PHASES["exit"]
)
SEQUENTIAL = sum(CHECKS.values()) + sum(PHASES.values())


# Stand-in agents as plain commands: sleep the phase's time, then write one file inside the
# phase's write set, so commits and write-set checks are measured too. The issue id reaches sh
# as an environment variable inside quotes, never as part of the script.
def agent(seconds: float, folder: str, name: str) -> str:
    script = f'sleep {seconds}; mkdir -p {folder}; cat > "{folder}/{name}"'
    return f"{{preset: command, command: [sh, -c, '{script}']}}"


PIPELINE = (
    "key_prefix: PROJ\nagents:\n"
    f"  planner: {agent(PHASES['plan'], '.marathon/plans', '$MARATHON_ISSUE.md')}\n"
    f"  coder: {agent(PHASES['code'], 'src', '$MARATHON_ISSUE.py')}\n"
    f"  tester: {agent(PHASES['test'], 'tests/unit', 'test_$MARATHON_ISSUE.py')}\n"
    f"  qa: {agent(PHASES['qa'], 'tests/e2e', 'test_$MARATHON_ISSUE.py')}\n"
    "checks:\n"
    + "".join(
        f"  {name}: {{command: [sleep, '{seconds}'], reads: ['src/**']}}\n"
        for name, seconds in CHECKS.items()
    )
    + f"""\
phases:
  verify: {{checks: all}}
  plan: {{after: [verify], agent: planner, prompt: plan.md.j2, writes: [".marathon/plans/{{id}}.md"]}}
  code: {{after: [plan], agent: coder, prompt: code.md.j2, reads: ["src/**"], writes: ["src/**"]}}
  test: {{after: [code], agent: tester, prompt: test.md.j2, writes: ["tests/unit/**"]}}
  qa: {{after: [code], agent: qa, prompt: qa.md.j2, writes: ["tests/e2e/**"]}}
  wrapup: {{after: [test, qa], command: [sleep, '{PHASES["exit"]}']}}
  exit: {{after: [wrapup], builtin: exit}}
"""
)


def one_run(jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_workspace(Path(tmp) / "ws", PIPELINE)
        add_issues(root, 1)
        doit(root, "list")  # as `doit init` would have: the workspace has loaded its pipeline once
        return doit(root, "-n", str(jobs), "issue:PROJ-1")


def main() -> None:
    sequential = one_run(1)
    parallel = one_run(4)
    print(f"critical path      {CRITICAL_PATH:6.2f} s   (sum of all steps {SEQUENTIAL:.2f} s)")
    print(f"doit -n 1          {sequential:6.2f} s")
    print(f"doit -n 4          {parallel:6.2f} s")
    print(f"-n 1 / -n 4        {sequential / parallel:6.2f} x   (target >= 1.30)")
    print(
        f"-n 4 / critical    {parallel / CRITICAL_PATH:6.2f} x   "
        f"(target <= {(1.10 * CRITICAL_PATH + 0.3) / CRITICAL_PATH:.2f}, i.e. 1.10 x + 0.3 s)"
    )


if __name__ == "__main__":
    main()
