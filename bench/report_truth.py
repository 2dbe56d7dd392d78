"""Does the timeline report tell the truth? Four issues (two chains of two) through the seed
pipeline (stand-in agents, durations / 100), once with -n 1 and once with -n 4, and what each
run's report claims next to what was measured.

Targets (issue 14): a -n 1 report claims no time saved (within 5 % of its wall time); lanes
equal the peak number of phases running at once, counted here from the records independently;
the -n 4 report's speed-up without a baseline is no more than the measured -n 1 / -n 4 ratio
plus 10 % (it is counted from the -n 4 run's own, contended, durations).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import add_issues, doit, make_workspace, seed_pipeline

from engine.records import Records, RunRecord
from engine.report.timeline import layout, totals


def peak(runs: list[RunRecord]) -> int:
    """The most issue phases running at the same moment (a sweep over start/end events)."""
    events = sorted(
        [(r.started, 1) for r in runs if r.issue]
        + [(r.ended or r.started, -1) for r in runs if r.issue],
        key=lambda e: (e[0], e[1]),
    )
    now = best = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def one_run(jobs: int) -> tuple[float, list[RunRecord]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_workspace(Path(tmp) / "ws", seed_pipeline())
        add_issues(root, 4, edges=[(1, 3), (2, 4)])
        doit(root, "list")
        seconds = doit(root, "-n", str(jobs), "marathon")
        return seconds, Records(root / ".marathon" / "records.db").runs()


def main() -> None:
    results = {}
    for jobs in (1, 4):
        seconds, runs = one_run(jobs)
        sums = totals(layout(runs, gates=frozenset({"verify"}))[0])
        results[jobs] = sums
        print(
            f"-n {jobs}: doit took {seconds:5.2f} s; report: wall {sums.wall:5.2f} s, "
            f"one after another {sums.busy:5.2f} s, saved {sums.saved:5.2f} s "
            f"({sums.saved / sums.wall:5.1%} of wall), x{sums.speedup:4.2f}, "
            f"lanes {sums.lanes} (peak measured {peak(runs)})"
        )
    one, four = results[1], results[4]
    measured = one.wall / four.wall
    print(f"-n 1 time saved / wall   {one.saved / one.wall:6.1%}   (target <= 5 %)")
    print(f"measured -n 1 / -n 4     {measured:6.2f} x")
    print(
        f"-n 4 report claims       {four.speedup:6.2f} x   (target <= {1.1 * measured:.2f}, "
        "measured + 10 %; with the -n 1 run as baseline it is the measured ratio)"
    )


if __name__ == "__main__":
    main()
