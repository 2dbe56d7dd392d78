"""`settled_tasks`: the phases of finished issues doit may skip without asking, known at load
from one read of the stamps and one digest per issue."""

from __future__ import annotations

from pathlib import Path

from engine.config.load import parse_pipeline
from engine.fingerprint import issue_digest
from engine.issue import Issue
from engine.run.phase import settled_tasks
from engine.run.runtime import runtime_for
from tests.conftest import FAST_PIPELINE


def test_finished_issues_with_unchanged_text_are_settled(tmp_path: Path) -> None:
    pipeline = parse_pipeline(FAST_PIPELINE, path=tmp_path / "marathon.yaml", root=tmp_path)
    done = Issue("PROJ-1", "done", state="completed")
    edited = Issue("PROJ-2", "edited since", state="completed")
    running = Issue("PROJ-3", "open")
    assert settled_tasks(pipeline, [done, edited, running]) == frozenset()  # no records yet
    records = runtime_for(pipeline).records  # the records the loader reads
    for issue, text in ((done, done), (edited, Issue("PROJ-2", "as it was")), (running, running)):
        for phase in ("plan", "code", "exit"):
            inputs = {"issue": issue_digest(text), "prompt": "p"}
            records.save_stamp(f"issue:{issue.id}:{phase}", inputs, "out")
    records.save_stamp("issue:PROJ-1:test", {"prompt": "p"}, "out")  # no issue input at all
    assert settled_tasks(pipeline, [done, edited, running]) == {
        "issue:PROJ-1:plan",
        "issue:PROJ-1:code",
        "issue:PROJ-1:exit",
    }
    # The same answer the run-time rule gives, phase by phase.
    from engine.run.phase import _still_done

    stamps = records.all_stamps()
    expected = {
        name
        for issue in (done, edited)
        for name in (f"issue:{issue.id}:{p}" for p in pipeline.phases)
        if _still_done(issue, stamps.get(name))
    }
    assert settled_tasks(pipeline, [done, edited, running]) == expected


def test_a_stamp_the_engine_did_not_write_settles_nothing(tmp_path: Path) -> None:
    # An agent that writes a matching stamp into records.db by hand must not get its phase
    # skipped: the loader reads stamps only through the keyed check (engine/records.py).
    import json
    import sqlite3

    pipeline = parse_pipeline(FAST_PIPELINE, path=tmp_path / "marathon.yaml", root=tmp_path)
    done = Issue("PROJ-1", "done", state="completed")
    runtime_for(pipeline).records.save_stamp(
        "issue:PROJ-1:plan", {"issue": issue_digest(done)}, "out"
    )
    with sqlite3.connect(pipeline.records_db) as conn:
        conn.execute(
            "INSERT INTO stamps (task, inputs, outputs, finished) VALUES (?, ?, 'out', 0)",
            ("issue:PROJ-1:code", json.dumps({"issue": issue_digest(done)})),
        )
    fresh = parse_pipeline(FAST_PIPELINE, path=tmp_path / "marathon.yaml", root=tmp_path)
    assert settled_tasks(fresh, [done]) == {"issue:PROJ-1:plan"}
