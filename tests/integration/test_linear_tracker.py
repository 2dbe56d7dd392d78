"""LinearTracker end to end against the fake Linear: import, re-run, faults, sync."""

from __future__ import annotations

import contextlib
import io
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from engine.commands.sync import run_sync
from engine.config.model import TrackerConfig
from engine.errors import MarathonError
from engine.issue import Edge, IssueDraft
from engine.trackers.linear.auth import ApiKey
from engine.trackers.linear.client import LinearClient, LinearUnavailable
from engine.trackers.linear.documents import PAGE_SIZE
from engine.trackers.linear.identity import parse_description
from engine.trackers.linear.retry import RetryPolicy
from engine.trackers.linear.tracker import LinearTracker
from engine.trackers.local import LocalTracker
from tests.fakes.linear_server import FakeLinear, Fault, client_for

PROJECT = "Todo app"


def drafts(n: int = 15) -> list[IssueDraft]:
    made = [IssueDraft("meta", "META: build the todo app", "Progress notes.", kind="meta")]
    made += [
        IssueDraft(f"f{i}", f"Feature {i}", f"Do feature {i}.", (f"feature {i} works",), 1 + i % 4)
        for i in range(1, n)
    ]
    return made


def chain_edges(n: int = 15) -> list[Edge]:
    """A realistic shape: a foundation first, two lanes, a join at the end."""
    edges = [Edge("f1", f"f{i}", "needs the data model") for i in range(2, min(n, 6))]
    edges += [Edge(f"f{i}", f"f{i + 2}", "builds on it") for i in range(2, n - 2)]
    return edges


def tracker(fake: FakeLinear, tmp: Path, *, team: str = "ENG", **client: Any) -> LinearTracker:
    config = TrackerConfig(kind="linear", team=team, project=PROJECT, url=fake.url)
    snapshot = LocalTracker(tmp / "tracker.db", "ENG")
    return LinearTracker(config, snapshot, client=client_for(fake, **client))


def keys_in_linear(fake: FakeLinear) -> Counter[str]:
    return Counter(parse_description(i["description"]).key for i in fake.issues_in(PROJECT))


def blocks_by_key(fake: FakeLinear) -> Counter[tuple[str, str]]:
    key = {
        i["identifier"]: parse_description(i["description"]).key for i in fake.issues_in(PROJECT)
    }
    return Counter((key[a], key[b]) for a, b in fake.blocks())


@pytest.fixture
def fake(linear_two_teams: FakeLinear) -> FakeLinear:
    return linear_two_teams


def test_import_batches_issues_and_creates_relations(fake: FakeLinear, tmp_path: Path) -> None:
    t = tracker(fake, tmp_path)
    report = t.import_issues(drafts(), chain_edges())
    assert len(report.created) == 15 and not report.failed
    assert report.edges_added == len(chain_edges())
    ops = Counter(fake.operations())
    assert ops["IssueBatchCreate"] == 1
    assert ops["IssueRelationCreate"] == len(chain_edges())
    assert ops["ProjectCreate"] == 1 and ops["Team"] == 1
    assert ops["ProjectIssues"] == 0  # a project made just now is known to be empty
    batch = next(r for r in fake.requests if r.operation == "IssueBatchCreate")
    assert len(batch.variables["input"]["issues"]) == 15
    # Relation direction: {issueId: blocker, relatedIssueId: blocked, type: blocks}.
    assert blocks_by_key(fake) == Counter((e.blocker, e.blocked) for e in chain_edges())
    snapshot = {issue.key: issue for issue in t.snapshot()}
    assert snapshot["meta"].kind == "meta"
    assert snapshot["f3"].dependencies == (snapshot["f1"].id,)
    assert snapshot["f2"].acceptance == ("feature 2 works",)
    assert snapshot["f2"].state == "unstarted"  # created in the team's Todo state
    assert {e.reason for e in t.edges()} == {"needs the data model", "builds on it"}


def test_a_rerun_changes_nothing_and_costs_one_read(fake: FakeLinear, tmp_path: Path) -> None:
    t = tracker(fake, tmp_path)
    t.import_issues(drafts(), chain_edges())
    before = len(fake.requests)
    report = t.import_issues(drafts(), chain_edges())
    assert not report.changed_anything and len(report.unchanged) == 15
    assert fake.operations()[before:] == ["ProjectIssues"]


