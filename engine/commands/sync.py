"""`doit sync`: pull the tracker's issues into the local snapshot that task loading reads.

This is the only command that reads Linear; `doit list` and friends read the snapshot. A failure
is a MarathonError, printed like every command's as one `error:` line on stderr; its exit code
says whether the input was bad (2, e.g. no API key) or Linear failed (1).
"""

from __future__ import annotations

from typing import TextIO

from engine.trackers.base import Tracker


def run_sync(tracker: Tracker, *, out: TextIO) -> int:
    """Sync `tracker` into its snapshot and print a one-line summary; raises MarathonError."""
    out.write(f"{tracker.sync()}\n")
    return 0
