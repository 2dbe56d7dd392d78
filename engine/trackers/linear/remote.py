"""Linear operations the tracker needs, as async functions over a `LinearClient`.

Each function is one job (find the team, read a project, create issues, ...) and knows how to make
its writes safe to repeat: every create carries a derived id (see `identity`), and "already exists"
for one of our ids means an earlier attempt landed, so it counts as done.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.errors import MarathonError, did_you_mean
from engine.trackers.linear import documents as docs
from engine.trackers.linear import identity
from engine.trackers.linear.client import LinearClient, LinearError, LinearUnavailable

BATCH_SIZE = 50  # Linear's issueBatchCreate: keep batches at 50 or fewer


@dataclass(frozen=True)
class Team:
    id: str
    key: str
    name: str
    states: dict[str, str]  # state type -> the id of the first state of that type (by position)
    project_ids: tuple[str, ...] = ()  # projects of the configured name, if any


@dataclass
class RemoteIssue:
    id: str  # Linear's UUID
    identifier: str  # ENG-42
    title: str
    description: str
    priority: int
    state: str  # the workflow state's type


@dataclass(frozen=True)
class Relation:
    id: str
    blocker: str  # UUIDs
    blocked: str


@dataclass
class Remote:
    """What a read of a project (or team) found: issues and their `blocks` relations."""

    issues: dict[str, RemoteIssue] = field(default_factory=dict)
    relations: dict[str, Relation] = field(default_factory=dict)


# -- reading -------------------------------------------------------------------------------------


async def find_team(client: LinearClient, key: str, project: str) -> Team:
    """The team with this key, its states and the project named `project` (one round trip)."""
    data = await client.execute(docs.TEAM, {"key": key, "project": project})
    nodes = data["teams"]["nodes"]
    if not nodes:
        keys = await team_keys(client)
        raise MarathonError(
            f"tracker.team: no Linear team with key {key!r}{did_you_mean(key, keys)}"
            if keys
            else f"tracker.team: no Linear team with key {key!r}, and this key sees no teams",
            where="marathon.yaml",
        )
    node = nodes[0]
    states: dict[str, str] = {}
    for state in sorted(node["states"]["nodes"], key=lambda s: s["position"]):
        states.setdefault(state["type"], state["id"])
    projects = tuple(p["id"] for p in node["projects"]["nodes"] if p["name"] == project)
    return Team(node["id"], node["key"], node["name"], states, projects)


async def team_keys(client: LinearClient) -> list[str]:
    keys: list[str] = []
    after: str | None = None
    while True:
        data = await client.execute(docs.TEAM_KEYS, {"first": docs.MAX_FIRST, "after": after})
        keys += [node["key"] for node in data["teams"]["nodes"]]
        page = data["teams"]["pageInfo"]
        if not page["hasNextPage"]:
            return keys
        after = page["endCursor"]


# An issue's relation fields and the query that pages through the rest of each.
_FOLLOW = {"relations": docs.ISSUE_RELATIONS, "inverseRelations": docs.ISSUE_INVERSE_RELATIONS}


async def read_issues(client: LinearClient, *, project_id: str = "", team_id: str = "") -> Remote:
    """Every issue of the project (or of the team, with no project) with its relations."""
    document, owner, scope = (
        (docs.PROJECT_ISSUES, "project", project_id)
        if project_id
        else (docs.TEAM_ISSUES, "team", team_id)
    )
    remote = Remote()
    more: list[tuple[str, str, str]] = []  # (field, issue id, cursor) still to page through
    after: str | None = None
    while True:
        variables = {
            "id": scope,
            "first": docs.PAGE_SIZE,
            "after": after,
            "relFirst": docs.RELATION_PAGE,
        }
        data = await client.execute(document, variables)
        connection = data[owner]["issues"]
        for node in connection["nodes"]:
            remote.issues[node["id"]] = _issue(node)
            for name in _FOLLOW:
                _add_relations(remote, name, node["id"], node[name]["nodes"])
                if node[name]["pageInfo"]["hasNextPage"]:
                    more.append((name, node["id"], node[name]["pageInfo"]["endCursor"]))
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    # Rare: an issue with more relations than fit in one page. Fetch the rest per issue.
    await asyncio.gather(*(_more_relations(client, remote, *item) for item in more))
    return remote


async def _more_relations(
    client: LinearClient, remote: Remote, name: str, issue_id: str, after: str
) -> None:
    cursor: str | None = after
    while cursor:
        data = await client.execute(
            _FOLLOW[name], {"id": issue_id, "first": docs.MAX_FIRST, "after": cursor}
        )
        connection = data["issue"][name]
        _add_relations(remote, name, issue_id, connection["nodes"])
        cursor = (
            connection["pageInfo"]["endCursor"] if connection["pageInfo"]["hasNextPage"] else None
        )


def _add_relations(remote: Remote, name: str, issue_id: str, nodes: list[dict[str, Any]]) -> None:
    """Relations as read from one issue: in `relations` it is the blocker, in
    `inverseRelations` the blocked one; only the other end is fetched."""
    for node in nodes:
        if node["type"] != "blocks":  # duplicate / related / similar are not dependencies
            continue
        if name == "relations":
            relation = Relation(node["id"], issue_id, node["relatedIssue"]["id"])
        else:
            relation = Relation(node["id"], node["issue"]["id"], issue_id)
        remote.relations[node["id"]] = relation


def _issue(node: dict[str, Any]) -> RemoteIssue:
    return RemoteIssue(
        id=node["id"],
        identifier=node["identifier"],
        title=node["title"],
        description=node.get("description") or "",
        priority=int(node.get("priority") or 0),
        state=node["state"]["type"],
    )


async def issues_by_id(client: LinearClient, ids: Sequence[str]) -> dict[str, RemoteIssue]:
    found: dict[str, RemoteIssue] = {}
    for start in range(0, len(ids), docs.MAX_FIRST):
        chunk = list(ids[start : start + docs.MAX_FIRST])
        data = await client.execute(docs.ISSUES_BY_ID, {"ids": chunk, "first": docs.MAX_FIRST})
        for node in data["issues"]["nodes"]:
            found[node["id"]] = _issue(node)
    return found


# -- writing -------------------------------------------------------------------------------------


async def ensure_project(client: LinearClient, team: Team, name: str) -> tuple[str, bool]:
    """The id of the team's project called `name`, created (with a derived id) if missing;
    the flag says it was created just now, so it is known to be empty."""
    if team.project_ids:
        return team.project_ids[0], False
    project_id = identity.project_id(team.id, name)
    try:
        await client.execute(
            docs.PROJECT_CREATE, {"input": {"id": project_id, "name": name, "teamIds": [team.id]}}
        )
    except LinearError as error:
        if not error.already_exists:
            raise
        return project_id, False  # an earlier attempt made it: it may hold issues already
    return project_id, True


@dataclass
class Created:
    issues: dict[str, RemoteIssue] = field(default_factory=dict)  # by UUID
    failed: dict[str, str] = field(default_factory=dict)  # UUID -> error


async def create_issues(client: LinearClient, inputs: Sequence[dict[str, Any]]) -> Created:
    """`issueBatchCreate` in chunks of at most 50, chunks concurrently; per-issue failures."""
    result = Created()
    chunks = [inputs[i : i + BATCH_SIZE] for i in range(0, len(inputs), BATCH_SIZE)]
    await asyncio.gather(*(_create_chunk(client, list(chunk), result) for chunk in chunks))
    return result


async def _create_chunk(
    client: LinearClient, pending: list[dict[str, Any]], result: Created
) -> None:
    for _ in range(3):
        try:
            data = await client.execute(docs.ISSUE_BATCH_CREATE, {"input": {"issues": pending}})
        except LinearError as error:
            if not error.already_exists:
                break  # something in the batch is bad: find out which, one by one
            # An earlier attempt landed (its answer was lost): keep what exists, send the rest.
            existing = await issues_by_id(client, [item["id"] for item in pending])
            if not existing:
                break
            result.issues.update(existing)
            pending = [item for item in pending if item["id"] not in existing]
            if not pending:
                return
            continue
        except LinearUnavailable as error:
            for item in pending:
                result.failed[item["id"]] = error.message
            return
        for node in data["issueBatchCreate"]["issues"]:
            result.issues[node["id"]] = _issue(node)
        return
    # The batch is refused as a whole (Linear runs it in one transaction): send each issue on
    # its own so one bad issue fails alone and the report can say which.
    await asyncio.gather(*(_create_one(client, item, result) for item in pending))


async def _create_one(client: LinearClient, item: dict[str, Any], result: Created) -> None:
    try:
        data = await client.execute(docs.ISSUE_CREATE, {"input": item})
        result.issues[item["id"]] = _issue(data["issueCreate"]["issue"])
    except LinearError as error:
        if error.already_exists:
            existing = await issues_by_id(client, [item["id"]])
            if item["id"] in existing:
                result.issues[item["id"]] = existing[item["id"]]
                return
            result.failed[item["id"]] = (
                "an issue with this id exists in Linear but not in the team (archived or "
                "deleted?); restore it, or give the spec issue a new key"
            )
            return
        result.failed[item["id"]] = error.message
    except LinearUnavailable as error:
        result.failed[item["id"]] = error.message


def label_key(name: str) -> str:
    """How a label name is matched: Linear's names are unique case-insensitively in a team."""
    return name.strip().lower()


