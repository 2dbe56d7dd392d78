"""Write the timeline of the latest doit run from records.db (what a run calls when it ends)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from engine.records import Records
from engine.report.console import MarathonReporter
from engine.run.runtime import SESSION


def report_latest_session(
    state_dir: Path,
    *,
    deps: Mapping[str, Iterable[str]] | None = None,
    title: str = "",
    session: str = "",
    gates: frozenset[str] | None = None,
    not_run: Sequence[tuple[str, str]] = (),
    baseline: float | None = None,
    path: Path | None = None,
) -> Path | None:
    """Timeline of one session's runs (default: the newest run's session); None if it has none.

    `deps` (task -> tasks it waits for) makes the critical path exact instead of inferred;
    `gates` names the phases that run checks inside them; `not_run` lists (task, reason) for
    tasks that never started; `baseline` is a measured sequential run's wall time; `path`
    rewrites that report instead of adding one.
    """
    # Loaded when a run ends, not when doit starts.
    from engine.report.critical import critical_path
    from engine.report.timeline import write_timeline

    runs = Records(state_dir / "records.db").runs()
    if not runs:
        return None
    session = session or runs[-1].session  # runs() is ordered by id
    mine = [run for run in runs if run.session == session]
    if not mine:
        return None
    chain = critical_path(mine, deps) if deps is not None else None
    return write_timeline(
        mine,
        state_dir / "reports",
        title=title or f"marathon run {session}",
        critical_path=chain,
        gates=gates,
        not_run=not_run,
        baseline=baseline,
        path=path,
    )


def reporter_for(
    state_dir: Path,
    deps: Mapping[str, Iterable[str]] | None = None,
    filed: Callable[[], list[str]] | None = None,
    gates: frozenset[str] | None = None,
) -> type[MarathonReporter]:
    """A MarathonReporter class that writes the run's timeline when the run ends, and names
    the issues filed while it ran (`filed`, asked only after a failure).

    For DOIT_CONFIG["reporter"]: doit accepts a class there. (Made per workspace because doit
    constructs reporters itself and passes no workspace; the thread runner never pickles it.)
    """

    class WorkspaceReporter(MarathonReporter):
        def write_report(self) -> str:
            # Only this process's phases and checks: `doit status` or `doit why` add none.
            path = report_latest_session(
                state_dir, deps=deps, session=SESSION, gates=gates, not_run=self.not_run
            )
            return "" if path is None else str(path)

        def is_lock_refusal(self, message: str) -> bool:
            # engine/run/lock.py names the lock file first, as every located error does
            return message.startswith(f"{state_dir / 'run.lock'}: ")

        def interrupted_tasks(self) -> list[str]:
            runs = Records(state_dir / "records.db").runs()
            return sorted(
                {r.task for r in runs if r.session == SESSION and r.status == "interrupted"}
            )

        def filed_issues(self) -> list[str]:
            return filed() if filed is not None else []

    return WorkspaceReporter
