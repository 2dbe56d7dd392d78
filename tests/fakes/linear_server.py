"""A fake Linear: a real HTTP server on 127.0.0.1 executing GraphQL against Linear's own schema.

graphql-core parses, validates and executes every request against the vendored schema
(`tests/fakes/linear/schema.graphql`), so a document Linear would reject is rejected here too.
Resolvers cover the subset the engine uses over an in-memory store. Knobs for tests and benchmarks:

* `latency`: seconds every request takes (requests overlap: one thread per connection);
* a fault schedule: `Fault`s consumed one per request, then `fault_rate` random faults (seeded);
* `requests`: a record of every request (operation, variables, Authorization header, fault);
* `refuse_labels`: label names (any case) whose `issueLabelCreate` answers the given error.

Fault kinds: `ratelimit` (HTTP 400, or `status=429`, with `extensions.code == "RATELIMITED"` and
the given headers), `error500`, `drop` (close the connection before doing anything), `drop_after`
(do the work, then close without answering: the client must not create twice), and `slow` (do the
work, answer after `delay` seconds: longer than the client's timeout, it is a lost answer too).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import graphql
from graphql import GraphQLError, GraphQLSchema

SCHEMA_PATH = Path(__file__).parent / "linear" / "schema.graphql"
FAULT_KINDS = ("ratelimit", "error500", "drop", "drop_after", "slow")
DEFAULT_STATES = (
    ("Backlog", "backlog", 0.0),
    ("Todo", "unstarted", 1.0),
    ("In Progress", "started", 2.0),
    ("Done", "completed", 3.0),
    ("Canceled", "canceled", 4.0),
)

_DOC_BLOCK = re.compile(r'"""[\s\S]*?"""')  # block-string descriptions
_DOC_LINE = re.compile(r'(?m)^\s*"(?:[^"\\\n]|\\.)*"\s*$')  # one-line descriptions
_schema_lock = threading.Lock()
_schema: GraphQLSchema | None = None


def linear_schema() -> GraphQLSchema:
    """Linear's schema with our resolvers attached; built once per process (it takes ~1 s)."""
    global _schema
    with _schema_lock:
        if _schema is None:
            # Linear's published SDL is known good: skip locations and SDL/schema validation.
            # Descriptions are two thirds of its 1.2 MB and change nothing a query can do, so
            # they are dropped before parsing (graphql-core's pure-Python parser is the cost).
            text = _DOC_BLOCK.sub("", SCHEMA_PATH.read_text(encoding="utf-8"))
            text = _DOC_LINE.sub("", text)
            document = graphql.parse(text, no_location=True)
            schema = graphql.build_ast_schema(document, assume_valid=True, assume_valid_sdl=True)
            _attach_resolvers(schema)
            _schema = schema
        return _schema


@lru_cache(maxsize=256)
def _parsed(source: str) -> tuple[graphql.DocumentNode | None, tuple[GraphQLError, ...]]:
    try:
        document = graphql.parse(source)
    except GraphQLError as error:
        return None, (error,)
    errors = graphql.validate(linear_schema(), document)
    return (None, tuple(errors)) if errors else (document, ())


@dataclass(frozen=True)
class Fault:
    kind: str  # one of FAULT_KINDS
    status: int = 400  # for ratelimit: 400 (what Linear sends) or 429
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.5  # for slow


@dataclass
class Recorded:
    operation: str
    variables: dict[str, Any]
    authorization: str
    fault: str = ""
    at: float = 0.0


# -- the store -------------------------------------------------------------------------------


