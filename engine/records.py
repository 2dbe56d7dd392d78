"""Durable records in `.marathon/records.db`: one row per task run, one stamp per finished task.

Every write commits at once, so a `kill -9` of doit loses at most the task that was running;
doit's own database (written only when a run ends) is never relied on for "up to date".
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import sqlite
from engine.errors import MarathonError
from engine.run import process

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session TEXT NOT NULL,
    task TEXT NOT NULL,
    issue TEXT NOT NULL DEFAULT '',
    phase TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    status TEXT NOT NULL,
    exit_code INTEGER,
    log_path TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    signature TEXT NOT NULL DEFAULT '',
    owner_pid INTEGER NOT NULL,
    owner_start TEXT NOT NULL DEFAULT '',
    child_pgid INTEGER,
    child_start TEXT NOT NULL DEFAULT '',
    cost_usd REAL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    turns INTEGER,
    session_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_task ON runs (task);
CREATE INDEX IF NOT EXISTS runs_issue ON runs (issue);
CREATE TABLE IF NOT EXISTS merges (
    issue TEXT PRIMARY KEY,
    branch TEXT NOT NULL,
    head TEXT NOT NULL,
    target TEXT NOT NULL,
    target_before TEXT NOT NULL,
    started REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS resets (
    issue TEXT PRIMARY KEY,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS stamps (
    task TEXT PRIMARY KEY,
    inputs TEXT NOT NULL,
    outputs TEXT NOT NULL,
    finished REAL NOT NULL,
    mac TEXT NOT NULL DEFAULT ''
);
"""

# 1: no version mark; 2: runs.child_start; 3: stamps.mac (a keyed digest); 4: runs.owner_start
SCHEMA_VERSION = 4
KEY_BYTES = 32

RUN_STATUSES = ("running", "success", "failed", "interrupted", "skipped")


@dataclass(frozen=True)
class RunRecord:
    id: int
    session: str  # one doit invocation
    task: str  # the doit task name, e.g. issue:PROJ-5:code or verify:lint
    issue: str  # "" for verify:<check>
    phase: str  # phase or check name
    attempt: int
    started: float
    ended: float | None
    status: str  # one of RUN_STATUSES
    exit_code: int | None
    log_path: str
    error: str
    signature: str
    cost_usd: float | None
    input_tokens: int | None
    output_tokens: int | None
    turns: int | None
    session_id: str

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


@dataclass(frozen=True)
class MergeIntent:
    """Written before EXIT changes anything: the branch and the commits it started from.
    While it exists, the issue's earlier phases are judged as finished work (their files are
    being merged), and a rerun resumes the merge instead of redoing them."""

    issue: str
    branch: str
    head: str  # the branch's commit when EXIT began
    target: str
    target_before: str  # the target's commit when EXIT began


@dataclass(frozen=True)
class Stamp:
    """What a task's inputs and outputs were when it last succeeded (component -> digest)."""

    task: str
    inputs: Mapping[str, str]
    outputs: str
    finished: float


