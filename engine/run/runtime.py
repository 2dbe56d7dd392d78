"""Per-process services shared by the tasks of one doit run: records, tracker, session id."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from engine.config.model import Pipeline
from engine.records import Records
from engine.run import process
from engine.trackers.base import Tracker
from engine.trackers.open import open_tracker

SESSION = uuid.uuid4().hex[:12]  # one doit invocation

_lock = threading.Lock()
_runtimes: dict[Path, Runtime] = {}


@dataclass
class Runtime:
    pipeline: Pipeline
    records: Records
    _tracker: Tracker | None = None
    _reaped: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _check_locks: dict[str, threading.Lock] = field(default_factory=dict)

    def check_lock(self, check: str) -> threading.Lock:
        """One run of a check at a time, when several issues' gates want it at once."""
        with self._lock:
            return self._check_locks.setdefault(check, threading.Lock())

    @property
    def tracker(self) -> Tracker:
        with self._lock:
            if self._tracker is None:
                self._tracker = open_tracker(self.pipeline)
            return self._tracker

    def reap_stale_runs(self) -> None:
        """Runs left 'running' by a doit that died (kill -9): stop their agents, mark them."""
        with self._lock:
            if self._reaped:
                return
            self._reaped = True
        for run_id, pgid in self.records.stale_running():
            if pgid:
                process.kill_group(pgid)
            self.records.finish_run(run_id, "interrupted", error="the doit process running it died")


def runtime_for(pipeline: Pipeline) -> Runtime:
    with _lock:
        found = _runtimes.get(pipeline.root)
        if found is None or found.pipeline is not pipeline:
            found = Runtime(pipeline, Records(pipeline.records_db))
            _runtimes[pipeline.root] = found
        return found