def test_a_fresh_machine_recognises_the_issues(fake: FakeLinear, tmp_path: Path) -> None:
    tracker(fake, tmp_path / "a").import_issues(drafts(), chain_edges())
    report = tracker(fake, tmp_path / "b").import_issues(drafts(), chain_edges())
    assert not report.changed_anything
    assert set(keys_in_linear(fake).values()) == {1}


def test_changed_drafts_update_and_dropped_edges_go(fake: FakeLinear, tmp_path: Path) -> None:
    t = tracker(fake, tmp_path)
    t.import_issues(drafts(), chain_edges())
    hand = fake.add_relation(t.local.snapshot()[5].id, t.local.snapshot()[9].id)
    changed = [
        d if d.key != "f4" else IssueDraft("f4", "Feature four", "New text.") for d in drafts()
    ]
    edges = [e for e in chain_edges() if (e.blocker, e.blocked) != ("f2", "f4")]
    report = t.import_issues(changed, edges)
    assert len(report.updated) == 1 and report.edges_removed == 1 and report.edges_added == 0
    f4 = next(i for i in t.snapshot() if i.key == "f4")
    assert f4.title == "Feature four" and f4.description == "New text."
    assert ("f2", "f4") not in blocks_by_key(fake)
    assert hand["id"] in fake.store.relations  # a relation made by hand is never removed


def test_lost_answers_do_not_duplicate(fake: FakeLinear, tmp_path: Path) -> None:
    # Team and ProjectCreate answer; the batch lands but its answer is lost, so the retry is told
    # "already exists" and looks the ids up; one relation's answer is lost too.
    fake.schedule.extend([None, None, Fault("drop_after"), None, None, Fault("drop_after")])
    t = tracker(fake, tmp_path)
    report = t.import_issues(drafts(), chain_edges())
    assert fake.operations()[:5] == [
        "Team",
        "ProjectCreate",
        "IssueBatchCreate",
        "IssueBatchCreate",
        "IssuesById",
    ]
    assert not report.failed and len(report.created) == 15
    assert set(keys_in_linear(fake).values()) == {1}
    assert set(blocks_by_key(fake).values()) == {1}


def test_a_lost_project_create_is_not_repeated(fake: FakeLinear, tmp_path: Path) -> None:
    fake.schedule.extend([None, Fault("drop_after")])
    report = tracker(fake, tmp_path).import_issues(drafts(3), [])
    assert len(report.created) == 3
    assert [p["name"] for p in fake.store.projects.values()] == [PROJECT]
    # Made by an attempt whose answer was lost: it might hold issues, so it is read first.
    assert fake.operations()[:4] == ["Team", "ProjectCreate", "ProjectCreate", "ProjectIssues"]


