"""The embedded tracker: issues and their edges in `.marathon/tracker.db`.

It is both the default tracker and the local snapshot that a remote tracker (Linear) syncs into,
so loading tasks never needs the network.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine import sqlite
from engine.errors import MarathonError
from engine.graph import cycle_in
from engine.issue import STATE_TYPES, Edge, Issue, IssueDraft
from engine.trackers.base import ImportReport

SCHEMA = """
CREATE TABLE IF NOT EXISTS issues (
    id TEXT PRIMARY KEY,
    number INTEGER NOT NULL,
    key TEXT UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    acceptance TEXT NOT NULL DEFAULT '[]',
    priority INTEGER NOT NULL DEFAULT 3,
    state TEXT NOT NULL DEFAULT 'unstarted',
    kind TEXT NOT NULL DEFAULT 'task',
    labels TEXT NOT NULL DEFAULT '[]',
    remote_id TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS edges (
    blocker TEXT NOT NULL,
    blocked TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    origin TEXT NOT NULL DEFAULT 'spec',
    PRIMARY KEY (blocker, blocked)
);
CREATE TABLE IF NOT EXISTS comments (
    issue TEXT NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_import (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    source TEXT NOT NULL,
    started REAL NOT NULL,
    failed TEXT NOT NULL DEFAULT '{}'
);
"""
# Trackers (by path) whose pending import this process already warned about.
_WARNED: set[Path] = set()

# 2: pending_import, the mark of an import into a remote tracker that has not converged yet
# (added by the schema's CREATE TABLE IF NOT EXISTS; no other change).
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class PendingImport:
    """An import that started and has not finished cleanly: the graph may lack edges."""

    source: str  # the spec it came from, as given to `doit init --spec`
    started: float
    failed: Mapping[str, str]  # item -> why; empty when the import never got to the end

    def warning(self, path: Path) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.started))
        if self.failed:
            what = f"{len(self.failed)} item(s) failed, first: " + next(
                f"{item}: {why}" for item, why in self.failed.items()
            )
        else:
            what = "it stopped before the end"
        return (
            f"{path}: the import of {self.source or 'a spec'} started {when} has not converged "
            f"({what}); dependencies may be missing until `doit init --spec "
            f"{self.source or 'SPEC'}` runs again and succeeds"
        )


class LocalTracker:
    """SQLite-backed tracker; safe to use from several threads and processes."""

    def __init__(self, path: Path, prefix: str) -> None:
        self.path = path
        self.prefix = prefix
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"LocalTracker({str(self.path)!r}, prefix={self.prefix!r})"

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite.connect(self.path, SCHEMA, version=SCHEMA_VERSION)
            self._local.conn = conn
        return conn

    # -- reading -------------------------------------------------------------------------

    def snapshot(self) -> list[Issue]:
        if not self.path.exists():
            return []
        return sqlite.guarded(self.path, self._read_snapshot)

    def _read_snapshot(self) -> list[Issue]:
        conn = self._conn
        self._warn_pending(conn)
        deps: dict[str, list[str]] = {}
        blocks: dict[str, list[str]] = {}
        for row in conn.execute("SELECT blocker, blocked FROM edges ORDER BY blocker, blocked"):
            deps.setdefault(row["blocked"], []).append(row["blocker"])
            blocks.setdefault(row["blocker"], []).append(row["blocked"])
        return [
            _issue_from_row(row, tuple(deps.get(row["id"], ())), tuple(blocks.get(row["id"], ())))
            for row in conn.execute("SELECT * FROM issues ORDER BY number")
        ]

    def get(self, issue_id: str) -> Issue:
        for issue in self.snapshot():
            if issue.id == issue_id:
                return issue
        raise MarathonError(f"no issue {issue_id!r} in {self.path}")

    def edges(self) -> list[Edge]:
        if not self.path.exists():
            return []
        rows = sqlite.guarded(
            self.path,
            lambda: self._conn.execute("SELECT * FROM edges ORDER BY blocker, blocked").fetchall(),
        )
        return [Edge(row["blocker"], row["blocked"], row["reason"]) for row in rows]

    def pending_import(self) -> PendingImport | None:
        """The import into the remote tracker that has not converged, if there is one."""
        if not self.path.exists():
            return None
        row = sqlite.guarded(
            self.path,
            lambda: self._conn.execute("SELECT * FROM pending_import WHERE id = 1").fetchone(),
        )
        if row is None:
            return None
        return PendingImport(row["source"], row["started"], json.loads(row["failed"]))

    def _warn_pending(self, conn: sqlite3.Connection) -> None:
        """Every reader of an unconverged graph (graph, marathon, list) says so, once a process."""
        if self.path in _WARNED:
            return
        pending = self.pending_import()
        if pending is not None:
            _WARNED.add(self.path)
            print(f"warning: {pending.warning(self.path)}", file=sys.stderr)

    def begin_import(self, source: str) -> None:
        """Mark an import as under way before the remote tracker is written to.

        If the process dies half way, the mark stays and readers warn; `replace_snapshot(...,
        import_failures=...)` at the end of the import clears it, or keeps what failed.
        """
        _WARNED.add(self.path)  # this process reports on its own import
        with sqlite.transaction(self._conn) as conn:
            conn.execute(
                "INSERT OR REPLACE INTO pending_import (id, source, started, failed)"
                " VALUES (1, ?, ?, '{}')",
                (source, time.time()),
            )

    def comments(self, issue_id: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT body FROM comments WHERE issue = ? ORDER BY rowid", (issue_id,)
        )
        return [row["body"] for row in rows]

    # -- writing -------------------------------------------------------------------------

    def import_issues(
        self, drafts: Sequence[IssueDraft], edges: Sequence[Edge], *, source: str = ""
    ) -> ImportReport:
        """Create or update by draft key, then make the spec's edges exactly `edges`.

        One transaction: an import either lands whole or not at all (so `source`, which a
        remote tracker records while its import is under way, is not needed here).
        """
        report = ImportReport()
        keys = [draft.key for draft in drafts]
        if len(set(keys)) != len(keys):
            raise MarathonError("two issues share a key; the spec parser must make keys unique")
        with sqlite.transaction(self._conn) as conn:
            id_by_key: dict[str, str] = {}
            for draft in drafts:
                issue_id, outcome = self._upsert(conn, draft)
                id_by_key[draft.key] = issue_id
                getattr(report, outcome).append(issue_id)
            wanted = set()
            for edge in edges:
                if edge.blocker not in id_by_key or edge.blocked not in id_by_key:
                    missing = edge.blocker if edge.blocker not in id_by_key else edge.blocked
                    raise MarathonError(f"edge names an unknown issue key {missing!r}")
                wanted.add((id_by_key[edge.blocker], id_by_key[edge.blocked], edge.reason))
            report.edges_added, report.edges_removed = _replace_spec_edges(conn, wanted)
        return report

    def create_issue(self, draft: IssueDraft, blocks: Sequence[str] = ()) -> Issue:
        with sqlite.transaction(self._conn) as conn:
            issue_id, _ = self._upsert(conn, draft)
            for blocked in blocks:
                conn.execute(
                    "INSERT OR IGNORE INTO edges (blocker, blocked, reason, origin)"
                    " VALUES (?, ?, ?, 'engine')",
                    (issue_id, blocked, f"{draft.kind} issue goes first"),
                )
        return self.get(issue_id)

    def add_edge(self, edge: Edge) -> None:
        """An edge made by hand (or by the engine); an import keeps it."""
        known = [(e.blocker, e.blocked) for e in self.edges()]
        _refuse_cycle([], [*known, (edge.blocker, edge.blocked)])
        with sqlite.transaction(self._conn) as conn:
            conn.execute(
                "INSERT OR REPLACE INTO edges (blocker, blocked, reason, origin)"
                " VALUES (?, ?, ?, 'manual')",
                (edge.blocker, edge.blocked, edge.reason),
            )

    def set_state(self, issue_id: str, state: str) -> None:
        if state not in STATE_TYPES:
            raise MarathonError(f"unknown state {state!r} (expected one of: {STATE_TYPES})")
        with sqlite.transaction(self._conn) as conn:
            cursor = conn.execute(
                "UPDATE issues SET state = ?, updated = ? WHERE id = ?",
                (state, time.time(), issue_id),
            )
            if cursor.rowcount == 0:
                raise MarathonError(f"no issue {issue_id!r} in {self.path}")

    def comment(self, issue_id: str, body: str) -> None:
        with sqlite.transaction(self._conn) as conn:
            conn.execute(
                "INSERT INTO comments (issue, body, created) VALUES (?, ?, ?)",
                (issue_id, body, time.time()),
            )

    def sync(self) -> str:
        return f"local tracker {self.path}: nothing to pull"

    def replace_snapshot(
        self,
        issues: Sequence[Issue],
        edges: Sequence[Edge],
        *,
        import_failures: Mapping[str, str] | None = None,
    ) -> None:
        """Make the snapshot exactly what a remote tracker holds (used by `doit sync`).

        At the end of an import, `import_failures` says what did not make it: empty clears the
        pending mark, otherwise the mark keeps the failures. A plain sync leaves the mark alone.
        """
        _refuse_cycle([issue.id for issue in issues], [(e.blocker, e.blocked) for e in edges])
        with sqlite.transaction(self._conn) as conn:
            if import_failures is not None and not import_failures:
                conn.execute("DELETE FROM pending_import")
            elif import_failures:
                conn.execute(
                    "INSERT INTO pending_import (id, source, started, failed) VALUES (1, '', ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET failed = excluded.failed",
                    (time.time(), json.dumps(dict(import_failures))),
                )
            conn.execute("DELETE FROM issues")
            conn.execute("DELETE FROM edges")
            for issue in issues:
                conn.execute(
                    "INSERT INTO issues (id, number, key, title, description, acceptance,"
                    " priority, state, kind, remote_id, updated)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        issue.id,
                        _number(issue.id),
                        issue.key or None,
                        issue.title,
                        issue.description,
                        json.dumps(list(issue.acceptance)),
                        issue.priority,
                        issue.state,
                        issue.kind,
                        issue.remote_id,
                        time.time(),
                    ),
                )
            conn.executemany(
                "INSERT OR IGNORE INTO edges (blocker, blocked, reason, origin)"
                " VALUES (?, ?, ?, 'remote')",
                [(e.blocker, e.blocked, e.reason) for e in edges],
            )

    def _upsert(self, conn: sqlite3.Connection, draft: IssueDraft) -> tuple[str, str]:
        """Insert or update one draft; returns (id, 'created' | 'updated' | 'unchanged')."""
        fields = (
            draft.title,
            draft.description,
            json.dumps(list(draft.acceptance)),
            draft.priority,
            draft.kind,
            json.dumps(list(draft.labels)),
        )
        # A draft without a key (made by hand) is always a new issue.
        row = (
            draft.key
            and conn.execute(
                "SELECT id, title, description, acceptance, priority, kind, labels"
                " FROM issues WHERE key = ?",
                (draft.key,),
            ).fetchone()
        )
        if row:
            if tuple(row)[1:] == fields:
                return row["id"], "unchanged"
            conn.execute(
                "UPDATE issues SET title = ?, description = ?, acceptance = ?, priority = ?,"
                " kind = ?, labels = ?, updated = ? WHERE id = ?",
                (*fields, time.time(), row["id"]),
            )
            return row["id"], "updated"
        number = conn.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM issues").fetchone()[0]
        issue_id = f"{self.prefix}-{number}"
        conn.execute(
            "INSERT INTO issues (id, number, key, title, description, acceptance, priority,"
            " kind, labels, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (issue_id, number, draft.key or None, *fields, time.time()),
        )
        return issue_id, "created"


def _replace_spec_edges(
    conn: sqlite3.Connection, wanted: set[tuple[str, str, str]]
) -> tuple[int, int]:
    existing = {
        (row[0], row[1], row[2])
        for row in conn.execute("SELECT blocker, blocked, reason FROM edges WHERE origin = 'spec'")
    }
    wanted_pairs = {(a, b) for a, b, _ in wanted}
    existing_pairs = {(a, b) for a, b, _ in existing}
    removed = existing_pairs - wanted_pairs
    conn.executemany("DELETE FROM edges WHERE blocker = ? AND blocked = ?", sorted(removed))
    added = 0
    for blocker, blocked, reason in sorted(wanted - existing):
        if (blocker, blocked) not in existing_pairs:
            added += 1
        conn.execute(
            "INSERT OR REPLACE INTO edges (blocker, blocked, reason, origin)"
            " VALUES (?, ?, ?, 'spec')",
            (blocker, blocked, reason),
        )
    return added, len(removed)


def _refuse_cycle(ids: Sequence[str], edges: Sequence[tuple[str, str]]) -> None:
    """A cycle would make every later doit command fail to load its tasks: refuse to store it."""
    cycle = cycle_in(ids, edges)
    if cycle:
        raise MarathonError(
            f"the tracker's dependencies form a cycle: {' → '.join(cycle)}; remove one of these "
            "blocking relations in the tracker, then run the command again"
        )


def _number(issue_id: str) -> int:
    return int(issue_id.rsplit("-", 1)[1])


def _issue_from_row(
    row: sqlite3.Row, dependencies: tuple[str, ...], blocks: tuple[str, ...]
) -> Issue:
    return Issue(
        id=row["id"],
        title=row["title"],
        description=row["description"],
        acceptance=tuple(json.loads(row["acceptance"])),
        priority=row["priority"],
        state=row["state"],
        kind=row["kind"],
        dependencies=dependencies,
        blocks=blocks,
        key=row["key"] or "",
        remote_id=row["remote_id"],
    )
