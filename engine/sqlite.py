"""One way to open the workspace's SQLite files: WAL, a busy timeout, commit per `with` block.

WAL lets readers (doit's up-to-date checks, `doit status`) run while a phase writes, and a
committed transaction survives `kill -9`: that is what makes completion durable.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(path: Path, schema: str) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=30000")
    # WAL is a property of the file: set it once. Switching needs the file to itself and
    # answers "database is locked" at once, without waiting, when another connection is busy.
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        _retry_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
    conn.execute("PRAGMA synchronous=NORMAL")
    _retry_locked(lambda: conn.executescript(schema))
    return conn


def _retry_locked(statement: Callable[[], object], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT: writers queue on the lock instead of failing mid-way."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
