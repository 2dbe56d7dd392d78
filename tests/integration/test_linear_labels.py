"""Issue labels reach Linear: matched by name (any case) to the labels the team can use, the
missing ones created once, set on new issues only, and a label Linear refuses costs the label,
never the issue. Everything runs against the fake Linear over HTTP."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.config.model import TrackerConfig
from engine.issue import Edge, IssueDraft
from engine.spec.importer import plan_spec
from engine.trackers.linear import documents as docs
from engine.trackers.linear.client import LinearError
from engine.trackers.linear.identity import parse_description
from engine.trackers.linear.tracker import LinearTracker
from engine.trackers.local import LocalTracker
from tests.fakes.linear_server import FakeLinear, Fault, client_for
from tests.specs import EXAMPLE

PROJECT = "Todo app"
LABEL_OPS = ("IssueLabels", "IssueLabelCreate")


def example() -> tuple[list[IssueDraft], list[Edge]]:
    plan = plan_spec(EXAMPLE)
    return list(plan.drafts), list(plan.edges)


def distinct_labels(drafts: list[IssueDraft]) -> set[str]:
    return {label for draft in drafts for label in draft.labels}


def tracker(fake: FakeLinear, db: Path) -> LinearTracker:
    config = TrackerConfig(kind="linear", team="ENG", project=PROJECT, url=fake.url)
    return LinearTracker(config, LocalTracker(db, "ENG"), client=client_for(fake))


def labels_by_key(fake: FakeLinear) -> dict[str, list[str]]:
    """Each spec issue's label names in Linear, by its footer key."""
    return {
        parse_description(issue["description"]).key: fake.label_names(issue)
        for issue in fake.issues_in(PROJECT)
    }


def label_requests(fake: FakeLinear, since: int = 0) -> list[str]:
    return [op for op in fake.operations()[since:] if op in LABEL_OPS]


def team_labels(fake: FakeLinear, team: str) -> list[dict[str, Any]]:
    team_id = fake.team(team)["id"]
    return [label for label in fake.store.labels.values() if label["teamId"] == team_id]


@pytest.fixture
def fake(linear_two_teams: FakeLinear) -> FakeLinear:
    return linear_two_teams


def test_an_import_creates_each_label_once_and_sets_them(fake: FakeLinear, tmp_path: Path) -> None:
    drafts, edges = example()
    wanted = distinct_labels(drafts)
    assert len(wanted) > 3  # the example has several categories, and META
    report = tracker(fake, tmp_path / "t.db").import_issues(drafts, edges)
    assert not report.failed and len(report.created) == len(drafts)
    ops = fake.operations()
    assert Counter(label_requests(fake)) == {"IssueLabels": 1, "IssueLabelCreate": len(wanted)}
    # Labels first (the batch needs their ids), all created in the team.
    assert max(i for i, op in enumerate(ops) if op in LABEL_OPS) < ops.index("IssueBatchCreate")
    assert sorted(label["name"] for label in team_labels(fake, "ENG")) == sorted(wanted)
    assert len(fake.store.labels) == len(wanted)
    assert labels_by_key(fake) == {draft.key: list(draft.labels) for draft in drafts}
    # Linear answers them through Issue.labels, as any client reads them.
    meta = next(i for i in fake.issues_in(PROJECT) if "kind=meta" in i["description"])
    query = "query IssueLabelNames($id: String!) { issue(id: $id) { labels { nodes { name } } } }"

    async def read() -> Any:
        async with client_for(fake) as client:
            return await client.execute(query, {"id": meta["id"]})

    data = asyncio.run(read())
    assert [node["name"] for node in data["issue"]["labels"]["nodes"]] == ["meta"]


