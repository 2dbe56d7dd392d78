"""A marathon of 22 issues with a realistic dependency graph (levels of width 1 to 6), stand-in
agents sleeping the seed's durations / 100. Prints wall time for -n 1 (one issue at a time, as
the seed tool works) and -n 4, and the lower bound max(critical path, total work / 4).

Targets (issue 6): -n 4 at least 2.5 x faster than -n 1, and within 1.25 x of the lower bound.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from _common import add_issues, doit, issue_critical_path, issue_work, make_workspace, seed_pipeline

# Issues per dependency level: setup, models, endpoints, UI pieces, wiring, polish, release.
LEVEL_WIDTHS = (1, 3, 6, 5, 4, 2, 1)


def synthetic_graph() -> tuple[int, list[tuple[int, int]]]:
    """Issue count and (blocker, blocked) edges: each issue waits for one or two issues of the
    level before it, spread so that levels mix and match as a spec's steps do."""
    levels: list[list[int]] = []
    number = 1
    for width in LEVEL_WIDTHS:
        levels.append(list(range(number, number + width)))
        number += width
    edges = []
    for above, level in itertools.pairwise(levels):
        for index, issue in enumerate(level):
            edges.append((above[index % len(above)], issue))
            if len(above) > 1 and index % 2 == 0:
                edges.append((above[(index + 1) % len(above)], issue))
    return number - 1, edges


def one_run(jobs: int, count: int, edges: list[tuple[int, int]]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_workspace(Path(tmp) / "ws", seed_pipeline())
        add_issues(root, count, edges)
        doit(root, "list")  # as `doit init` would have: the pipeline has been loaded once
        return doit(root, "-n", str(jobs), "marathon")


def main() -> None:
    count, edges = synthetic_graph()
    chain = len(LEVEL_WIDTHS) * issue_critical_path()
    work = count * issue_work()
    bound = max(chain, work / 4)
    sequential = one_run(1, count, edges)
    parallel = one_run(4, count, edges)
    print(
        f"{count} issues, {len(edges)} edges, levels of width {', '.join(map(str, LEVEL_WIDTHS))}"
    )
    print(f"critical path      {chain:7.2f} s   ({len(LEVEL_WIDTHS)} issues one after another)")
    print(f"total work / 4     {work / 4:7.2f} s   (total work {work:.2f} s)")
    print(f"lower bound        {bound:7.2f} s")
    print(f"doit -n 1          {sequential:7.2f} s")
    print(f"doit -n 4          {parallel:7.2f} s")
    print(f"-n 1 / -n 4        {sequential / parallel:7.2f} x   (target >= 2.50)")
    print(f"-n 4 / bound       {parallel / bound:7.2f} x   (target <= 1.25)")
    # The bound above packs all work perfectly, which levels of width 2 and 1 cannot. For
    # reference (not a lower bound): an ideal level-by-level schedule, each level taking
    # max(one issue's critical path, the level's work / 4).
    levels = sum(max(issue_critical_path(), w * issue_work() / 4) for w in LEVEL_WIDTHS)
    print(f"-n 4 / by level    {parallel / levels:7.2f} x   (ideal level-by-level {levels:.2f} s)")


if __name__ == "__main__":
    main()
