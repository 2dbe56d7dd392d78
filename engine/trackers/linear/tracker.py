"""Linear behind the Tracker interface, with the local SQLite snapshot in front of it.

Reads (`snapshot`, `edges`) never touch the network: they read the LocalTracker that `sync` and
`import_issues` write. Writes go to Linear first and then to the snapshot, so the snapshot never
claims something Linear does not have. Each public method is a thin `asyncio.run` around an
`..._async` twin, so async callers (and tests) use the same code path.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from engine.config.model import Pipeline, TrackerConfig
from engine.errors import MarathonError
from engine.issue import STATE_TYPES, Edge, Issue, IssueDraft
from engine.trackers.base import ImportReport
from engine.trackers.linear import identity, remote
from engine.trackers.linear.auth import load_api_key
from engine.trackers.linear.client import LinearClient, LinearError, LinearUnavailable
from engine.trackers.local import LocalTracker

log = logging.getLogger("engine.trackers.linear")

# Linear state types outside our vocabulary: a duplicate is closed without being done.
_STATE_ALIASES = {"duplicate": "canceled"}


@dataclass(frozen=True)
class _Place:
    team: remote.Team
    project_id: str  # "" when marathon.yaml names no project: the whole team is the scope
    new_project: bool = False  # created by this call: known empty, no need to read it


class LinearTracker:
    """The Tracker protocol over Linear. The key is read on the first network call, not before,
    so loading tasks (`doit list`) works without it."""

    def __init__(
        self,
        config: TrackerConfig,
        snapshot: LocalTracker,
        *,
        client: LinearClient | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if not config.team:
            raise MarathonError(
                "tracker.team: required for a Linear tracker (the team key, e.g. ENG)",
                where="marathon.yaml",
            )
        self.config = config
        self.local = snapshot
        self._client = client
        self._environ = environ
        self._place: _Place | None = None
        self._labels: dict[str, str] | None = None  # label_key(name) -> id, once read

    def __repr__(self) -> str:
        return f"LinearTracker(team={self.config.team!r}, project={self.config.project!r})"

    @property
    def client(self) -> LinearClient:
        if self._client is None:
            self._client = LinearClient(
                load_api_key(self.config, self._environ), url=self.config.url
            )
        return self._client

    # -- reading: local only -------------------------------------------------------------------

    def snapshot(self) -> list[Issue]:
        return self.local.snapshot()

    def edges(self) -> list[Edge]:
        return self.local.edges()

    # -- the sync surface ----------------------------------------------------------------------

    def import_issues(
        self, drafts: Sequence[IssueDraft], edges: Sequence[Edge], *, source: str = ""
    ) -> ImportReport:
        return asyncio.run(self.import_issues_async(drafts, edges, source=source))

    def create_issue(self, draft: IssueDraft, blocks: Sequence[str] = ()) -> Issue:
        return asyncio.run(self.create_issue_async(draft, blocks))

    def set_state(self, issue_id: str, state: str) -> None:
        asyncio.run(self.set_state_async(issue_id, state))

    def comment(self, issue_id: str, body: str) -> None:
        asyncio.run(self.comment_async(issue_id, body))

    def sync(self) -> str:
        return asyncio.run(self.sync_async())

    def add_edge(self, edge: Edge) -> None:
        """Like LocalTracker.add_edge: `edge.blocker` blocks `edge.blocked` (issue ids)."""
        asyncio.run(self.add_edge_async(edge))

    # -- async ---------------------------------------------------------------------------------

    async def sync_async(self) -> str:
        """Pull every issue and `blocks` relation of the project into the snapshot."""
        async with self.client as client:
            place = await self._locate(client, create_project=False)
            found = await _read(client, place)
        issues, edges = self._to_snapshot(found)
        self.local.replace_snapshot(issues, edges)
        return (
            f"synced {len(issues)} issues and {len(edges)} dependencies from Linear "
            f"({self._scope_name()})"
        )

    async def import_issues_async(
        self, drafts: Sequence[IssueDraft], edges: Sequence[Edge], *, source: str = ""
    ) -> ImportReport:
        """Write the drafts and edges to Linear, then the snapshot.

        Linear has no transactions: until the import ends with nothing failed, the snapshot
        carries a pending mark (set here, before the first write) that readers warn about.
        """
        _check_import(drafts, edges)
        report = ImportReport()
        self.local.begin_import(source)
        async with self.client as client:
            place = await self._locate(client, create_project=True)
            found = remote.Remote() if place.new_project else await _read(client, place)
            uuid_by_key = await self._write_issues(client, place, found, drafts, report)
            await self._write_relations(client, found, uuid_by_key, edges, report)
        # The read plus what we wrote is what Linear now holds: no second full read needed.
        reasons = {(e.blocker, e.blocked): e.reason for e in edges}
        issues, snapshot_edges = self._to_snapshot(found, keyed_reasons=reasons)
        # The mark names issues by id, as `doit graph` does (report.failed keeps draft keys).
        ids = {issue.key: issue.id for issue in issues if issue.key}
        failures = {
            " ".join(ids.get(word, word) for word in item.split(" ")): why
            for item, why in report.failed.items()
        }
        self.local.replace_snapshot(issues, snapshot_edges, import_failures=failures)
        return report

    async def create_issue_async(self, draft: IssueDraft, blocks: Sequence[str] = ()) -> Issue:
        """One issue outside an import (a bug found by a gate, say), blocking `blocks` (ids).

        With a key it is idempotent like an import (the same bug signature finds the same
        issue); without one (`doit add`) every call makes a new issue, as by hand in Linear.
        """
        by_id = {issue.id: issue for issue in self.local.snapshot()}
        targets = [_remote_id(by_id, blocked) for blocked in blocks]
        known = next((i for i in by_id.values() if draft.key and i.key == draft.key), None)
        async with self.client as client:
            place = await self._locate(client, create_project=True)
            if known is not None and known.remote_id:
                uid, created = known.remote_id, None
            else:
                uid = (
                    identity.issue_id(place.team.id, place.project_id, draft.key)
                    if draft.key
                    else str(uuid.uuid4())
                )
                labels = await self._resolve_labels(client, place, [draft])
                for name, error in labels.failed.items():
                    log.warning(
                        "Linear label %r: %s; %r is created without it", name, error, draft.title
                    )
                inputs = [_create_input(place, uid, draft, labels.ids)]
                made = await remote.create_issues(client, inputs)
                if uid in made.failed:
                    raise MarathonError(f"Linear refused issue {draft.title!r}: {made.failed[uid]}")
                created = made.issues[uid]
            await asyncio.gather(*(remote.create_relation(client, uid, t) for t in targets))
        issue = known if created is None else self._issue(created, draft.key, draft.kind)
        assert issue is not None
        reason = f"{draft.kind} issue goes first"
        # Read the snapshot again only now, after the network calls, to keep the window in
        # which a concurrent writer's change could be overwritten as small as possible.
        current = [i for i in self.local.snapshot() if i.id != issue.id]
        edges = [*self.local.edges(), *(Edge(issue.id, b, reason) for b in blocks)]
        self.local.replace_snapshot([*current, issue], edges)
        return self.local.get(issue.id)

    async def add_edge_async(self, edge: Edge) -> None:
        by_id = {issue.id: issue for issue in self.local.snapshot()}
        blocker, blocked = _remote_id(by_id, edge.blocker), _remote_id(by_id, edge.blocked)
        async with self.client as client:
            await remote.create_relation(client, blocker, blocked)
        self.local.add_edge(edge)

    async def set_state_async(self, issue_id: str, state: str) -> None:
        if state not in STATE_TYPES:
            raise MarathonError(f"unknown state {state!r} (expected one of: {STATE_TYPES})")
        uid = _remote_id({i.id: i for i in self.local.snapshot()}, issue_id)
        async with self.client as client:
            place = await self._locate(client, create_project=False)
            state_id = place.team.states.get(state)
            if state_id is None:
                raise MarathonError(
                    f"Linear team {place.team.key} has no workflow state of type {state!r}"
                )
            await remote.update_issue(client, uid, {"stateId": state_id})
        self.local.set_state(issue_id, state)

    async def comment_async(self, issue_id: str, body: str) -> None:
        uid = _remote_id({i.id: i for i in self.local.snapshot()}, issue_id)
        async with self.client as client:
            await remote.create_comment(client, uid, body)
        self.local.comment(issue_id, body)

    # -- steps ---------------------------------------------------------------------------------

    async def _locate(self, client: LinearClient, *, create_project: bool) -> _Place:
        """Team, states and project: looked up once per tracker (they rarely change)."""
        if self._place is not None and (self._place.project_id or not self.config.project):
            return self._place
        team = await remote.find_team(client, self.config.team, self.config.project)
        project_id, new_project = "", False
        if self.config.project:
            if team.project_ids:
                project_id = team.project_ids[0]
            elif create_project:
                project_id, new_project = await remote.ensure_project(
                    client, team, self.config.project
                )
            else:
                raise MarathonError(
                    f"Linear team {team.key} has no project named {self.config.project!r}; "
                    "run `doit init --spec ...` to create it, or fix tracker.project",
                    where="marathon.yaml",
                )
        place = _Place(team, project_id, new_project)
        self._place = replace(place, new_project=False)  # only the first caller may skip reading
        return place

    async def _write_issues(
        self,
        client: LinearClient,
        place: _Place,
        found: remote.Remote,
        drafts: Sequence[IssueDraft],
        report: ImportReport,
    ) -> dict[str, str]:
        """Create missing issues, update changed ones; answers the UUID of each draft key."""
        by_marker = {
            identity.parse_description(i.description).key: uid for uid, i in found.issues.items()
        }
        by_marker.pop("", None)
        uuid_by_key: dict[str, str] = {}
        new: list[tuple[str, IssueDraft]] = []  # (derived UUID, draft)
        key_by_uuid: dict[str, str] = {}
        updates: list[tuple[IssueDraft, str, dict[str, Any]]] = []
        for draft in drafts:
            derived = identity.issue_id(place.team.id, place.project_id, draft.key)
            uid = derived if derived in found.issues else by_marker.get(draft.key, "")
            if not uid:
                new.append((derived, draft))
                key_by_uuid[derived] = draft.key
                continue
            uuid_by_key[draft.key] = uid
            have = found.issues[uid]
            if identity.same_content(have.title, have.description, have.priority, draft):
                report.unchanged.append(have.identifier)
                continue
            # Labels are set when an issue is created, never here: people relabel issues by
            # hand in Linear, and a re-import must not undo that.
            changes = {
                "title": draft.title,
                "description": identity.render_description(draft),
                "priority": draft.priority,
            }
            updates.append((draft, uid, changes))
        made = await self._create_new(client, place, new, report)
        for uid, issue in made.issues.items():
            found.issues[uid] = issue
            uuid_by_key[key_by_uuid[uid]] = uid
            report.created.append(issue.identifier)
        for uid, error in made.failed.items():
            report.failed[key_by_uuid[uid]] = error
        results = await asyncio.gather(
            *(remote.update_issue(client, uid, changes) for _, uid, changes in updates),
            return_exceptions=True,
        )
        for (draft, uid, changes), result in zip(updates, results, strict=True):
            if isinstance(result, LinearError | LinearUnavailable):
                report.failed[draft.key] = result.message
            elif isinstance(result, BaseException):
                raise result
            else:
                found.issues[uid] = replace(found.issues[uid], **changes)
                report.updated.append(found.issues[uid].identifier)
        return uuid_by_key

    async def _create_new(
        self,
        client: LinearClient,
        place: _Place,
        new: Sequence[tuple[str, IssueDraft]],
        report: ImportReport,
    ) -> remote.Created:
        """Create the issues Linear lacks, with their labels. A label that cannot be made is
        reported and left off its issues rather than failing them."""
        labels = await self._resolve_labels(client, place, [draft for _, draft in new])
        for name, error in labels.failed.items():
            report.failed[f"label {name}"] = f"{error} (its issues were created without it)"
        inputs = [_create_input(place, uid, draft, labels.ids) for uid, draft in new]
        return await remote.create_issues(client, inputs)

    async def _resolve_labels(
        self, client: LinearClient, place: _Place, drafts: Sequence[IssueDraft]
    ) -> remote.Labels:
        """Label ids for what `drafts` carry. The team's labels are read once per tracker
        (like the team in `_locate`) and only when some draft has a label."""
        names = [name for draft in drafts for name in draft.labels]
        if not any(remote.label_key(name) for name in names):
            return remote.Labels()
        labels = await remote.ensure_labels(client, place.team.id, names, self._labels)
        if labels.complete:
            self._labels = labels.ids
        return labels

    async def _write_relations(
        self,
        client: LinearClient,
        found: remote.Remote,
        uuid_by_key: dict[str, str],
        edges: Sequence[Edge],
        report: ImportReport,
    ) -> None:
        """Make the spec's `blocks` relations exist once each; drop ours the spec no longer has.

        A relation counts whoever made it (a hand-made one satisfies an edge); only relations
        with our derived id between spec issues are ever removed.
        """
        wanted = {
            (uuid_by_key[e.blocker], uuid_by_key[e.blocked]): e
            for e in edges
            if e.blocker in uuid_by_key and e.blocked in uuid_by_key
        }
        existing = {(r.blocker, r.blocked) for r in found.relations.values()}
        missing = [pair for pair in wanted if pair not in existing]
        spec_uuids = set(uuid_by_key.values())
        stale = [
            r
            for r in found.relations.values()
            if r.id == identity.relation_id(r.blocker, r.blocked)
            and r.blocker in spec_uuids
            and r.blocked in spec_uuids
            and (r.blocker, r.blocked) not in wanted
        ]
        created = await asyncio.gather(
            *(remote.create_relation(client, a, b) for a, b in missing), return_exceptions=True
        )
        for pair, result in zip(missing, created, strict=True):
            if isinstance(result, remote.Relation):
                found.relations[result.id] = result
                report.edges_added += 1
            elif isinstance(result, LinearError | LinearUnavailable):
                edge = wanted[pair]
                report.failed[f"edge {edge.blocker} -> {edge.blocked}"] = result.message
            else:
                raise result
        deleted = await asyncio.gather(
            *(remote.delete_relation(client, r.id) for r in stale), return_exceptions=True
        )
        for relation, result in zip(stale, deleted, strict=True):
            if result is None:
                del found.relations[relation.id]
                report.edges_removed += 1
            elif isinstance(result, LinearError | LinearUnavailable):
                report.failed[f"stale relation {relation.id}"] = result.message
            else:
                raise result

    def _to_snapshot(
        self,
        found: remote.Remote,
        *,
        keyed_reasons: Mapping[tuple[str, str], str] | None = None,
    ) -> tuple[list[Issue], list[Edge]]:
        """Linear's view as snapshot rows; keys and edge reasons the snapshot knew are kept."""
        before = {issue.remote_id: issue for issue in self.local.snapshot() if issue.remote_id}
        old_reasons = {(e.blocker, e.blocked): e.reason for e in self.local.edges()}
        issues: list[Issue] = []
        owner = self._key_owners(found, before)
        for uid, node in found.issues.items():
            parsed = identity.parse_description(node.description)
            old = before.get(uid)
            key = parsed.key or (old.key if old else "")
            kind = parsed.kind if parsed.key else (old.kind if old else "task")
            issues.append(self._issue(node, key if owner.get(key) == uid else "", kind))
        ident = {uid: node.identifier for uid, node in found.issues.items()}
        key_of = {issue.id: issue.key for issue in issues}
        edges: list[Edge] = []
        seen: set[tuple[str, str]] = set()
        for relation in found.relations.values():
            # A relation to an issue outside the project has no row to point at: left out.
            if relation.blocker not in ident or relation.blocked not in ident:
                continue
            pair = (ident[relation.blocker], ident[relation.blocked])
            if pair in seen or pair[0] == pair[1]:
                continue
            seen.add(pair)
            reason = (keyed_reasons or {}).get((key_of[pair[0]], key_of[pair[1]]))
            edges.append(Edge(pair[0], pair[1], reason or old_reasons.get(pair, "")))
        return issues, edges

    def _key_owners(self, found: remote.Remote, before: Mapping[str, Issue]) -> dict[str, str]:
        """Which issue holds each key. A key is unique in the snapshot, but Linear can hold two
        issues with one footer (someone duplicated an issue): the one with our derived id wins,
        else the oldest; the copy syncs as a hand-made issue."""
        owners: dict[str, str] = {}
        for uid, node in found.issues.items():
            parsed = identity.parse_description(node.description)
            old = before.get(uid)
            key = parsed.key or (old.key if old else "")
            if not key:
                continue
            ours = self._place is not None and uid == identity.issue_id(
                self._place.team.id, self._place.project_id, key
            )
            if key not in owners or ours:
                owners[key] = uid
        return owners

    def _issue(self, node: remote.RemoteIssue, key: str, kind: str) -> Issue:
        parsed = identity.parse_description(node.description)
        state = _STATE_ALIASES.get(node.state, node.state)
        return Issue(
            id=node.identifier,
            title=node.title,
            description=parsed.description,
            acceptance=parsed.acceptance,
            priority=node.priority,
            state=state if state in STATE_TYPES else "backlog",
            kind=kind,
            key=key,
            remote_id=node.id,
        )

    def _scope_name(self) -> str:
        if self.config.project:
            return f"team {self.config.team}, project {self.config.project!r}"
        return f"team {self.config.team}"