def test_existing_labels_are_reused_whatever_their_case(fake: FakeLinear, tmp_path: Path) -> None:
    api = fake.add_label("API", "ENG")
    docs_label = fake.add_label("Docs")  # a workspace label: every team may use it
    other = fake.add_label("cli", "OPS")  # another team's: ENG cannot use it
    drafts, edges = example()
    wanted = distinct_labels(drafts)
    assert {"api", "docs", "cli"} <= wanted
    report = tracker(fake, tmp_path / "t.db").import_issues(drafts, edges)
    assert not report.failed
    created = [
        r.variables["input"]["name"] for r in fake.requests if r.operation == "IssueLabelCreate"
    ]
    assert sorted(created) == sorted(wanted - {"api", "docs"})
    names = Counter(label["name"].lower() for label in fake.store.labels.values())
    assert names["api"] == 1 and names["docs"] == 1
    assert names["cli"] == 2  # OPS's own and a new one for ENG
    by_key = {parse_description(i["description"]).key: i for i in fake.issues_in(PROJECT)}
    for draft in drafts:
        ids = by_key[draft.key]["labelIds"]
        assert (api["id"] in ids) == ("api" in draft.labels)
        assert (docs_label["id"] in ids) == ("docs" in draft.labels)
        assert other["id"] not in ids


def test_a_reimport_leaves_labels_alone(fake: FakeLinear, tmp_path: Path) -> None:
    drafts, edges = example()
    t = tracker(fake, tmp_path / "t.db")
    t.import_issues(drafts, edges)
    labels_before = dict(fake.store.labels)
    # Someone relabels by hand: one issue loses its labels, another gets one more.
    first, second = fake.issues_in(PROJECT)[:2]
    first["labelIds"] = []
    second["labelIds"] = [*second["labelIds"], fake.add_label("urgent", "ENG")["id"]]
    hand = {first["id"]: [], second["id"]: list(second["labelIds"])}
    before = len(fake.requests)
    # The same tracker, and a fresh machine whose spec retitled the first issue.
    assert not t.import_issues(drafts, edges).changed_anything
    first_key = parse_description(first["description"]).key
    changed = [replace(d, title="Set it all up") if d.key == first_key else d for d in drafts]
    report = tracker(fake, tmp_path / "fresh.db").import_issues(changed, edges)
    assert len(report.updated) == 1 and not report.created and not report.failed
    assert label_requests(fake, before) == []
    update = next(r for r in fake.requests[before:] if r.operation == "IssueUpdate")
    assert "labelIds" not in update.variables["input"]
    assert len(fake.store.labels) == len(labels_before) + 1  # only the hand-made one
    assert {uid: fake.store.issues[uid]["labelIds"] for uid in hand} == hand


def test_a_new_spec_issue_reads_the_labels_and_creates_only_new_ones(
    fake: FakeLinear, tmp_path: Path
) -> None:
    drafts, edges = example()
    tracker(fake, tmp_path / "a.db").import_issues(drafts, edges)
    before = len(fake.requests)
    grown = [*drafts, IssueDraft("perf", "Make it fast", labels=("API", "Performance"))]
    report = tracker(fake, tmp_path / "b.db").import_issues(grown, edges)
    assert len(report.created) == 1 and not report.failed
    assert label_requests(fake, before) == ["IssueLabels", "IssueLabelCreate"]
    assert labels_by_key(fake)["perf"] == ["api", "Performance"]


def test_a_refused_label_is_reported_and_its_issues_are_made_without_it(
    fake: FakeLinear, tmp_path: Path
) -> None:
    fake.store.refuse_labels["cli"] = "Label name is reserved"
    drafts, edges = example()
    report = tracker(fake, tmp_path / "t.db").import_issues(drafts, edges)
    assert set(report.failed) == {"label cli"}
    assert "Label name is reserved" in report.failed["label cli"]
    assert len(report.created) == len(drafts) and report.edges_added == len(edges)
    assert "1 failed" in report.summary()
    expected = {d.key: [n for n in d.labels if n != "cli"] for d in drafts}
    assert labels_by_key(fake) == expected
    assert any(draft.labels == ("cli",) for draft in drafts)  # some issues end up unlabelled
    assert "cli" not in {label["name"] for label in fake.store.labels.values()}


