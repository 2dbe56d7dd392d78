"""The embedded tracker on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import MarathonError
from engine.issue import Edge, IssueDraft
from engine.trackers.local import LocalTracker


@pytest.fixture
def tracker(tmp_path: Path) -> LocalTracker:
    return LocalTracker(tmp_path / "tracker.db", "PROJ")


DRAFTS = [
    IssueDraft("db", "[DB] schema", "tables", ("todos table exists",), priority=1),
    IssueDraft("api", "[API] list todos", priority=2),
    IssueDraft("ui", "[UI] list view", priority=3),
]
EDGES = [Edge("db", "api", "schema before API"), Edge("api", "ui", "API before UI")]


def test_import_assigns_ids_and_dependencies(tracker: LocalTracker) -> None:
    report = tracker.import_issues(DRAFTS, EDGES)
    assert report.created == ["PROJ-1", "PROJ-2", "PROJ-3"]
    assert report.edges_added == 2
    issues = {i.id: i for i in tracker.snapshot()}
    assert issues["PROJ-2"].dependencies == ("PROJ-1",)
    assert issues["PROJ-2"].blocks == ("PROJ-3",)
    assert issues["PROJ-1"].acceptance == ("todos table exists",)
    assert issues["PROJ-1"].priority == 1 and issues["PROJ-1"].state == "unstarted"
    assert {e.reason for e in tracker.edges()} == {"schema before API", "API before UI"}


def test_reimport_is_idempotent_and_updates_in_place(tracker: LocalTracker) -> None:
    tracker.import_issues(DRAFTS, EDGES)
    again = tracker.import_issues(DRAFTS, EDGES)
    assert not again.changed_anything
    assert again.unchanged == ["PROJ-1", "PROJ-2", "PROJ-3"]
    edited = [
        DRAFTS[0],
        IssueDraft("api", "[API] list and filter todos", priority=2),
        DRAFTS[2],
        IssueDraft("polish", "[Polish] empty state", priority=4),
    ]
    report = tracker.import_issues(edited, [EDGES[0], Edge("ui", "polish", "UI first")])
    assert report.updated == ["PROJ-2"] and report.created == ["PROJ-4"]
    assert report.edges_added == 1 and report.edges_removed == 1
    assert len(tracker.snapshot()) == 4
    assert tracker.get("PROJ-2").title == "[API] list and filter todos"


def test_hand_made_edges_survive_an_import(tracker: LocalTracker) -> None:
    tracker.import_issues(DRAFTS, EDGES)
    tracker.add_edge(Edge("PROJ-1", "PROJ-3", "by hand"))
    tracker.import_issues(DRAFTS, EDGES)
    assert tracker.get("PROJ-3").dependencies == ("PROJ-1", "PROJ-2")


def test_failed_import_writes_nothing(tracker: LocalTracker) -> None:
    with pytest.raises(MarathonError):
        tracker.import_issues(DRAFTS, [Edge("db", "nope", "x")])
    assert tracker.snapshot() == []


def test_states_comments_and_created_issues(tracker: LocalTracker) -> None:
    tracker.import_issues(DRAFTS, EDGES)
    tracker.set_state("PROJ-1", "completed")
    assert not tracker.get("PROJ-1").is_open
    with pytest.raises(MarathonError, match="unknown state"):
        tracker.set_state("PROJ-1", "finished")
    with pytest.raises(MarathonError, match="no issue 'PROJ-9'"):
        tracker.set_state("PROJ-9", "started")
    tracker.comment("PROJ-1", "done")
    assert tracker.comments("PROJ-1") == ["done"]
    bug = tracker.create_issue(
        IssueDraft("bug:abc", "[Bug] lint fails", kind="bug", priority=1), blocks=["PROJ-2"]
    )
    assert bug.id == "PROJ-4" and bug.kind == "bug"
    assert "PROJ-4" in tracker.get("PROJ-2").dependencies
    # the same key again is the same issue, not a duplicate
    assert (
        tracker.create_issue(IssueDraft("bug:abc", "[Bug] lint fails", kind="bug", priority=1)).id
        == "PROJ-4"
    )


def test_snapshot_of_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    tracker = LocalTracker(tmp_path / "sub" / "tracker.db", "PROJ")
    assert tracker.snapshot() == []
    assert not (tmp_path / "sub").exists()


def test_hand_made_issues_are_never_merged(tracker: LocalTracker) -> None:
    first = tracker.create_issue(IssueDraft("", "one"))
    second = tracker.create_issue(IssueDraft("", "two"))
    assert (first.id, second.id) == ("PROJ-1", "PROJ-2")
    assert [i.title for i in tracker.snapshot()] == ["one", "two"]


def test_an_edge_that_closes_a_cycle_is_refused(tmp_path: Path) -> None:
    tracker = LocalTracker(tmp_path / "tracker.db", "PROJ")
    a = tracker.create_issue(IssueDraft("", "a", ""))
    b = tracker.create_issue(IssueDraft("", "b", ""))
    tracker.add_edge(Edge(a.id, b.id, "a first"))
    with pytest.raises(MarathonError, match="form a cycle: PROJ-1 → PROJ-2 → PROJ-1"):
        tracker.add_edge(Edge(b.id, a.id, "b first"))
    assert [(e.blocker, e.blocked) for e in tracker.edges()] == [(a.id, b.id)]


def test_a_pending_import_warns_once_per_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tracker.db"
    LocalTracker(path, "PROJ").replace_snapshot([], [], import_failures={"edge a -> b": "500"})
    LocalTracker(path, "PROJ").snapshot()
    LocalTracker(path, "PROJ").snapshot()
    err = capsys.readouterr().err
    assert err.count("has not converged") == 1 and "edge a -> b: 500" in err
