"""`doit sync`: pull the tracker's issues into the local snapshot that task loading reads.

This is the only command that reads Linear; `doit list` and friends read the snapshot. Errors are
one line (MarathonError) and the exit code says whether the input was bad (2) or Linear failed (1).
"""

from __future__ import annotations

from typing import TextIO

from engine.errors import MarathonError
from engine.trackers.base import Tracker


def run_sync(tracker: Tracker, *, out: TextIO) -> int:
    """Sync `tracker` into its snapshot, print a one-line summary; returns the exit code."""
    try:
        summary = tracker.sync()
    except MarathonError as error:
        out.write(f"sync failed: {error.one_line()}\n")
        return error.exit_code
    out.write(f"{summary}\n")
    return 0