def test_a_name_taken_by_a_label_group_is_reported(fake: FakeLinear, tmp_path: Path) -> None:
    # Linear's names are unique across groups too, and a group cannot go on an issue.
    fake.add_label("Testing", "ENG", group=True)
    drafts, edges = example()
    report = tracker(fake, tmp_path / "t.db").import_issues(drafts, edges)
    assert set(report.failed) == {"label testing"}
    assert "already exists" in report.failed["label testing"]
    assert len(report.created) == len(drafts)
    # "Already exists" could have meant a label made meanwhile: it read the labels again.
    assert label_requests(fake).count("IssueLabels") == 2
    assert all("testing" not in names for names in labels_by_key(fake).values())


def test_a_lost_label_create_answer_is_not_repeated(fake: FakeLinear, tmp_path: Path) -> None:
    drafts = [IssueDraft(f"f{i}", f"Feature {i}", labels=("backend",)) for i in range(3)]
    # Team and ProjectCreate answer, the label read too; the create lands but its answer is lost.
    fake.schedule.extend([None, None, None, Fault("drop_after")])
    report = tracker(fake, tmp_path / "t.db").import_issues(drafts, [])
    assert not report.failed and len(report.created) == 3
    assert fake.operations()[2:7] == [
        "IssueLabels",
        "IssueLabelCreate",
        "IssueLabelCreate",  # the retry: our derived id "already exists"
        "IssueLabels",  # so it is looked up by name
        "IssueBatchCreate",
    ]
    assert [label["name"] for label in fake.store.labels.values()] == ["backend"]
    assert set(map(tuple, labels_by_key(fake).values())) == {("backend",)}


def test_a_bug_issue_gets_its_labels(fake: FakeLinear, tmp_path: Path) -> None:
    bug_label = fake.add_label("Bug")  # the workspace's
    t = tracker(fake, tmp_path / "t.db")
    draft = IssueDraft("bug:lint:abc", "[Bug] lint fails", kind="bug", labels=("bug", "verify"))
    bug = t.create_issue(draft)
    made = fake.store.find_issue(bug.id)
    assert fake.label_names(made) == ["Bug", "verify"]
    assert made["labelIds"][0] == bug_label["id"]
    assert label_requests(fake) == ["IssueLabels", "IssueLabelCreate"]
    before = len(fake.requests)
    assert t.create_issue(draft).id == bug.id  # the same bug again: nothing to label
    other = t.create_issue(IssueDraft("bug:test:def", "[Bug] tests fail", labels=("bug", "verify")))
    assert label_requests(fake, before) == []  # read once per tracker, and both exist now
    assert fake.label_names(fake.store.find_issue(other.id)) == ["Bug", "verify"]


def test_a_bug_issue_is_filed_even_if_its_label_is_refused(
    fake: FakeLinear, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake.store.refuse_labels["verify"] = "Label name is reserved"
    draft = IssueDraft("bug:lint:abc", "[Bug] lint fails", kind="bug", labels=("bug", "verify"))
    with caplog.at_level(logging.WARNING, logger="engine.trackers.linear"):
        bug = tracker(fake, tmp_path / "t.db").create_issue(draft)
    assert fake.label_names(fake.store.find_issue(bug.id)) == ["bug"]
    assert "'verify'" in caplog.text and "Label name is reserved" in caplog.text


def test_the_fake_refuses_a_label_the_team_cannot_use(fake: FakeLinear) -> None:
    other = fake.add_label("ops-only", "OPS")
    team = fake.team("ENG")
    variables = {"input": {"teamId": team["id"], "title": "x", "labelIds": [other["id"]]}}

    async def create() -> Any:
        async with client_for(fake) as client:
            return await client.execute(docs.ISSUE_CREATE, variables)

    with pytest.raises(LinearError, match="not in the issue's team"):
        asyncio.run(create())
    assert not fake.store.issues
