"""The running tally the console keeps while doit runs: who is running since when, and counts.

`running` is replaced, never mutated, on every change, so a display thread (rich's refresh
thread, the plain heartbeat) can read it without taking the reporter's lock. Taking that lock
from the refresh thread could deadlock with a reporter call that is printing through rich.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from engine.report.events import TaskInfo


@dataclass
class RunState:
    started: float = field(default_factory=time.time)
    running: MappingProxyType[str, tuple[TaskInfo, float]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    ran: int = 0  # tasks (not groups) whose actions were executed, failed or not
    up_to_date: int = 0
    failed: int = 0
    not_run: int = 0  # never started because a dependency failed
    ignored: int = 0
    refused: int = 0  # never began: another doit holds the workspace lock
    errors: list[str] = field(default_factory=list)  # doit runtime / cleanup errors

    def start(self, info: TaskInfo, now: float) -> None:
        self.running = MappingProxyType({**self.running, info.name: (info, now)})

    def stop(self, name: str) -> float | None:
        """Forget a running task; its start time, or None if it never started."""
        entry = self.running.get(name)
        if entry is None:
            return None
        self.running = MappingProxyType({k: v for k, v in self.running.items() if k != name})
        return entry[1]

    def summary(self, now: float) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "up_to_date": self.up_to_date,
            "failed": self.failed,
            "not_run": self.not_run,
            "ignored": self.ignored,
            "refused": self.refused,
            "wall": round(now - self.started, 3),
            "ok": self.failed == 0 and self.refused == 0 and not self.errors,
        }
