"""`settled_tasks`: the phases of finished issues doit may skip without asking, read at load
from the stamps' `issue` input alone."""

from __future__ import annotations

from pathlib import Path

from engine.config.load import parse_pipeline
from engine.fingerprint import issue_digest
from engine.issue import Issue
from engine.records import Records
from engine.run.phase import settled_tasks
from tests.conftest import FAST_PIPELINE


def test_finished_issues_with_unchanged_text_are_settled(tmp_path: Path) -> None:
    pipeline = parse_pipeline(FAST_PIPELINE, path=tmp_path / "marathon.yaml", root=tmp_path)
    done = Issue("PROJ-1", "done", state="completed")
    edited = Issue("PROJ-2", "edited since", state="completed")
    running = Issue("PROJ-3", "open")
    assert settled_tasks(pipeline, [done, edited, running]) == frozenset()  # no records yet
    records = Records(pipeline.records_db)
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
