"""One JSON object per line per event, for machines (CI dashboards, the test-suite, scripts).

Every task gets events, groups included (with "kind": "group"), so a consumer can account for
every task doit selected. Field names are stable: event, task, kind, issue, phase, log, time,
and per event duration / error / message / tail, or the summary counts for "complete".
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any, TextIO

from engine.report import events as ev
from engine.report.events import Event
from engine.report.state import RunState


def event_dict(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {"event": event.kind, "time": round(event.time, 3)}
    if event.task is not None:
        data.update(
            task=event.task.name,
            kind=event.task.kind,
            issue=event.task.issue,
            phase=event.task.phase,
            log=event.task.log,
        )
    if event.kind in (ev.SUCCESS, ev.FAILURE):
        data["duration"] = None if event.duration is None else round(event.duration, 3)
    if event.kind in (ev.FAILURE, ev.NOT_RUN):
        data.update(error=event.error, message=event.message)
    if event.kind == ev.FAILURE:
        data["tail"] = event.tail
    if event.kind in (ev.RUNTIME_ERROR, ev.REFUSED):
        data["message"] = event.message
    if event.kind == ev.OUTPUT:
        data["text"] = event.message
    if event.kind == ev.COMPLETE:
        data.update(event.summary)
    return data


class JsonSink:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._lock = threading.Lock()

    def open(self, state: RunState) -> None:
        pass

    def emit(self, event: Event) -> None:
        line = json.dumps(event_dict(event), sort_keys=True)
        with self._lock, contextlib.suppress(BrokenPipeError):
            # A reader that stopped early (`| head`) ends the output, not the run.
            self.out.write(line + "\n")
            if event.kind != ev.UP_TO_DATE:  # see PlainSink.emit
                self.out.flush()

    def close(self) -> None:
        with self._lock, contextlib.suppress(BrokenPipeError):
            self.out.flush()