@dataclass
class Labels:
    ids: dict[str, str] = field(default_factory=dict)  # label_key(name) -> id
    failed: dict[str, str] = field(default_factory=dict)  # name as asked -> error
    complete: bool = False  # `ids` holds every label of the team (worth keeping for later)


async def read_labels(client: LinearClient, team_id: str) -> dict[str, str]:
    """The labels issues of the team can carry (the team's and the workspace's), by label_key.

    Groups cannot be put on an issue and retired labels not on a new one: both are left out.
    The team's own label wins over a workspace label of the same name.
    """
    found: dict[str, str] = {}
    workspace: dict[str, str] = {}
    after: str | None = None
    while True:
        variables = {"teamId": team_id, "first": docs.MAX_FIRST, "after": after}
        data = await client.execute(docs.ISSUE_LABELS, variables)
        for node in data["issueLabels"]["nodes"]:
            if node["isGroup"] or node["retiredAt"]:
                continue
            (found if node["team"] else workspace)[label_key(node["name"])] = node["id"]
        page = data["issueLabels"]["pageInfo"]
        if not page["hasNextPage"]:
            return {**workspace, **found}
        after = page["endCursor"]


async def create_label(client: LinearClient, team_id: str, name: str) -> str:
    """A team label called `name`, with a derived id; raises LinearError as Linear answers."""
    label_id = identity.label_id(team_id, name.strip())
    variables = {"input": {"id": label_id, "name": name.strip(), "teamId": team_id}}
    data = await client.execute(docs.ISSUE_LABEL_CREATE, variables)
    return str(data["issueLabelCreate"]["issueLabel"]["id"])