def test_more_than_fifty_drafts_go_in_chunks_and_reads_page(
    fake: FakeLinear, tmp_path: Path
) -> None:
    many = drafts(120)
    fan_out = [Edge("f1", f"f{i}", "fan") for i in range(2, 63)]  # 61 relations on one issue
    t = tracker(fake, tmp_path)
    report = t.import_issues(many, fan_out)
    assert len(report.created) == 120 and report.edges_added == 61
    sizes = [
        len(r.variables["input"]["issues"])
        for r in fake.requests
        if r.operation == "IssueBatchCreate"
    ]
    assert sorted(sizes) == [20, 50, 50]
    before = len(fake.requests)
    fresh = tracker(fake, tmp_path / "fresh")
    fresh.sync()
    reads = fake.operations()[before:]
    assert reads.count("ProjectIssues") == -(-120 // PAGE_SIZE)  # pages of PAGE_SIZE issues
    assert "IssueRelations" in reads  # f1 has more relations than fit in one page
    assert len(fresh.snapshot()) == 120 and len(fresh.edges()) == 61


def test_one_bad_issue_fails_alone(fake: FakeLinear, tmp_path: Path) -> None:
    bad = [*drafts(), IssueDraft("blank", "   ")]
    report = tracker(fake, tmp_path).import_issues(bad, [*chain_edges(), Edge("f1", "blank")])
    assert set(report.failed) == {"blank"}
    assert "title" in report.failed["blank"]
    assert len(report.created) == 15


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_thirty_percent_faults_then_a_rerun_converge(
    fake: FakeLinear, tmp_path: Path, seed: int
) -> None:
    fake.fault_rate = 0.3
    fake._random.seed(seed)
    fake.slow_delay = 0.3
    t = tracker(fake, tmp_path, timeout=0.15)
    with contextlib.suppress(LinearUnavailable):  # a run may give up; a re-run must converge
        t.import_issues(drafts(), chain_edges())
    report = t.import_issues(drafts(), chain_edges())
    assert not report.failed
    assert keys_in_linear(fake) == Counter({d.key: 1 for d in drafts()})
    assert blocks_by_key(fake) == Counter((e.blocker, e.blocked) for e in chain_edges())
    assert any(r.fault for r in fake.requests)
    fake.fault_rate = 0
    assert not t.import_issues(drafts(), chain_edges()).changed_anything


def test_sync_pulls_hand_made_issues_and_relations(fake: FakeLinear, tmp_path: Path) -> None:
    t = tracker(fake, tmp_path)
    t.import_issues(drafts(5), [Edge("f1", "f2")])
    ids = {i.key: i.id for i in t.snapshot()}
    hand = fake.add_issue("ENG", "Found by hand", project=PROJECT, description="Typed in Linear.")
    fake.add_relation(hand["identifier"], ids["f3"])  # the hand-made issue blocks f3
    fake.add_relation(ids["f4"], hand["identifier"])  # and waits for f4
    fake.add_relation(ids["f1"], ids["f4"], kind="related")  # not a dependency
    fake.add_issue("ENG", "Elsewhere")  # not in the project
    before = len(fake.requests)
    out = io.StringIO()
    assert run_sync(t, out=out) == 0
    assert "synced 6 issues and 3 dependencies" in out.getvalue()
    assert set(fake.operations()[before:]) == {"ProjectIssues"}
    snapshot = {i.id: i for i in t.snapshot()}
    made = snapshot[hand["identifier"]]
    assert made.key == "" and made.description == "Typed in Linear."
    assert snapshot[ids["f3"]].dependencies == (made.id,)
    assert made.dependencies == (ids["f4"],)
    assert snapshot[ids["f2"]].dependencies == (ids["f1"],)


def test_state_changes_and_comments_reach_linear(fake: FakeLinear, tmp_path: Path) -> None:
    t = tracker(fake, tmp_path)
    t.import_issues(drafts(3), [])
    ids = {i.key: i.id for i in t.snapshot()}
    t.set_state(ids["f1"], "started")
    t.set_state(ids["f1"], "completed")
    t.comment(ids["meta"], "f1 done")
    assert fake.state_of(ids["f1"]) == "completed"
    assert [c["body"] for c in fake.store.comments.values()] == ["f1 done"]
    assert t.local.get(ids["f1"]).state == "completed"
    assert t.local.comments(ids["meta"]) == ["f1 done"]
    with pytest.raises(MarathonError, match="unknown state"):
        t.set_state(ids["f1"], "done")


def test_create_issue_outside_an_import(fake: FakeLinear, tmp_path: Path) -> None:
    t = tracker(fake, tmp_path)
    t.import_issues(drafts(3), [])
    target = next(i.id for i in t.snapshot() if i.key == "f2")
    bug = t.create_issue(IssueDraft("bug-1", "Crash on save", kind="bug"), blocks=[target])
    assert bug.kind == "bug" and bug.blocks == (target,)
    again = t.create_issue(IssueDraft("bug-1", "Crash on save", kind="bug"), blocks=[target])
    assert again.id == bug.id
    assert keys_in_linear(fake)["bug-1"] == 1
    assert len(fake.blocks()) == 1
    # Without a key (`doit add`) each call is a new issue, with no footer in its text.
    first = t.create_issue(IssueDraft("", "Tidy the README", "By hand."))
    second = t.create_issue(IssueDraft("", "Tidy the README", "By hand."))
    assert first.id != second.id and first.key == second.key == ""
    assert fake.store.find_issue(first.id)["description"] == "By hand."
    t.add_edge(Edge(target, first.id, "added by hand"))  # `doit add --after`
    t.add_edge(Edge(target, first.id, "added by hand"))
    assert len(fake.blocks()) == 2
    assert t.local.get(first.id).dependencies == (target,)


def test_reading_the_snapshot_never_calls_linear(tmp_path: Path) -> None:
    config = TrackerConfig(kind="linear", team="ENG", project=PROJECT, url="http://127.0.0.1:9")
    t = LinearTracker(config, LocalTracker(tmp_path / "t.db", "ENG"), environ={})
    assert t.snapshot() == [] and t.edges() == []  # no key and no server needed


def test_missing_key_says_which_variable_to_set(tmp_path: Path) -> None:
    config = TrackerConfig(kind="linear", team="ENG", project=PROJECT, api_key_env="ACME_LINEAR")
    t = LinearTracker(config, LocalTracker(tmp_path / "t.db", "ENG"), environ={})
    out = io.StringIO()
    with pytest.raises(MarathonError) as caught:
        run_sync(t, out=out)
    assert caught.value.exit_code == 2 and "ACME_LINEAR" in caught.value.one_line()
    assert out.getvalue() == ""


def test_unknown_team_lists_the_ones_that_exist(fake: FakeLinear, tmp_path: Path) -> None:
    with pytest.raises(MarathonError) as caught:
        tracker(fake, tmp_path, team="ENGG").import_issues(drafts(2), [])
    assert "'ENGG'" in str(caught.value) and "did you mean 'ENG'" in str(caught.value)
    with pytest.raises(MarathonError) as caught:
        tracker(fake, tmp_path, team="XYZ").sync()
    assert "ENG, OPS" in str(caught.value)
    assert caught.value.exit_code == 2


def test_sync_before_any_import_says_what_to_do(fake: FakeLinear, tmp_path: Path) -> None:
    with pytest.raises(MarathonError, match="no project named 'Todo app'"):
        tracker(fake, tmp_path).sync()


def test_bad_import_input_is_refused_before_any_request(fake: FakeLinear, tmp_path: Path) -> None:
    t = tracker(fake, tmp_path)
    with pytest.raises(MarathonError, match="unknown issue key 'nope'"):
        t.import_issues(drafts(3), [Edge("f1", "nope")])
    with pytest.raises(MarathonError, match="share a key"):
        t.import_issues([*drafts(3), drafts(3)[1]], [])
    assert fake.requests == []


def test_linear_reformatting_a_description_is_not_a_change(
    fake: FakeLinear, tmp_path: Path
) -> None:
    t = tracker(fake, tmp_path)
    t.import_issues(drafts(4), [])
    for issue in fake.issues_in(PROJECT):  # the editor re-spaces what it stores
        issue["description"] = issue["description"].replace("\n\n", "\n\n\n") + "\n"
    report = t.import_issues(drafts(4), [])
    assert not report.changed_anything and len(report.unchanged) == 4


def test_a_duplicated_issue_in_linear_does_not_break_sync(fake: FakeLinear, tmp_path: Path) -> None:
    t = tracker(fake, tmp_path)
    t.import_issues(drafts(3), [])
    original = next(i for i in fake.issues_in(PROJECT) if "key=f1 " in i["description"])
    copy = fake.add_issue("ENG", "Copy", project=PROJECT, description=original["description"])
    t.sync()
    by_id = {i.id: i for i in t.snapshot()}
    assert by_id[original["identifier"]].key == "f1"
    assert by_id[copy["identifier"]].key == ""
    assert not t.import_issues(drafts(3), []).changed_anything


def test_network_down_is_one_line_and_exit_code_one(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/graphql"
    config = TrackerConfig(kind="linear", team="ENG", project=PROJECT, url=url)
    client = LinearClient(
        ApiKey("lin_api_x", source="$LINEAR_API_KEY"),
        url=url,
        policy=RetryPolicy(max_attempts=2, base_delay=0.001),
    )
    t = LinearTracker(config, LocalTracker(tmp_path / "t.db", "ENG"), client=client)
    out = io.StringIO()
    with pytest.raises(MarathonError) as caught:
        run_sync(t, out=out)
    assert caught.value.exit_code == 1
    assert caught.value.one_line().startswith("cannot reach Linear at http://127.0.0.1:")
    assert out.getvalue() == ""
