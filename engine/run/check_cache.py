"""Which checks passed on which contents: a content-addressed cache shared by every worktree.

A check's key is its command plus the (path, mode, blob id) of every file its `reads:` match,
so it does not matter on which commit, branch or worktree it passed: the same command on the
same bytes passed. The pre-push hook (files of a pushed commit's tree) and `doit verify` / the
VERIFY gates (files of the workspace) ask the same question of the same table.

The file lives in the repository's common git dir (`.git/marathon/checks.db`), so all
worktrees of a clone share it and no working tree ever sees it; outside git, in the
workspace's state folder. SQLite in WAL mode: a push and a running marathon read and write
it at the same time without a lock of their own; rows are only ever added.

Also kept here: the checks a given marathon.yaml declares, by the blob id of its text, so a
push whose checks are all cached never imports the config loader.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine import sqlite

FILE_NAME = "checks.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS passed (
    key TEXT PRIMARY KEY,
    check_name TEXT NOT NULL,
    command TEXT NOT NULL,
    source TEXT NOT NULL,   -- where it passed: a commit id, or a working tree's path
    finished REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS configs (
    blob TEXT PRIMARY KEY,  -- blob id of a marathon.yaml text : version of the loader
    checks TEXT NOT NULL    -- its checks as JSON
);
"""


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def inputs(command: Sequence[str], files: list[tuple[str, str, str]]) -> dict[str, str]:
    """A check's named inputs (what a stamp stores and `doit why` compares)."""
    return {"command": digest(list(command)), "files": digest(files)}


def key_of(named: dict[str, str]) -> str:
    """The cache key of a check's inputs."""
    return digest(named)


class CheckCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        with self._lock:
            if self._conn is None:
                self._conn = sqlite.connect(self.path, SCHEMA)
            return self._conn

    def passed(self, keys: Sequence[str]) -> set[str]:
        """Those of `keys` that passed somewhere."""
        if not keys or not self.path.exists():
            return set()
        wanted = list(dict.fromkeys(keys))
        marks = ",".join("?" * len(wanted))
        rows = self._db().execute(f"SELECT key FROM passed WHERE key IN ({marks})", wanted)
        return {row[0] for row in rows}

    def source(self, key: str) -> str | None:
        """Where `key` last passed (a commit id or a working tree), None if it never did."""
        if not self.path.exists():
            return None
        row = self._db().execute("SELECT source FROM passed WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def record(self, key: str, check: str, command: Sequence[str], source: str) -> None:
        self._db().execute(
            "INSERT OR REPLACE INTO passed (key, check_name, command, source, finished)"
            " VALUES (?, ?, ?, ?, ?)",
            (key, check, json.dumps(list(command)), source, time.time()),
        )

    def config(self, blob: str) -> list[dict[str, Any]] | None:
        if not self.path.exists():
            return None
        row = self._db().execute("SELECT checks FROM configs WHERE blob = ?", (blob,)).fetchone()
        return json.loads(row[0]) if row else None

    def save_config(self, blob: str, checks: list[dict[str, Any]]) -> None:
        self._db().execute(
            "INSERT OR REPLACE INTO configs (blob, checks) VALUES (?, ?)",
            (blob, json.dumps(checks)),
        )


_lock = threading.Lock()
_caches: dict[Path, CheckCache] = {}
_locations: dict[Path, Path] = {}  # workspace root -> its cache file (one git call per root)


def cache_at(path: Path) -> CheckCache:
    """One CheckCache per file per process."""
    with _lock:
        found = _caches.get(path)
        if found is None:
            found = _caches[path] = CheckCache(path)
        return found


def cache_for(root: Path, state_dir: Path) -> CheckCache:
    """The cache of the repository `root` belongs to (its common git dir), else `state_dir`'s."""
    with _lock:
        known = _locations.get(root)
    if known is None:
        from engine.git.tree import GitError, git_dirs

        try:
            known = git_dirs(root)[1] / "marathon" / FILE_NAME
        except (GitError, FileNotFoundError, ValueError):
            known = state_dir / FILE_NAME
        with _lock:
            _locations[root] = known
    return cache_at(known)
