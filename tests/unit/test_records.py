"""records.db: what the ranks and the time-left estimate read from it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.records import Records


def test_phase_durations_are_medians_of_successful_issue_phases(tmp_path: Path) -> None:
    records = Records(tmp_path / "records.db")
    assert records.phase_durations() == {}  # no file yet, and none is made

    def run(task: str, issue: str, phase: str, status: str, seconds: float | None) -> None:
        run_id = records.start_run("s1", task, issue, phase, "log")
        if seconds is None:
            return  # still running
        records.finish_run(run_id, status)
        with sqlite3.connect(records.path) as conn:
            conn.execute(
                "UPDATE runs SET started = 100, ended = ? WHERE id = ?", (100 + seconds, run_id)
            )

    for seconds in (10.0, 30.0, 20.0):
        run("issue:PROJ-1:code", "PROJ-1", "code", "success", seconds)
    run("issue:PROJ-2:code", "PROJ-2", "code", "failed", 500.0)  # failures do not count
    run("issue:PROJ-2:plan", "PROJ-2", "plan", "success", 4.0)
    run("issue:PROJ-3:plan", "PROJ-3", "plan", "running", None)  # not finished
    run("verify:lint", "", "lint", "success", 99.0)  # a check, not an issue's phase
    assert records.phase_durations() == {"code": 20.0, "plan": 4.0}


def test_no_records_file_is_created_by_reading(tmp_path: Path) -> None:
    Records(tmp_path / "records.db").phase_durations()
    assert not (tmp_path / "records.db").exists()
