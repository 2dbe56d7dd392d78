"""One issue through the default pipeline shape, stand-in agents sleeping the seed's durations
divided by 100. Prints wall time with -n 1 and -n 4, the critical path, and the ratios.

Targets (issue 2): -n 4 within 1.10 x critical path + 0.3 s, and at least 1.3 x faster than -n 1.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import add_issues, doit, issue_critical_path, issue_work, make_workspace, seed_pipeline

CRITICAL_PATH = issue_critical_path()
SEQUENTIAL = issue_work()
PIPELINE = seed_pipeline()


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
