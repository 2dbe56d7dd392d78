"""Pack task runs into lanes for the Gantt chart: runs that overlap in time never share a lane.

We pack by time rather than giving each issue its own lane: with `doit -n 4` the chart then has
at most about four lanes whatever the number of issues, so it reads as "what each worker slot
was doing", and idle gaps (lost parallelism) are visible at a glance. The task name on each bar
(and its hover text) says which issue it belongs to.

Greedy interval partitioning (sort by start, reuse the lane that freed up earliest) uses the
fewest lanes possible: exactly the peak number of runs at the same moment.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    key: int  # the run id
    start: float
    end: float


def assign_lanes(spans: Sequence[Span]) -> dict[int, int]:
    """Lane number (0-based) for each span key; a span ending exactly when another starts may
    share its lane (the second one started because the first one finished). Among free lanes
    the lowest is taken, so the busy lanes stay at the top of the chart."""
    lanes: dict[int, int] = {}
    busy: list[tuple[float, int]] = []  # (time the lane frees up, lane), a min-heap
    free: list[int] = []  # lanes free right now, a min-heap
    count = 0
    for span in sorted(spans, key=lambda s: (s.start, s.end, s.key)):
        while busy and busy[0][0] <= span.start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            lane = heapq.heappop(free)
        else:
            lane, count = count, count + 1
        lanes[span.key] = lane
        heapq.heappush(busy, (max(span.end, span.start), lane))
    return lanes