async def _read(client: LinearClient, place: _Place) -> remote.Remote:
    if place.project_id:
        return await remote.read_issues(client, project_id=place.project_id)
    return await remote.read_issues(client, team_id=place.team.id)


def _create_input(
    place: _Place, uid: str, draft: IssueDraft, label_ids: Mapping[str, str]
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": uid,
        "teamId": place.team.id,
        "title": draft.title,
        "description": identity.render_description(draft),
        "priority": draft.priority,
    }
    if place.project_id:
        data["projectId"] = place.project_id
    # New spec issues are ready to work on: the team's first "unstarted" state (Todo), if any.
    if "unstarted" in place.team.states:
        data["stateId"] = place.team.states["unstarted"]
    ids = _label_ids(draft, label_ids)
    if ids:
        data["labelIds"] = ids
    return data


def _label_ids(draft: IssueDraft, label_ids: Mapping[str, str]) -> list[str]:
    """The ids of the draft's labels, each once, in its order. A label that could not be
    resolved is left off (the caller reported it)."""
    ids: list[str] = []
    for name in draft.labels:
        found = label_ids.get(remote.label_key(name))
        if found and found not in ids:
            ids.append(found)
    return ids


def _remote_id(by_id: Mapping[str, Issue], issue_id: str) -> str:
    issue = by_id.get(issue_id)
    if issue is None:
        raise MarathonError(f"no issue {issue_id!r} in the snapshot; run `doit sync`")
    if not issue.remote_id:
        raise MarathonError(f"issue {issue_id!r} has no Linear id; run `doit sync`")
    return issue.remote_id


def _check_import(drafts: Sequence[IssueDraft], edges: Sequence[Edge]) -> None:
    keys = [draft.key for draft in drafts]
    if len(set(keys)) != len(keys):
        raise MarathonError("two issues share a key; the spec parser must make keys unique")
    known = set(keys)
    for edge in edges:
        for end in (edge.blocker, edge.blocked):
            if end not in known:
                raise MarathonError(f"edge names an unknown issue key {end!r}")


def linear_tracker(
    pipeline: Pipeline, *, environ: Mapping[str, str] | None = None
) -> LinearTracker:
    """The factory: a LinearTracker whose snapshot is the workspace's `.marathon/tracker.db`."""
    snapshot = LocalTracker(pipeline.tracker_db, pipeline.key_prefix)
    return LinearTracker(pipeline.tracker, snapshot, environ=environ)
