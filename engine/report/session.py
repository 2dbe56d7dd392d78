"""Write the timeline of the latest doit run from records.db (what a run calls when it ends)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from engine.records import Records
from engine.report.console import MarathonReporter
from engine.report.critical import critical_path
from engine.report.timeline import write_timeline


def report_latest_session(
    state_dir: Path, *, deps: Mapping[str, Iterable[str]] | None = None, title: str = ""
) -> Path | None:
    """Timeline of the session of the newest run in `state_dir/records.db`; None if no runs.

    `deps` (task -> tasks it waits for) makes the critical path exact instead of inferred.
    """
    runs = Records(state_dir / "records.db").runs()
    if not runs:
        return None
    session = runs[-1].session  # runs() is ordered by id: the newest run's session
    mine = [run for run in runs if run.session == session]
    path = critical_path(mine, deps) if deps is not None else None
    return write_timeline(
        mine, state_dir / "reports", title=title or f"marathon run {session}", critical_path=path
    )


def reporter_for(
    state_dir: Path, deps: Mapping[str, Iterable[str]] | None = None
) -> type[MarathonReporter]:
    """A MarathonReporter class that writes the run's timeline when the run ends.

    For DOIT_CONFIG["reporter"]: doit accepts a class there. (Made per workspace because doit
    constructs reporters itself and passes no workspace; the thread runner never pickles it.)
    """

    class WorkspaceReporter(MarathonReporter):
        def write_report(self) -> str:
            path = report_latest_session(state_dir, deps=deps)
            return "" if path is None else str(path)

    return WorkspaceReporter