class Records:
    """Thread-safe access to records.db; one connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._stamps: dict[str, Stamp] | None = None
        self._stamps_lock = threading.Lock()
        self._open_runs: set[int] = set()  # started by this process, not finished yet
        self._merges: dict[str, MergeIntent] | None = None

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite.connect(self.path, SCHEMA, version=SCHEMA_VERSION, upgrade=self._upgrade)
            self._local.conn = conn
        return conn

    # -- runs ----------------------------------------------------------------------------

    def start_run(self, session: str, task: str, issue: str, phase: str, log_path: str) -> int:
        with sqlite.transaction(self._conn) as conn:
            attempt = conn.execute(
                "SELECT COUNT(*) + 1 FROM runs WHERE task = ? AND status != 'skipped'", (task,)
            ).fetchone()[0]
            cursor = conn.execute(
                "INSERT INTO runs (session, task, issue, phase, attempt, started, status,"
                " log_path, owner_pid, owner_start)"
                " VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)",
                (
                    session,
                    task,
                    issue,
                    phase,
                    attempt,
                    time.time(),
                    log_path,
                    os.getpid(),
                    _OWNER_START,
                ),
            )
        run_id = int(cursor.lastrowid or 0)
        self._open_runs.add(run_id)
        return run_id

    def set_child(self, run_id: int, pgid: int) -> None:
        """The run's process group and its leader's start time, recorded before the child
        runs anything (engine/run/process.py): a reaper can tell it from a reused pid."""
        token = process.start_token(pgid)
        with sqlite.transaction(self._conn) as conn:
            conn.execute(
                "UPDATE runs SET child_pgid = ?, child_start = ? WHERE id = ?",
                (pgid, token, run_id),
            )

    def finish_run(self, run_id: int, status: str, **fields: Any) -> None:
        """Close a run; `fields` are other columns (exit_code, error, signature, cost_usd ...)."""
        with sqlite.transaction(self._conn) as conn:
            self._finish(conn, run_id, status, fields)
        self._open_runs.discard(run_id)

    def _finish(
        self, conn: sqlite3.Connection, run_id: int, status: str, fields: Mapping[str, Any]
    ) -> None:
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        columns = ["status = ?", "ended = ?"]
        values: list[Any] = [status, time.time()]
        for name, value in fields.items():
            if name not in RunRecord.__dataclass_fields__:
                raise ValueError(f"unknown run field {name!r}")
            columns.append(f"{name} = ?")
            values.append(value)
        conn.execute(f"UPDATE runs SET {', '.join(columns)} WHERE id = ?", (*values, run_id))

    def interrupt_open_runs(self, error: str) -> None:
        """Mark this process's unfinished runs interrupted (Ctrl-C, SIGTERM): the process may
        exit before the threads running them get to record anything."""
        for run_id in list(self._open_runs):
            self.finish_run(run_id, "interrupted", error=error)

    def runs(self, task: str | None = None, issue: str | None = None) -> list[RunRecord]:
        if not self.path.exists():
            return []
        query, args = "SELECT * FROM runs", []
        if task is not None:
            query, args = query + " WHERE task = ?", [task]
        elif issue is not None:
            query, args = query + " WHERE issue = ?", [issue]
        return self._records(self._conn.execute(query + " ORDER BY id", args))

    def _records(self, rows: Iterable[sqlite3.Row]) -> list[RunRecord]:
        # sqlite3.Row iterates values, not keys
        return [
            RunRecord(**{k: row[k] for k in row.keys() if k not in _INTERNAL})  # noqa: SIM118
            for row in rows
        ]

    def phase_durations(self) -> dict[str, float]:
        """The median seconds of each phase's successful runs (issue phases, not checks)."""
        if not self.path.exists():
            return {}
        seconds: dict[str, list[float]] = {}
        rows = self._conn.execute(
            "SELECT phase, ended - started FROM runs "
            "WHERE status = 'success' AND issue != '' AND ended IS NOT NULL"
        )
        for phase, duration in rows:
            seconds.setdefault(phase, []).append(duration)
        return {phase: statistics.median(values) for phase, values in seconds.items()}

    def recent(self, limit: int) -> list[RunRecord]:
        """The last `limit` runs of the whole workspace, oldest first."""
        if not self.path.exists() or limit <= 0:
            return []
        rows = self._conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        return list(reversed(self._records(rows)))

    def stale_running(self) -> list[tuple[int, int | None, str]]:
        """Runs still marked running whose doit process is gone: (run id, child pgid, the
        child's start token)."""
        if not self.path.exists():
            return []
        rows = self._conn.execute(
            "SELECT id, owner_pid, owner_start, child_pgid, child_start FROM runs"
            " WHERE status = 'running'"
        ).fetchall()
        return [
            (row["id"], row["child_pgid"], row["child_start"])
            for row in rows
            if not _owner_alive(row["owner_pid"], row["owner_start"])
        ]

    def adopt_run(self, run_id: int, note: str) -> None:
        """A run whose doit died after its work was committed: it succeeded after all."""
        with sqlite.transaction(self._conn) as conn:
            conn.execute(
                "UPDATE runs SET status = 'success', error = ?, ended = COALESCE(ended, ?)"
                " WHERE id = ?",
                (note, time.time(), run_id),
            )

    def reset_issue(self, issue: str) -> None:
        """A fresh start for the breaker: the issue's runs before now no longer count."""
        with sqlite.transaction(self._conn) as conn:
            conn.execute(
                "INSERT OR REPLACE INTO resets (issue, at) VALUES (?, ?)", (issue, time.time())
            )

    def reset_time(self, issue: str) -> float:
        if not self.path.exists():
            return 0.0
        row = self._conn.execute("SELECT at FROM resets WHERE issue = ?", (issue,)).fetchone()
        return float(row[0]) if row else 0.0

    # -- merges (EXIT as a recorded sequence) ------------------------------------------

    def merge_intent(self, issue: str) -> MergeIntent | None:
        return self.merge_intents().get(issue)

    def merge_intents(self) -> dict[str, MergeIntent]:
        """Issues whose EXIT has begun and not finished, read once per Records object (every
        phase's up-to-date check asks; writes through this object keep it current)."""
        if self._merges is None:
            self._merges = self._read_merges()
        return self._merges

    def _read_merges(self) -> dict[str, MergeIntent]:
        if not self.path.exists():
            return {}
        rows = self._conn.execute("SELECT * FROM merges")
        return {
            row["issue"]: MergeIntent(
                row["issue"], row["branch"], row["head"], row["target"], row["target_before"]
            )
            for row in rows
        }

    def begin_merge(self, intent: MergeIntent) -> None:
        with sqlite.transaction(self._conn) as conn:
            conn.execute(
                "INSERT OR REPLACE INTO merges (issue, branch, head, target, target_before,"
                " started) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    intent.issue,
                    intent.branch,
                    intent.head,
                    intent.target,
                    intent.target_before,
                    time.time(),
                ),
            )
        self.merge_intents()[intent.issue] = intent

    def end_merge(self, issue: str) -> None:
        with sqlite.transaction(self._conn) as conn:
            conn.execute("DELETE FROM merges WHERE issue = ?", (issue,))
        self.merge_intents().pop(issue, None)

    # -- stamps --------------------------------------------------------------------------

    def stamp(self, task: str) -> Stamp | None:
        return self.all_stamps().get(task)

    def all_stamps(self) -> dict[str, Stamp]:
        """Every stamp, read once per Records object: one query instead of one per task when
        doit checks thousands of tasks. Writes through this object keep it current; only one
        doit runs tasks in a workspace at a time."""
        with self._stamps_lock:
            if self._stamps is None:
                self._stamps = self._read_stamps()
            return self._stamps

    def _read_stamps(self) -> dict[str, Stamp]:
        """The stamps the engine wrote: one whose keyed digest does not verify was written by
        something else (an agent editing records.db) and counts as no stamp at all."""
        if not self.path.exists():
            return {}
        # Plain tuples (not sqlite3.Row) and the key's HMAC state made once: at 3000 issues
        # this reads 18 000 rows, and each is verified on its raw text before it is decoded.
        cursor = self._conn.cursor()
        cursor.row_factory = None
        rows = cursor.execute("SELECT task, inputs, outputs, finished, mac FROM stamps")
        mac, same, decode = self._mac, hmac.compare_digest, json.loads
        return {
            task: Stamp(task, decode(inputs), outputs, finished)
            for task, inputs, outputs, finished, signed in rows
            if same(signed, mac(task, inputs, outputs))
        }

    def save_stamp(
        self,
        task: str,
        inputs: Mapping[str, str],
        outputs: str,
        *,
        run_id: int | None = None,
        run_fields: Mapping[str, Any] | None = None,
    ) -> None:
        """The task's stamp; with `run_id`, that run recorded a success in the same
        transaction: a kill never leaves a stamped task whose run says it was interrupted."""
        finished = time.time()
        text = json.dumps(dict(inputs), sort_keys=True)
        with sqlite.transaction(self._conn) as conn:
            conn.execute(
                "INSERT OR REPLACE INTO stamps (task, inputs, outputs, finished, mac)"
                " VALUES (?, ?, ?, ?, ?)",
                (task, text, outputs, finished, self._mac(task, text, outputs)),
            )
            if run_id is not None:
                self._finish(conn, run_id, "success", run_fields or {})
        self.all_stamps()[task] = Stamp(task, dict(inputs), outputs, finished)
        if run_id is not None:
            self._open_runs.discard(run_id)

    def _mac(self, task: str, inputs: str, outputs: str) -> str:
        keyed = self._keyed.copy()  # the key's padding hashed once, not once per row
        keyed.update("\0".join((task, inputs, outputs)).encode())
        return keyed.hexdigest()

    @functools.cached_property
    def _keyed(self) -> hmac.HMAC:
        return hmac.new(self._key, digestmod=hashlib.sha256)

    @functools.cached_property
    def _key(self) -> bytes:
        """The workspace's stamp key (`stamp.key` beside records.db, readable by its owner
        only): made once, in place (no temporary file for tools walking the workspace to trip
        on); an agent in a sandbox (isolation: bwrap) cannot read it."""
        path = self.path.with_name("stamp.key")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(KEY_BYTES))
        for _ in range(200):  # another process may be writing it this very moment
            key = path.read_bytes()
            if len(key) >= KEY_BYTES:
                return key
            if time.time() - path.stat().st_mtime > 2:
                # Torn by a kill between its creation and its write: nothing was ever signed
                # with it (signing reads it first), so a new one loses nothing.
                with open(path, "wb") as handle:
                    handle.write(secrets.token_bytes(KEY_BYTES))
                continue
            time.sleep(0.005)
        raise MarathonError(
            f"{path} is not a stamp key ({len(key)} bytes); remove it: the engine makes a new "
            "one, and every phase runs again once",
        )

    def _upgrade(self, conn: sqlite3.Connection, old: int) -> None:
        """Layouts 1 (no version mark) to 3: add the columns since then; the stamps that
        file already held were the engine's own, and are signed once, here."""
        columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        for column in ("child_start", "owner_start"):
            if column not in columns:
                conn.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
        if "mac" not in {row[1] for row in conn.execute("PRAGMA table_info(stamps)")}:
            conn.execute("ALTER TABLE stamps ADD COLUMN mac TEXT NOT NULL DEFAULT ''")
            rows = conn.execute("SELECT task, inputs, outputs FROM stamps").fetchall()
            for task, inputs, outputs in rows:
                conn.execute(
                    "UPDATE stamps SET mac = ? WHERE task = ?",
                    (self._mac(task, inputs, outputs), task),
                )

    def forget(self, task_prefix: str) -> int:
        """Drop stamps of tasks whose name starts with `task_prefix` (they will run again)."""
        with sqlite.transaction(self._conn) as conn:
            cursor = conn.execute(
                "DELETE FROM stamps WHERE task = ? OR substr(task, 1, ?) = ?",
                (task_prefix, len(task_prefix) + 1, task_prefix + ":"),
            )
            removed = cursor.rowcount
        with self._stamps_lock:
            self._stamps = None
        return removed


_INTERNAL = {"owner_pid", "owner_start", "child_pgid", "child_start"}
# This process's start time: with its pid, who owns a run (a container's doit is pid 1 again
# after every restart, so the pid alone would keep a dead run "alive" for ever).
_OWNER_START = process.start_token(os.getpid())


def _owner_alive(pid: int, start: str) -> bool:
    if not process.pid_alive(pid):
        return False
    return not start or process.start_token(pid) in ("", start)
