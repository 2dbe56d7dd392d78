"""Spec import into Linear: batched and concurrent vs one request at a time.

Both runs talk to the fake Linear (tests/fakes/linear_server.py: a real HTTP server on 127.0.0.1
executing against Linear's schema) with 100 ms of latency per request, in this one process.

* batched: `LinearTracker.import_issues` (one team lookup, the project, one read of the team's
  labels and the missing ones created concurrently, `issueBatchCreate` in chunks of 50,
  relations concurrently with a bounded number in flight);
* baseline: the same team lookup, project and label read, then one `issueLabelCreate` per
  missing label, one `issueCreate` per issue and one `issueRelationCreate` per edge, each
  waiting for the previous answer.

Run: python bench/linear_import.py [--latency 0.1]. Target: batched at least 5x faster.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.fakes is not installed; the bench runs from a clone

from engine.config.model import TrackerConfig  # noqa: E402
from engine.issue import Edge, IssueDraft  # noqa: E402
from engine.trackers.linear import documents as docs  # noqa: E402
from engine.trackers.linear import identity  # noqa: E402
from engine.trackers.linear.auth import ApiKey  # noqa: E402
from engine.trackers.linear.client import LinearClient  # noqa: E402
from engine.trackers.linear.tracker import LinearTracker  # noqa: E402
from engine.trackers.local import LocalTracker  # noqa: E402
from tests.fakes.linear_server import FakeLinear  # noqa: E402

SPEC = ROOT / "examples" / "todo" / "app_spec.xml"
PROJECT = "Todo app"


def load_spec() -> tuple[list[IssueDraft], list[Edge], str]:
    from engine.spec.importer import plan_spec

    plan = plan_spec(SPEC)
    return list(plan.drafts), list(plan.edges), str(SPEC.relative_to(ROOT))


def client(fake: FakeLinear, *, max_in_flight: int = 20) -> LinearClient:
    key = ApiKey(fake.api_key, source="$LINEAR_API_KEY")
    return LinearClient(key, url=fake.url, max_in_flight=max_in_flight)


def batched(fake: FakeLinear, drafts: list[IssueDraft], edges: list[Edge], tmp: Path) -> float:
    config = TrackerConfig(kind="linear", team="ENG", project=PROJECT, url=fake.url)
    tracker = LinearTracker(config, LocalTracker(tmp / "tracker.db", "ENG"), client=client(fake))
    started = time.perf_counter()
    report = tracker.import_issues(drafts, edges)
    elapsed = time.perf_counter() - started
    if report.failed or len(report.created) != len(drafts) or report.edges_added != len(edges):
        sys.exit(f"batched import went wrong: {report.summary()} {report.failed}")
    return elapsed


async def _one_at_a_time(
    c: LinearClient,
    drafts: list[IssueDraft],
    edges: list[Edge],
    *,
    team_key: str = "ENG",
    project_name: str = PROJECT,
) -> None:
    async with c:
        data = await c.execute(docs.TEAM, {"key": team_key, "project": project_name})
        team = data["teams"]["nodes"][0]
        todo = next(s["id"] for s in team["states"]["nodes"] if s["type"] == "unstarted")
        project_id = identity.project_id(team["id"], project_name)
        project = {"id": project_id, "name": project_name, "teamIds": [team["id"]]}
        await c.execute(docs.PROJECT_CREATE, {"input": project})
        labels = await _labels_one_at_a_time(c, team["id"], drafts)
        ids: dict[str, str] = {}
        for draft in drafts:
            ids[draft.key] = identity.issue_id(team["id"], project_id, draft.key)
            issue = {
                "id": ids[draft.key],
                "teamId": team["id"],
                "projectId": project_id,
                "stateId": todo,
                "title": draft.title,
                "description": identity.render_description(draft),
                "priority": draft.priority,
                "labelIds": [labels[name] for name in draft.labels],
            }
            await c.execute(docs.ISSUE_CREATE, {"input": issue})
        for edge in edges:
            relation = {
                "issueId": ids[edge.blocker],
                "relatedIssueId": ids[edge.blocked],
                "type": "blocks",
            }
            await c.execute(docs.RELATION_CREATE, {"input": relation})


async def _labels_one_at_a_time(
    c: LinearClient, team_id: str, drafts: list[IssueDraft]
) -> dict[str, str]:
    variables = {"teamId": team_id, "first": docs.MAX_FIRST, "after": None}
    data = await c.execute(docs.ISSUE_LABELS, variables)
    labels = {node["name"]: node["id"] for node in data["issueLabels"]["nodes"]}
    for name in dict.fromkeys(name for draft in drafts for name in draft.labels):
        if name not in labels:
            made = {"name": name, "teamId": team_id}
            data = await c.execute(docs.ISSUE_LABEL_CREATE, {"input": made})
            labels[name] = data["issueLabelCreate"]["issueLabel"]["id"]
    return labels


def baseline(fake: FakeLinear, drafts: list[IssueDraft], edges: list[Edge]) -> float:
    started = time.perf_counter()
    asyncio.run(_one_at_a_time(client(fake, max_in_flight=1), drafts, edges))
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    args = parser.parse_args()
    drafts, edges, source = load_spec()
    print(f"spec: {source}: {len(drafts)} issues, {len(edges)} edges; {args.latency:.3f}s/request")

    with tempfile.TemporaryDirectory() as tmp, FakeLinear(latency=args.latency) as fake:
        # Warm up imports and the fake's per-document validation cache, so neither run pays
        # one-off costs the other does not: a small import into a team of its own.
        fake.add_team("WARM")
        LinearTracker(
            TrackerConfig(kind="linear", team="WARM", project=PROJECT, url=fake.url),
            LocalTracker(Path(tmp) / "warm.db", "WARM"),
            client=client(fake),
        ).import_issues(drafts[:2], [Edge(drafts[0].key, drafts[1].key)])
        asyncio.run(
            _one_at_a_time(
                client(fake),
                drafts[:2],
                [Edge(drafts[0].key, drafts[1].key)],
                team_key="WARM",
                project_name="Warm-up",
            )
        )
        fake.requests.clear()
        fake.add_team("ENG")
        fast = batched(fake, drafts, edges, Path(tmp))
        fast_requests = len(fake.requests)
        started = time.perf_counter()
        rerun = LinearTracker(
            TrackerConfig(kind="linear", team="ENG", project=PROJECT, url=fake.url),
            LocalTracker(Path(tmp) / "again.db", "ENG"),
            client=client(fake),
        ).import_issues(drafts, edges)
        rerun_time = time.perf_counter() - started
        rerun_requests = len(fake.requests) - fast_requests
        assert not rerun.changed_anything, rerun.summary()

    with FakeLinear(latency=args.latency) as fake:
        fake.add_team("ENG")
        slow = baseline(fake, drafts, edges)
        slow_requests = len(fake.requests)

    print(f"baseline (one request at a time): {slow:6.2f}s  {slow_requests:3d} requests")
    print(f"batched + concurrent:             {fast:6.2f}s  {fast_requests:3d} requests")
    print(f"re-run (nothing to do):           {rerun_time:6.2f}s  {rerun_requests:3d} requests")
    ratio = slow / fast
    print(f"speed-up: {ratio:.1f}x (target >= 5x)")
    return 0 if ratio >= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
