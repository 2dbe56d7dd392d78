"""One way to open the workspace's SQLite files: WAL, a bounded wait, commit per `with` block.

WAL lets readers (doit's up-to-date checks, `doit status`) run while a phase writes, and a
committed transaction survives `kill -9`: that is what makes completion durable.

The layout is versioned (`PRAGMA user_version`) and changed only on purpose: a file that is
already at the caller's version and has every table is opened without a single write; an older
one is migrated by the caller's explicit steps inside one transaction, checked, and rolled back
whole if it still does not fit. A corrupt, foreign, locked or newer file is refused with one
MarathonError naming the file and the fix, never a sqlite3 traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from engine.errors import MarathonError

HEADER = b"SQLite format 3\x00"
# How long a command waits for another process's write lock before it says so. Writers hold
# the lock for milliseconds; a lock held this long belongs to something stuck or interactive.
BUSY_SECONDS = 15.0

T = TypeVar("T")


def connect(
    path: Path,
    schema: str,
    *,
    version: int = 1,
    migrations: Mapping[int, str] | None = None,
    upgrade: Callable[[sqlite3.Connection, int], None] | None = None,
) -> sqlite3.Connection:
    """Open `path` with `schema` at `version`; `migrations[v]` upgrades a file from v-1 to v.
    `upgrade(conn, old_version)`, when given, runs in the same transaction after them (for
    what SQL alone cannot do, such as signing rows); never for a new file.

    A file with no version mark but with tables was made before versions existed: it counts
    as version 1. CREATE ... IF NOT EXISTS statements of `schema` add new tables at any version.
    """
    _check_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(
            path,
            timeout=BUSY_SECONDS,
            isolation_level=None,
            check_same_thread=False,
            factory=_Connection,
        )
        conn.file = os.path.realpath(path)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
        _upgrade(conn, path, schema, version, dict(migrations or {}), upgrade)
        # WAL is a property of the file: set it once. Switching needs the file to itself and
        # answers "database is locked" at once, without waiting, when another connection is busy.
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            _retry_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))  # type: ignore[union-attr]
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException as exc:
        # Closing the refused connection removes the -wal/-shm files its opening made, so a
        # refused command leaves the folder as it found it.
        if conn is not None:
            conn.close()
        if isinstance(exc, sqlite3.Error):
            raise refusal(path, exc) from None
        raise
    with _connected_lock:
        _live.add(conn)
    return conn


@atexit.register
def _close_all() -> None:
    """Every live connection is closed when the process exits (and so folds its write-ahead
    log back into the file), finalized or not: the ranked run freezes what it loaded, and
    frozen objects are never finalized (engine/doit_run.py)."""
    with _connected_lock:
        connections = list(_live)
    for conn in connections:
        with contextlib.suppress(sqlite3.Error):
            conn.close()


def refusal(path: Path, exc: sqlite3.Error) -> MarathonError:
    """The one-line error for a sqlite3 failure on the file at `path`."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return MarathonError(
            f"database is locked by another process (a running doit?) and stayed locked for "
            f"{BUSY_SECONDS:.0f} s; wait for it to finish or stop it, then run this again",
            where=str(path),
            exit_code=1,
        )
    if "readonly" in text or "unable to open" in text or "permission" in text.lower():
        return MarathonError(
            f"cannot write the database ({text}); check the permissions of the file and of its "
            "folder",
            where=str(path),
        )
    return MarathonError(
        f"database is damaged ({text}); move it aside (mv {path.name} {path.name}.broken) and "
        "run the command again to start a new one",
        where=str(path),
    )


def guarded(path: Path, statement: Callable[[], T]) -> T:
    """Run `statement`; a sqlite3 failure becomes the one-line refusal for `path`."""
    try:
        return statement()
    except sqlite3.Error as exc:
        raise refusal(path, exc) from None


class _Connection(sqlite3.Connection):
    """A connection that knows its file, and can be referred to weakly (the plain type
    cannot): the process's live connections are known without keeping them alive."""

    file: str = ""

    def is_open(self) -> bool:
        try:
            self.total_changes  # noqa: B018 - raises once closed
        except sqlite3.ProgrammingError:
            return False
        return True


# The live connections of this process. A database one of them is open on is never read
# through a descriptor of our own: closing any descriptor of a file drops every POSIX lock this
# process holds on it, SQLite's included, and the next process to close the database would
# then delete the write-ahead log under us.
_live: weakref.WeakSet[_Connection] = weakref.WeakSet()
_connected_lock = threading.Lock()


