"""The terminal view: a rich Live panel of running tasks (elapsed time, log to tail) with each
finished task's line and each failure's log tail printed above it as one block.

Up-to-date tasks are only counted here (a rerun of a thousand issues would otherwise scroll
thousands of lines); the plain and JSON modes list them one by one.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.file_proxy import FileProxy
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from engine.report import events as ev
from engine.report.events import Event, display_path, format_duration
from engine.report.plain import failure_body, report_lines, summary_line
from engine.report.state import RunState


class RichSink:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._state: RunState | None = None
        self._live: Live | None = None
        self._lock = threading.Lock()
        self._ticking = threading.Event()  # set: the ticker stops
        self._ticker: threading.Thread | None = None

    def open(self, state: RunState) -> None:
        self._state = state
        # Not rich's own refresh thread: redrawing at its own pace while another thread printed
        # was seen, once under heavy load, to leave a printed line erased by the redraw. Our
        # ticker and the printing take one lock, so a redraw and a line never overlap.
        self._live = Live(
            console=self.console,
            get_renderable=self._render,
            auto_refresh=False,
            transient=True,
        )
        self._live.start()
        self._ticking.clear()
        self._ticker = threading.Thread(target=self._tick, daemon=True, name="live-panel")
        self._ticker.start()

    def _tick(self) -> None:
        while not self._ticking.wait(0.25):
            with self._lock:
                if self._live is not None:
                    self._live.refresh()

    def emit(self, event: Event) -> None:
        renderable = self._line(event)
        with self._lock:
            if renderable is not None:
                # One print per event: rich writes it above the live panel in one piece.
                self.console.print(renderable)
            if self._live is not None:
                # Redraw now rather than at the next tick, so the panel never lags the lines.
                self._live.refresh()

    def streams(self) -> tuple[TextIO, TextIO]:
        """Command output while the panel is up: each line printed above it, never under it."""
        return FileProxy(self.console, sys.stdout), FileProxy(self.console, sys.stderr)

    def close(self) -> None:
        self._ticking.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None

    def _line(self, event: Event) -> RenderableType | None:
        task = event.task
        if event.kind == ev.COMPLETE:
            style = "bold green" if event.summary.get("ok") else "bold red"
            line = Text(summary_line(event.summary), style=style)
            extra = report_lines(event.summary)
            return Group(line, Text(extra.rstrip("\n"), style="dim")) if extra else line
        if event.kind == ev.RUNTIME_ERROR:
            return Text(f"doit: {event.message.rstrip()}", style="bold red")
        if event.kind == ev.REFUSED:
            return Text(f"error: {event.message}", style="bold red")
        if event.kind == ev.OUTPUT:
            return Text(event.message)
        if task is None or task.is_group:
            return None
        if event.kind == ev.SUCCESS:
            return _status_line("✓", task.name, format_duration(event.duration), "green")
        if event.kind == ev.IGNORED:
            return _status_line("!", task.name, "ignored", "yellow")
        if event.kind == ev.NOT_RUN:
            return _status_line("·", task.name, f"not run: {event.message.strip()}", "yellow")
        if event.kind == ev.FAILURE and event.error == "InternalError":
            return Group(
                _status_line("✗", task.name, format_duration(event.duration), "red"),
                Text(f"error: {event.message}", style="red"),
            )
        if event.kind == ev.FAILURE:
            head = _status_line("✗", task.name, format_duration(event.duration), "red")
            subtitle = f"log: {display_path(task.log)}" if task.log else None
            body = Text(failure_body(event))
            panel = Panel(
                body,
                title=Text(f"{task.name} failed: {event.error}"),
                subtitle=Text(subtitle) if subtitle else None,
                border_style="red",
                title_align="left",
            )
            return Group(head, panel)
        return None

    def _render(self) -> RenderableType:
        state = self._state
        if state is None:
            return Text("")
        now = time.time()
        running = [
            (name, info, since)
            for name, (info, since) in state.running.items()
            if not info.is_group
        ]
        header = Text(
            f"running {len(running)} · ran {state.ran} · up to date {state.up_to_date}"
            f" · failed {state.failed} · {format_duration(now - state.started)}",
            style="bold",
        )
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        table.add_column(style="dim", overflow="ellipsis", no_wrap=True)
        for name, info, since in sorted(running, key=lambda item: item[2]):
            log = f"tail -f {display_path(info.log)}" if info.log else ""
            table.add_row(Text(name, style="cyan"), format_duration(now - since), log)
        return Group(header, table)


def _status_line(mark: str, name: str, detail: str, style: str) -> Text:
    line = Text()
    line.append(f"{mark} ", style=style)
    line.append(name)
    line.append(f"  {detail}", style="dim" if style == "green" else style)
    return line
