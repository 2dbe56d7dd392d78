"""Importing a spec into the real local tracker.

Idempotent, updates in place, and a dry run writes nothing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from engine.commands.init import run_init
from engine.issue import Edge, IssueDraft
from engine.spec.importer import import_spec
from engine.trackers.base import ImportReport
from engine.trackers.local import LocalTracker
from tests.specs import EXAMPLE, write

SPEC = """<project_specification>
  <project_name>Shop</project_name>
  <database_schema>products: id, name, price</database_schema>
  <implementation_steps>
    <step number="1">
      <title>Data</title>
      - Create the `products` table
      - Create the ProductStore using `products`
    </step>
    <step number="2">
      <title>API</title>
      - Add GET /products endpoint
    </step>
  </implementation_steps>
</project_specification>
"""


def tracker(tmp_path: Path) -> LocalTracker:
    return LocalTracker(tmp_path / "tracker.db", "PROJ")


def test_first_import_creates_issues_and_edges(tmp_path: Path) -> None:
    t = tracker(tmp_path)
    plan, report = import_spec(t, EXAMPLE, dry_run=False)
    assert report is not None
    assert len(report.created) == 14  # 13 tasks + META
    assert report.edges_added == len(plan.edges) == 17
    issues = {issue.key: issue for issue in t.snapshot()}
    assert issues["skeleton"].id == "PROJ-1"
    assert issues["meta"].kind == "meta" and issues["meta"].id == "PROJ-14"
    storage = issues["storage"]
    assert set(storage.dependencies) == {issues["models"].id, issues["db"].id}
    assert storage.priority == 2
    assert storage.acceptance[0] == "add, get, list (all, done or open), update and delete"
    reasons = {(e.blocker, e.blocked): e.reason for e in t.edges()}
    assert reasons[(issues["models"].id, storage.id)] == "uses TodoItem"


def test_reimport_of_the_same_spec_changes_nothing(tmp_path: Path) -> None:
    t = tracker(tmp_path)
    import_spec(t, EXAMPLE, dry_run=False)
    before = (t.snapshot(), t.edges())
    _, report = import_spec(t, EXAMPLE, dry_run=False)
    assert report is not None
    assert not report.changed_anything
    assert len(report.unchanged) == 14
    assert (t.snapshot(), t.edges()) == before


def test_edited_spec_updates_and_adds_never_duplicates(tmp_path: Path) -> None:
    t = tracker(tmp_path)
    path = write(tmp_path, SPEC)
    import_spec(t, path, dry_run=False)
    ids = {issue.key: issue.id for issue in t.snapshot()}
    edited = SPEC.replace("products: id, name, price", "products: id, name, price, stock").replace(
        "      - Add GET /products endpoint\n",
        "      - Add GET /products endpoint\n      - Add POST /products endpoint\n",
    )
    write(tmp_path, edited)
    _, report = import_spec(t, path, dry_run=False)
    assert report is not None
    after = {issue.key: issue for issue in t.snapshot()}
    assert len(after) == len(ids) + 1  # one new task, nothing duplicated
    assert report.created == [after["add-post-products-endpoint"].id]
    # the schema text changed the data tasks; the new sibling changed the GET task's context
    assert ids["create-products-table"] in report.updated
    assert ids["add-get-products-endpoint"] in report.updated
    assert "stock" in after["create-products-table"].description
    for key, issue_id in ids.items():
        assert after[key].id == issue_id  # same ids as before
    assert set(after["add-post-products-endpoint"].dependencies) == {
        ids["create-productstore-using-products"]
    }


def test_removed_edges_are_removed_on_reimport(tmp_path: Path) -> None:
    t = tracker(tmp_path)
    path = write(tmp_path, SPEC)
    import_spec(t, path, dry_run=False)
    write(tmp_path, SPEC.replace('<step number="2">', '<step number="2" depends="">'))
    _, report = import_spec(t, path, dry_run=False)
    assert report is not None and report.edges_removed == 1
    get = next(i for i in t.snapshot() if i.key == "add-get-products-endpoint")
    assert get.dependencies == ()


def test_dry_run_writes_nothing_not_even_the_database_file(tmp_path: Path) -> None:
    t = tracker(tmp_path)
    plan, report = import_spec(t, EXAMPLE, dry_run=True)
    assert report is None
    assert len(plan.tasks) == 13
    assert not (tmp_path / "tracker.db").exists()
    out = io.StringIO()
    assert run_init(t, EXAMPLE, dry_run=True, out=out) == 0
    assert not (tmp_path / "tracker.db").exists()
    text = out.getvalue()
    assert "dry run: nothing written" in text
    assert "  storage    high    [Database] Create TodoStore in src/todo/storage.py" in text
    assert "after models, db" in text
    assert "levels: 7" in text and "widest level: 4" in text
    assert "critical path: 7 issues: skeleton → models → storage" in text


def test_init_prints_ids_priorities_and_the_tracker_report(tmp_path: Path) -> None:
    out = io.StringIO()
    assert run_init(tracker(tmp_path), EXAMPLE, dry_run=False, out=out) == 0
    text = out.getvalue()
    assert "  PROJ-1   urgent  [Setup] Create the package skeleton" in text
    assert "  PROJ-14  none    [META] Todo (stdlib Python): project progress" in text
    assert "after PROJ-2, PROJ-3" in text
    assert "issues: 13\nlevels: 7\nwidest level: 4 issues at once\n" in text
    assert "tracker: 14 created, 0 updated, 0 unchanged, 17 edges added" in text
    again = io.StringIO()
    run_init(tracker(tmp_path), EXAMPLE, dry_run=False, out=again)
    assert "tracker: 0 created, 0 updated, 14 unchanged, 0 edges added" in again.getvalue()


class RecordingTracker:
    """Stands in for a remote tracker: the importer must make exactly one batched call."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[IssueDraft], list[Edge]]] = []

    def import_issues(
        self, drafts: Sequence[IssueDraft], edges: Sequence[Edge], *, source: str = ""
    ) -> ImportReport:
        self.calls.append((list(drafts), list(edges)))
        return ImportReport(created=[d.key for d in drafts])


def test_import_is_one_tracker_call_with_draft_keys(tmp_path: Path) -> None:
    recorder = RecordingTracker()
    plan, _ = import_spec(recorder, EXAMPLE, dry_run=False)  # type: ignore[arg-type]
    assert len(recorder.calls) == 1
    drafts, edges = recorder.calls[0]
    assert drafts == list(plan.drafts)
    keys = {d.key for d in drafts}
    assert all(e.blocker in keys and e.blocked in keys for e in edges)


def test_dry_run_after_an_import_says_what_would_change(tmp_path: Path) -> None:
    t = tracker(tmp_path)
    path = write(tmp_path, SPEC)
    import_spec(t, path, dry_run=False)
    before = (t.snapshot(), t.edges())
    write(tmp_path, SPEC.replace("Add GET /products endpoint", "Add GET /products/:id endpoint"))
    out = io.StringIO()
    run_init(t, path, dry_run=True, out=out)
    text = out.getvalue()
    assert "dry run, an import would make: 1 created, 0 updated, 3 unchanged" in text
    assert "  add-get-products-id-endpoint  high    [API] Add GET /products/:id endpoint" in text
    assert "after PROJ-2" in text  # known issues show their ids
    assert "no longer in the spec (left as they are): PROJ-3" in text
    assert (t.snapshot(), t.edges()) == before