def _connected_to(path: Path) -> bool:
    real = os.path.realpath(path)
    with _connected_lock:
        live = list(_live)
    return any(conn.file == real and conn.is_open() for conn in live)


def _check_file(path: Path) -> None:
    if _connected_to(path):
        return
    if path.is_dir():
        raise MarathonError(
            f"is a directory, not a database; move it aside (mv {path.name} "
            f"{path.name}.broken) and run the command again",
            where=str(path),
        )
    if not path.exists():
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(len(HEADER))
    except OSError as exc:
        raise MarathonError(
            f"cannot read the database ({exc.strerror}); check its permissions", where=str(path)
        ) from None
    if head and head != HEADER:
        raise MarathonError(
            f"is not a SQLite database (overwritten or truncated?); move it aside "
            f"(mv {path.name} {path.name}.broken) and run the command again to start a new one",
            where=str(path),
        )


@functools.cache
def expected_layout(schema: str) -> dict[str, frozenset[str]]:
    """Table -> columns that `schema` creates, read from a scratch in-memory database."""
    scratch = sqlite3.connect(":memory:")
    try:
        scratch.executescript(schema)
        return _layout(scratch)
    finally:
        scratch.close()


def _layout(conn: sqlite3.Connection) -> dict[str, frozenset[str]]:
    """Tables with their columns, and indexes, views and triggers (with no columns)."""
    layout: dict[str, frozenset[str]] = {}
    rows = conn.execute(
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    ).fetchall()
    for kind, name in rows:
        columns: frozenset[str] = frozenset()
        if kind == "table":
            quoted = name.replace('"', '""')
            columns = frozenset(row[1] for row in conn.execute(f'PRAGMA table_info("{quoted}")'))
        layout[name] = columns
    return layout


def _upgrade(
    conn: sqlite3.Connection,
    path: Path,
    schema: str,
    version: int,
    migrations: dict[int, str],
    upgrade: Callable[[sqlite3.Connection, int], None] | None = None,
) -> None:
    expected = expected_layout(schema)
    found = _layout(conn)
    stamped = conn.execute("PRAGMA user_version").fetchone()[0]
    current = stamped or (1 if found else 0)
    if current > version:
        raise MarathonError(
            f"database was written by a newer marathon-engine (layout {current}, this one "
            f"knows {version}); upgrade marathon-engine or move the file aside",
            where=str(path),
        )
    if current == version and stamped and set(expected) <= set(found):
        if _misfit(expected, found):
            raise _older(path, *_misfit(expected, found))  # type: ignore[misc]
        return  # the common case: nothing to write
    steps = [migrations[v] for v in range(current + 1, version + 1) if current and v in migrations]
    script = "".join(f"{step};\n" for step in steps) + schema
    try:
        _retry_locked(lambda: conn.executescript(f"BEGIN IMMEDIATE;\n{script}\n"))
        if upgrade is not None and current:
            upgrade(conn, current)
        missing = _misfit(expected, _layout(conn))
        if missing:
            raise _older(path, *missing)
        conn.execute(f"PRAGMA user_version={int(version)}")
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        # e.g. an index on a column the old file lacks: the same refusal, nothing written.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        missing = _misfit(expected, found)
        if missing and "locked" not in str(exc):
            raise _older(path, *missing) from None
        raise
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _older(path: Path, table: str, column: str) -> MarathonError:
    what = f"table {table} lacks column {column}" if column else f"{table} is missing"
    return MarathonError(
        f"database has an older layout this version cannot migrate ({what}); move it aside "
        f"(mv {path.name} {path.name}.old) and run the command again to start a new one",
        where=str(path),
    )


def _misfit(
    expected: dict[str, frozenset[str]], found: dict[str, frozenset[str]]
) -> tuple[str, str] | None:
    """The first (table, column) of `expected` that `found` lacks; only tables both have."""
    for table, columns in expected.items():
        if table not in found:
            continue  # a new table: CREATE TABLE IF NOT EXISTS adds it
        lacking = sorted(columns - found[table])
        if lacking:
            return table, lacking[0]
    return None


def _retry_locked(statement: Callable[[], object], seconds: float | None = None) -> None:
    deadline = time.monotonic() + (BUSY_SECONDS if seconds is None else seconds)
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
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise refusal(_path_of(conn), exc) from None
    try:
        yield conn
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK")
        raise refusal(_path_of(conn), exc) from None
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise refusal(_path_of(conn), exc) from None


def _path_of(conn: sqlite3.Connection) -> Path:
    row = conn.execute("PRAGMA database_list").fetchone()
    return Path(row[2] if row else "database")
