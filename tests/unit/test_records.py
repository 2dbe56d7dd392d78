"""records.db: what the ranks and the time-left estimate read from it."""

from __future__ import annotations

import os
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


def test_a_stamp_the_engine_did_not_write_counts_as_none(tmp_path: Path) -> None:

    records = Records(tmp_path / "records.db")
    records.save_stamp("issue:PROJ-1:code", {"files": "abc"}, "out")
    with sqlite3.connect(tmp_path / "records.db") as db:
        row = db.execute("SELECT inputs, outputs, mac FROM stamps").fetchone()
        # a copy under another task's name, with the real stamp's own digest: forged
        db.execute(
            "INSERT INTO stamps (task, inputs, outputs, finished, mac) VALUES (?, ?, ?, 0, ?)",
            ("issue:PROJ-2:code", row[0], row[1], row[2]),
        )
        db.execute("INSERT INTO stamps VALUES ('issue:PROJ-3:code', '{}', 'x', 0, '')")
    fresh = Records(tmp_path / "records.db")
    assert set(fresh.all_stamps()) == {"issue:PROJ-1:code"}
    assert (tmp_path / "stamp.key").stat().st_mode & 0o777 == 0o600


def test_an_older_records_file_is_upgraded_and_keeps_its_stamps(tmp_path: Path) -> None:

    path = tmp_path / "records.db"
    with sqlite3.connect(path) as db:  # layout 1: before versions, child_start and mac
        db.executescript(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT NOT NULL,"
            " task TEXT NOT NULL, issue TEXT NOT NULL DEFAULT '', phase TEXT NOT NULL,"
            " attempt INTEGER NOT NULL, started REAL NOT NULL, ended REAL, status TEXT NOT NULL,"
            " exit_code INTEGER, log_path TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT"
            " '', signature TEXT NOT NULL DEFAULT '', owner_pid INTEGER NOT NULL, child_pgid"
            " INTEGER, cost_usd REAL, input_tokens INTEGER, output_tokens INTEGER, turns"
            " INTEGER, session_id TEXT NOT NULL DEFAULT '');"
            "CREATE TABLE stamps (task TEXT PRIMARY KEY, inputs TEXT NOT NULL,"
            " outputs TEXT NOT NULL, finished REAL NOT NULL);"
            "INSERT INTO stamps VALUES ('issue:PROJ-1:code', '{\"files\": \"abc\"}', 'out', 1);"
        )
    records = Records(path)
    assert records.stamp("issue:PROJ-1:code").inputs == {"files": "abc"}
    run = records.start_run("s", "issue:PROJ-1:code", "PROJ-1", "code", "")
    records.set_child(run, os.getpid())
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3
        assert db.execute("SELECT child_start FROM runs").fetchone()[0]
