"""Pick the tracker marathon.yaml asks for. The local snapshot is always the one tasks read."""

from __future__ import annotations

from engine.config.model import Pipeline
from engine.trackers.base import Tracker
from engine.trackers.local import LocalTracker


def open_snapshot(pipeline: Pipeline) -> LocalTracker:
    return LocalTracker(pipeline.tracker_db, pipeline.key_prefix)


def open_tracker(pipeline: Pipeline) -> Tracker:
    snapshot = open_snapshot(pipeline)
    if pipeline.tracker.kind == "linear":
        # Imported here so a local workspace never loads the Linear client.
        from engine.trackers.linear.tracker import LinearTracker

        return LinearTracker(pipeline.tracker, snapshot)
    return snapshot