class Store:
    """Linear's data, as plain dicts keyed by id, in creation order."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.teams: dict[str, dict[str, Any]] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.issues: dict[str, dict[str, Any]] = {}
        self.relations: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, dict[str, Any]] = {}
        self.labels: dict[str, dict[str, Any]] = {}  # teamId None: a workspace label
        self.refuse_labels: dict[str, str] = {}  # lowercased name -> error message
        self.sync_id = 0.0

    def next_sync(self) -> float:
        self.sync_id += 1
        return self.sync_id

    def find_issue(self, ref: str) -> dict[str, Any]:
        issue = self.issues.get(ref)
        if issue is None:
            issue = next((i for i in self.issues.values() if i["identifier"] == ref), None)
        if issue is None:
            raise _error("Entity not found: Issue", "INPUT_ERROR")
        return issue

    def create_issue(self, data: dict[str, Any]) -> dict[str, Any]:
        issue_id = data.get("id") or str(uuid.uuid4())
        if issue_id in self.issues:
            raise _error(f"Entity Issue with id {issue_id} already exists", "INPUT_ERROR")
        team = self.teams.get(data["teamId"])
        if team is None:
            raise _error("Entity not found: Team", "INPUT_ERROR")
        if not (data.get("title") or "").strip():
            raise _error("title should not be empty", "INPUT_ERROR")
        if data.get("projectId") and data["projectId"] not in self.projects:
            raise _error("Entity not found: Project", "INPUT_ERROR")
        state_id = data.get("stateId") or _default_state(self, team["id"])
        if state_id not in self.states:
            raise _error("Entity not found: WorkflowState", "INPUT_ERROR")
        label_ids = self.usable_labels(team["id"], data.get("labelIds") or [])
        team["counter"] += 1
        issue = {
            "id": issue_id,
            "identifier": f"{team['key']}-{team['counter']}",
            "number": float(team["counter"]),
            "teamId": team["id"],
            "projectId": data.get("projectId"),
            "title": data["title"],
            "description": data.get("description"),
            "priority": float(data.get("priority") or 0),
            "stateId": state_id,
            "labelIds": label_ids,
        }
        return issue

    def usable_labels(self, team_id: str, label_ids: list[str]) -> list[str]:
        """Labels an issue of the team may carry: its team's or the workspace's, no groups."""
        for label_id in label_ids:
            label = self.labels.get(label_id)
            if label is None:
                raise _error("Entity not found: IssueLabel", "INPUT_ERROR")
            if label["teamId"] not in (None, team_id):
                raise _error(f"Label {label['name']} is not in the issue's team", "INPUT_ERROR")
            if label["isGroup"]:
                raise _error(f"Label {label['name']} is a group", "INPUT_ERROR")
        return list(dict.fromkeys(label_ids))

    def create_label(self, data: dict[str, Any]) -> dict[str, Any]:
        label_id = data.get("id") or str(uuid.uuid4())
        if label_id in self.labels:
            raise _error(f"Entity IssueLabel with id {label_id} already exists", "INPUT_ERROR")
        team_id = data.get("teamId")
        if team_id is not None and team_id not in self.teams:
            raise _error("Entity not found: Team", "INPUT_ERROR")
        name = data["name"].strip()
        refusal = self.refuse_labels.get(name.lower())
        if refusal:
            raise _error(refusal, "INPUT_ERROR")
        # Linear's own answer: names are unique, case-insensitively, among the labels the team
        # sees (a new workspace label must not clash with any team's either).
        clash = any(
            other["name"].lower() == name.lower()
            and (team_id is None or other["teamId"] in (None, team_id))
            for other in self.labels.values()
        )
        if clash:
            raise _error("Label with this name already exists in the team", "INPUT_ERROR")
        label = {
            "id": label_id,
            "name": name,
            "teamId": team_id,
            "isGroup": bool(data.get("isGroup")),
            "retiredAt": data.get("retiredAt"),
            "color": data.get("color") or "#bec2c8",
        }
        self.labels[label_id] = label
        return label


def _default_state(store: Store, team_id: str) -> str:
    states = sorted(
        (s for s in store.states.values() if s["teamId"] == team_id),
        key=lambda s: ({"backlog": 0}.get(s["type"], 1), s["position"]),
    )
    return states[0]["id"]


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, "type": "invalid input"})


def _connection(items: list[dict[str, Any]], first: int | None, after: str | None) -> dict:
    first = 50 if first is None else first
    if first > 250 or first < 0:
        raise _error("first must be between 0 and 250", "INPUT_ERROR")
    start = 0
    if after:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise _error("invalid cursor", "INPUT_ERROR")
        start = ids.index(after) + 1
    page = items[start : start + first]
    return {
        "nodes": page,
        "edges": [{"node": n, "cursor": n["id"]} for n in page],
        "pageInfo": {
            "hasNextPage": start + first < len(items),
            "hasPreviousPage": start > 0,
            "startCursor": page[0]["id"] if page else None,
            "endCursor": page[-1]["id"] if page else None,
        },
    }


def _string_match(comparator: dict[str, Any] | None, value: str) -> bool:
    if not comparator:
        return True
    for op, want in comparator.items():
        if op == "eq" and value != want:
            return False
        if op == "in" and value not in want:
            return False
        if op == "eqIgnoreCase" and value.lower() != str(want).lower():
            return False
        if op not in ("eq", "in", "eqIgnoreCase"):
            raise _error(f"fake Linear does not support comparator {op!r}", "INPUT_ERROR")
    return True


def _only(filter_: dict[str, Any] | None, allowed: set[str]) -> dict[str, Any]:
    filter_ = filter_ or {}
    unknown = set(filter_) - allowed
    if unknown:
        raise _error(f"fake Linear does not support filter {sorted(unknown)}", "INPUT_ERROR")
    return filter_


def _label_match(label: dict[str, Any], filter_: dict[str, Any] | None) -> bool:
    """IssueLabelFilter, the part the engine sends: and/or, id, name and the team."""
    f = _only(filter_, {"and", "or", "id", "name", "team"})
    if "and" in f and not all(_label_match(label, g) for g in f["and"]):
        return False
    if "or" in f and not any(_label_match(label, g) for g in f["or"]):
        return False
    if not _string_match(f.get("id"), label["id"]):
        return False
    if not _string_match(f.get("name"), label["name"]):
        return False
    return "team" not in f or _nullable_team_match(label["teamId"], f["team"])


def _nullable_team_match(team_id: str | None, filter_: dict[str, Any]) -> bool:
    f = _only(filter_, {"id", "null"})
    if "null" in f and (team_id is None) != f["null"]:
        return False
    if "id" in f:
        return team_id is not None and _string_match(f["id"], team_id)
    return True


def _store(info: graphql.GraphQLResolveInfo) -> Store:
    return info.context


# -- resolvers -------------------------------------------------------------------------------


def _teams(
    _root: Any,
    info: Any,
    first: int | None = None,
    after: str | None = None,
    filter: dict | None = None,
    **_: Any,
) -> dict:
    f = _only(filter, {"key"})
    teams = [t for t in _store(info).teams.values() if _string_match(f.get("key"), t["key"])]
    return _connection(teams, first, after)


def _team(_root: Any, info: Any, id: str) -> dict:
    team = _store(info).teams.get(id) or next(
        (t for t in _store(info).teams.values() if t["key"] == id), None
    )
    if team is None:
        raise _error("Entity not found: Team", "INPUT_ERROR")
    return team


def _project(_root: Any, info: Any, id: str) -> dict:
    project = _store(info).projects.get(id)
    if project is None:
        raise _error("Entity not found: Project", "INPUT_ERROR")
    return project


def _issue(_root: Any, info: Any, id: str) -> dict:
    return _store(info).find_issue(id)


def _issues(
    _root: Any,
    info: Any,
    first: int | None = None,
    after: str | None = None,
    filter: dict | None = None,
    **_: Any,
) -> dict:
    f = _only(filter, {"id"})
    items = [i for i in _store(info).issues.values() if _string_match(f.get("id"), i["id"])]
    return _connection(items, first, after)


def _issue_labels(
    _root: Any,
    info: Any,
    first: int | None = None,
    after: str | None = None,
    filter: dict | None = None,
    **_: Any,
) -> dict:
    labels = [lb for lb in _store(info).labels.values() if _label_match(lb, filter)]
    return _connection(labels, first, after)


def _issue_label_list(
    issue: dict, info: Any, first: int | None = None, after: str | None = None, **_: Any
) -> dict:
    labels = [_store(info).labels[label_id] for label_id in issue["labelIds"]]
    return _connection(labels, first, after)


def _team_states(
    team: dict, info: Any, first: int | None = None, after: str | None = None, **_: Any
) -> dict:
    states = [s for s in _store(info).states.values() if s["teamId"] == team["id"]]
    return _connection(states, first, after)


def _team_projects(
    team: dict,
    info: Any,
    first: int | None = None,
    after: str | None = None,
    filter: dict | None = None,
    **_: Any,
) -> dict:
    f = _only(filter, {"name"})
    projects = [
        p
        for p in _store(info).projects.values()
        if team["id"] in p["teamIds"] and _string_match(f.get("name"), p["name"])
    ]
    return _connection(projects, first, after)


def _team_issues(
    team: dict, info: Any, first: int | None = None, after: str | None = None, **_: Any
) -> dict:
    items = [i for i in _store(info).issues.values() if i["teamId"] == team["id"]]
    return _connection(items, first, after)


def _project_issues(
    project: dict, info: Any, first: int | None = None, after: str | None = None, **_: Any
) -> dict:
    items = [i for i in _store(info).issues.values() if i["projectId"] == project["id"]]
    return _connection(items, first, after)


def _issue_relations(
    issue: dict, info: Any, first: int | None = None, after: str | None = None, **_: Any
) -> dict:
    items = [r for r in _store(info).relations.values() if r["issueId"] == issue["id"]]
    return _connection(items, first, after)


def _issue_inverse_relations(
    issue: dict, info: Any, first: int | None = None, after: str | None = None, **_: Any
) -> dict:
    items = [r for r in _store(info).relations.values() if r["relatedIssueId"] == issue["id"]]
    return _connection(items, first, after)


def _project_create(_root: Any, info: Any, input: dict, **_: Any) -> dict:
    store = _store(info)
    project_id = input.get("id") or str(uuid.uuid4())
    if project_id in store.projects:
        raise _error(f"Entity Project with id {project_id} already exists", "INPUT_ERROR")
    for team_id in input["teamIds"]:
        if team_id not in store.teams:
            raise _error("Entity not found: Team", "INPUT_ERROR")
    project = {"id": project_id, "name": input["name"], "teamIds": list(input["teamIds"])}
    store.projects[project_id] = project
    return {"success": True, "project": project, "lastSyncId": store.next_sync()}


def _issue_batch_create(_root: Any, info: Any, input: dict) -> dict:
    store = _store(info)
    issues = input["issues"]
    if len(issues) > 50:
        raise _error("issueBatchCreate takes at most 50 issues", "INPUT_ERROR")
    # One transaction: check everything before storing anything.
    ids = [i.get("id") for i in issues if i.get("id")]
    if len(ids) != len(set(ids)):
        raise _error("duplicate ids in batch", "INPUT_ERROR")
    made = [store.create_issue(data) for data in issues]
    for issue in made:
        store.issues[issue["id"]] = issue
    return {"success": True, "issues": made, "lastSyncId": store.next_sync()}


def _issue_create(_root: Any, info: Any, input: dict) -> dict:
    store = _store(info)
    issue = store.create_issue(input)
    store.issues[issue["id"]] = issue
    return {"success": True, "issue": issue, "lastSyncId": store.next_sync()}


def _issue_update(_root: Any, info: Any, id: str, input: dict) -> dict:
    store = _store(info)
    issue = store.find_issue(id)
    for name in ("title", "description", "priority", "stateId", "projectId"):
        if name in input:
            if name == "stateId" and input[name] not in store.states:
                raise _error("Entity not found: WorkflowState", "INPUT_ERROR")
            issue[name] = float(input[name]) if name == "priority" else input[name]
    return {"success": True, "issue": issue, "lastSyncId": store.next_sync()}


def _label_create(_root: Any, info: Any, input: dict, **_: Any) -> dict:
    store = _store(info)
    label = store.create_label(input)
    return {"success": True, "issueLabel": label, "lastSyncId": store.next_sync()}


def _relation_create(_root: Any, info: Any, input: dict, **_: Any) -> dict:
    store = _store(info)
    relation_id = input.get("id") or str(uuid.uuid4())
    if relation_id in store.relations:
        raise _error(f"Entity IssueRelation with id {relation_id} already exists", "INPUT_ERROR")
    a = store.find_issue(input["issueId"])
    b = store.find_issue(input["relatedIssueId"])
    # Like Linear, a second relation between the same pair is not refused: a client that
    # retries with fresh ids makes duplicates, which the convergence tests would catch.
    relation = {
        "id": relation_id,
        "type": input["type"],
        "issueId": a["id"],
        "relatedIssueId": b["id"],
    }
    store.relations[relation_id] = relation
    return {"success": True, "issueRelation": relation, "lastSyncId": store.next_sync()}


def _relation_delete(_root: Any, info: Any, id: str) -> dict:
    store = _store(info)
    if store.relations.pop(id, None) is None:
        raise _error("Entity not found: IssueRelation", "INPUT_ERROR")
    return {"success": True, "entityId": id, "lastSyncId": store.next_sync()}


def _comment_create(_root: Any, info: Any, input: dict) -> dict:
    store = _store(info)
    comment_id = input.get("id") or str(uuid.uuid4())
    if comment_id in store.comments:
        raise _error(f"Entity Comment with id {comment_id} already exists", "INPUT_ERROR")
    issue = store.find_issue(input["issueId"])
    comment = {"id": comment_id, "issueId": issue["id"], "body": input.get("body") or ""}
    store.comments[comment_id] = comment
    return {"success": True, "comment": comment, "lastSyncId": store.next_sync()}


def _attach_resolvers(schema: GraphQLSchema) -> None:
    assert schema.query_type is not None and schema.mutation_type is not None
    query, mutation = schema.query_type.fields, schema.mutation_type.fields
    query["teams"].resolve = _teams
    query["team"].resolve = _team
    query["project"].resolve = _project
    query["issue"].resolve = _issue
    query["issues"].resolve = _issues
    query["issueLabels"].resolve = _issue_labels
    mutation["projectCreate"].resolve = _project_create
    mutation["issueBatchCreate"].resolve = _issue_batch_create
    mutation["issueCreate"].resolve = _issue_create
    mutation["issueUpdate"].resolve = _issue_update
    mutation["issueLabelCreate"].resolve = _label_create
    mutation["issueRelationCreate"].resolve = _relation_create
    mutation["issueRelationDelete"].resolve = _relation_delete
    mutation["commentCreate"].resolve = _comment_create
    types = schema.type_map

    def field(type_name: str, name: str, resolve: Any) -> None:
        types[type_name].fields[name].resolve = resolve  # type: ignore[union-attr]

    field("Team", "states", _team_states)
    field("Team", "projects", _team_projects)
    field("Team", "issues", _team_issues)
    field("Project", "issues", _project_issues)
    field("Issue", "relations", _issue_relations)
    field("Issue", "inverseRelations", _issue_inverse_relations)
    field("Issue", "labels", _issue_label_list)
    field("IssueLabel", "team", lambda label, info: _store(info).teams.get(label["teamId"] or ""))
    field("Issue", "state", lambda issue, info: _store(info).states[issue["stateId"]])
    field("Issue", "team", lambda issue, info: _store(info).teams[issue["teamId"]])
    field(
        "Issue",
        "project",
        lambda issue, info: _store(info).projects.get(issue["projectId"] or ""),
    )
    field("IssueRelation", "issue", lambda rel, info: _store(info).issues[rel["issueId"]])
    field(
        "IssueRelation",
        "relatedIssue",
        lambda rel, info: _store(info).issues[rel["relatedIssueId"]],
    )


# -- the server ------------------------------------------------------------------------------


class FakeLinear:
    """`with FakeLinear() as linear: linear.url ...`; see the module docstring for the knobs."""

    def __init__(
        self,
        *,
        api_key: str = "lin_api_fake_0123456789",
        latency: float = 0.0,
        faults: Iterable[Fault | None] = (),
        fault_rate: float = 0.0,
        fault_kinds: tuple[str, ...] = FAULT_KINDS,
        slow_delay: float = 0.5,
        seed: int = 0,
    ) -> None:
        linear_schema()  # build before serving, not inside the first request's timeout
        self.api_key = api_key
        self.latency = latency
        self.schedule: deque[Fault | None] = deque(faults)
        self.fault_rate = fault_rate
        self.fault_kinds = fault_kinds
        self.slow_delay = slow_delay
        self._random = random.Random(seed)
        self.store = Store()
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.peak_in_flight = 0  # the most requests this server was handling at once
        self._record_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def __enter__(self) -> FakeLinear:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "use `with FakeLinear() as linear`"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/graphql"

    # -- seeding and inspection
    def add_team(self, key: str, name: str = "") -> dict[str, Any]:
        with self.store.lock:
            team = {"id": str(uuid.uuid4()), "key": key, "name": name or key, "counter": 0}
            self.store.teams[team["id"]] = team
            for state_name, kind, position in DEFAULT_STATES:
                state_id = str(uuid.uuid4())
                self.store.states[state_id] = {
                    "id": state_id,
                    "name": state_name,
                    "type": kind,
                    "position": position,
                    "teamId": team["id"],
                }
            return team

    def add_project(self, team_key: str, name: str) -> dict[str, Any]:
        with self.store.lock:
            project = {
                "id": str(uuid.uuid4()),
                "name": name,
                "teamIds": [self.team(team_key)["id"]],
            }
            self.store.projects[project["id"]] = project
            return project

    def add_issue(
        self, team_key: str, title: str, *, project: str = "", description: str = ""
    ) -> dict[str, Any]:
        """An issue made by hand in Linear's UI."""
        with self.store.lock:
            data = {
                "teamId": self.team(team_key)["id"],
                "title": title,
                "description": description,
                "projectId": self.project(project)["id"] if project else None,
            }
            issue = self.store.create_issue(data)
            self.store.issues[issue["id"]] = issue
            return issue

    def add_relation(self, blocker: str, blocked: str, kind: str = "blocks") -> dict[str, Any]:
        """A relation made in Linear's UI; issues by identifier or id."""
        with self.store.lock:
            a, b = self.store.find_issue(blocker), self.store.find_issue(blocked)
            relation = {
                "id": str(uuid.uuid4()),
                "type": kind,
                "issueId": a["id"],
                "relatedIssueId": b["id"],
            }
            self.store.relations[relation["id"]] = relation
            return relation

    def add_label(self, name: str, team_key: str = "", *, group: bool = False) -> dict[str, Any]:
        """A label made in Linear's UI: the team's, or the workspace's without `team_key`."""
        with self.store.lock:
            team_id = self.team(team_key)["id"] if team_key else None
            return self.store.create_label({"name": name, "teamId": team_id, "isGroup": group})

    def label_names(self, issue: dict[str, Any]) -> list[str]:
        """The names of an issue's labels, in the order they were given."""
        return [self.store.labels[label_id]["name"] for label_id in issue["labelIds"]]

    def team(self, key: str) -> dict[str, Any]:
        return next(t for t in self.store.teams.values() if t["key"] == key)

    def project(self, name: str) -> dict[str, Any]:
        return next(p for p in self.store.projects.values() if p["name"] == name)

    def issues_in(self, project: str) -> list[dict[str, Any]]:
        project_id = self.project(project)["id"]
        return [i for i in self.store.issues.values() if i["projectId"] == project_id]

    def blocks(self) -> list[tuple[str, str]]:
        """Every `blocks` relation as (blocker identifier, blocked identifier), duplicates kept."""
        issues = self.store.issues
        return [
            (issues[r["issueId"]]["identifier"], issues[r["relatedIssueId"]]["identifier"])
            for r in self.store.relations.values()
            if r["type"] == "blocks"
        ]

    def state_of(self, identifier: str) -> str:
        issue = self.store.find_issue(identifier)
        return self.store.states[issue["stateId"]]["type"]

    def operations(self) -> list[str]:
        return [r.operation for r in self.requests]

    # -- per request
    def next_fault(self) -> Fault | None:
        with self._record_lock:
            if self.schedule:
                return self.schedule.popleft()
            if self.fault_rate and self._random.random() < self.fault_rate:
                kind = self._random.choice(self.fault_kinds)
                headers = {"retry-after": "0"} if kind == "ratelimit" else {}
                return Fault(kind, headers=headers, delay=self.slow_delay)
            return None

    def record(self, entry: Recorded) -> None:
        with self._record_lock:
            self.requests.append(entry)

    def enter(self) -> None:
        with self._record_lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._record_lock:
            self.in_flight -= 1

    def authorized(self, header: str) -> bool:
        if self.api_key.startswith("lin_oauth_"):
            return header == f"Bearer {self.api_key}"
        return header == self.api_key

    def execute(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        document, errors = _parsed(str(body.get("query", "")))
        if document is None:
            # Linear answers documents that do not validate with HTTP 400.
            return 400, {"errors": [_format(e, "GRAPHQL_VALIDATION_FAILED") for e in errors]}
        with self.store.lock:
            result = graphql.execute(
                linear_schema(),
                document,
                variable_values=body.get("variables") or {},
                operation_name=body.get("operationName"),
                context_value=self.store,
            )
        assert not isinstance(result, Iterator)
        answer: dict[str, Any] = {"data": result.data}  # type: ignore[union-attr]
        if result.errors:  # type: ignore[union-attr]
            answer["errors"] = [_format(e, "INPUT_ERROR") for e in result.errors]  # type: ignore[union-attr]
        return 200, answer


def _format(error: GraphQLError, default_code: str) -> dict[str, Any]:
    formatted = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    extensions.setdefault("code", default_code)
    formatted["extensions"] = extensions
    return formatted


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog is 5: a burst of concurrent connections overflows it and
    # the kernel drops SYNs, which clients retry a full second later.
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLinear
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API behind its load balancer
    # Headers and body go out in two writes; with Nagle on, delayed ACKs add ~40 ms to every
    # keep-alive request, which would swamp the latency knob.
    disable_nagle_algorithm = True
    timeout = 30

    def log_message(self, *_: Any) -> None:  # quiet: tests read `requests` instead
        pass

    def do_POST(self) -> None:
        self.fake.enter()
        try:
            self._handle()
        finally:
            self.fake.leave()

    def _handle(self) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, {"errors": [{"message": "bad JSON"}]})
            return
        fault = fake.next_fault()
        fake.record(
            Recorded(
                operation=str(body.get("operationName") or ""),
                variables=body.get("variables") or {},
                authorization=self.headers.get("Authorization", ""),
                fault=fault.kind if fault else "",
                at=time.monotonic(),
            )
        )
        if fake.latency:
            time.sleep(fake.latency)
        if fault is not None and fault.kind == "drop":
            self._drop()
            return
        if fault is not None and fault.kind == "error500":
            self._send(500, None)
            return
        if fault is not None and fault.kind == "ratelimit":
            error = {
                "message": "Rate limit exceeded",
                "extensions": {"code": "RATELIMITED", "statusCode": 429},
            }
            self._send(fault.status, {"errors": [error]}, fault.headers)
            return
        if not fake.authorized(self.headers.get("Authorization", "")):
            error = {
                "message": "Authentication required, not authenticated",
                "extensions": {"code": "AUTHENTICATION_ERROR", "statusCode": 401},
            }
            self._send(400, {"errors": [error]})
            return
        status, answer = fake.execute(body)
        if fault is not None and fault.kind == "drop_after":
            self._drop()
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        self._send(status, answer)

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.close()

    def _send(self, status: int, body: dict[str, Any] | None, headers: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b"Internal Server Error"
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if body else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client gave up (timed out); nothing to do


def client_for(fake: FakeLinear, *, key: str = "", timeout: float = 2.0, **kwargs: Any) -> Any:
    """A LinearClient aimed at `fake` whose waits are tiny, so fault tests take milliseconds."""
    from engine.trackers.linear.auth import ApiKey
    from engine.trackers.linear.client import LinearClient
    from engine.trackers.linear.retry import RetryPolicy

    policy = kwargs.pop(
        "policy",
        RetryPolicy(base_delay=0.001, max_delay=0.005, rate_limit_fallback=0.001),
    )
    return LinearClient(
        ApiKey(key or fake.api_key, source="$LINEAR_API_KEY"),
        url=fake.url,
        timeout=timeout,
        policy=policy,
        **kwargs,
    )