async def ensure_labels(
    client: LinearClient, team_id: str, names: Sequence[str], known: dict[str, str] | None
) -> Labels:
    """Ids for `names`: from `known` (the labels read earlier), else one read of the team's
    labels; the missing ones are created concurrently. Failures are answered, never raised:
    an issue without a label is better than no issue."""
    wanted = _by_key(names)
    labels = Labels(complete=True)
    try:
        labels.ids = dict(known) if known is not None else await read_labels(client, team_id)
    except (LinearError, LinearUnavailable) as error:
        return Labels(failed={name: error.message for name in wanted.values()})
    missing = {key: name for key, name in wanted.items() if key not in labels.ids}
    results = await asyncio.gather(
        *(create_label(client, team_id, name) for name in missing.values()),
        return_exceptions=True,
    )
    clashed: dict[str, str] = {}  # name -> error
    for (key, name), result in zip(missing.items(), results, strict=True):
        if isinstance(result, str):
            labels.ids[key] = result
        elif isinstance(result, LinearError) and result.already_exists:
            clashed[name] = result.message
        elif isinstance(result, LinearError | LinearUnavailable):
            labels.failed[name] = result.message
        else:
            raise result
    if clashed:
        await _settle_clashes(client, team_id, clashed, labels)
    return labels


def _by_key(names: Sequence[str]) -> dict[str, str]:
    """label_key -> the name as first spelled; blank names are no label."""
    wanted: dict[str, str] = {}
    for name in names:
        if label_key(name):
            wanted.setdefault(label_key(name), name.strip())
    return wanted


async def _settle_clashes(
    client: LinearClient, team_id: str, clashed: dict[str, str], labels: Labels
) -> None:
    """Creates answered "already exists": for our derived id (an earlier attempt landed, or
    another run made it at the same time) or for the name (someone made the label since our
    read). Either way the label is there now: read the labels again and take it by name."""
    try:
        fresh = await read_labels(client, team_id)
    except (LinearError, LinearUnavailable) as error:
        fresh, reason = {}, error.message
    else:
        reason = ""
        labels.ids.update(fresh)
    for name, error in clashed.items():
        if label_key(name) not in fresh:
            labels.failed[name] = reason or error


async def update_issue(client: LinearClient, issue_id: str, changes: dict[str, Any]) -> None:
    await client.execute(docs.ISSUE_UPDATE, {"id": issue_id, "input": changes})


async def create_relation(client: LinearClient, blocker: str, blocked: str) -> Relation:
    """`blocker` blocks `blocked`: {issueId: blocker, relatedIssueId: blocked, type: blocks}."""
    relation_id = identity.relation_id(blocker, blocked)
    variables = {
        "input": {
            "id": relation_id,
            "issueId": blocker,
            "relatedIssueId": blocked,
            "type": "blocks",
        }
    }
    try:
        await client.execute(docs.RELATION_CREATE, variables)
    except LinearError as error:
        if not error.already_exists:
            raise
    return Relation(relation_id, blocker, blocked)


async def delete_relation(client: LinearClient, relation_id: str) -> None:
    try:
        await client.execute(docs.RELATION_DELETE, {"id": relation_id})
    except LinearError as error:
        # Gone already (an earlier attempt landed, or someone removed it by hand): that is done.
        if "not found" not in error.message.lower():
            raise


async def create_comment(client: LinearClient, issue_id: str, body: str) -> None:
    # A fresh id per comment, reused by the client's retries: a lost answer cannot post twice.
    comment_id = str(uuid.uuid4())
    try:
        await client.execute(
            docs.COMMENT_CREATE, {"input": {"id": comment_id, "issueId": issue_id, "body": body}}
        )
    except LinearError as error:
        if not error.already_exists:
            raise
