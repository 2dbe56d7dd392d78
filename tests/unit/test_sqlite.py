"""engine.sqlite: versioned layout, explicit migrations, one-line refusals, nothing written."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from engine import sqlite
from engine.errors import MarathonError
from engine.issue import IssueDraft
from engine.trackers.local import SCHEMA, SCHEMA_VERSION, LocalTracker

V1 = "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
V2 = (
    "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " size INTEGER NOT NULL DEFAULT 0);"
)
TO_V2 = {2: "ALTER TABLE items ADD COLUMN size INTEGER NOT NULL DEFAULT 0"}


def version_of(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_a_new_file_gets_the_layout_and_its_version(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    sqlite.connect(path, V1, version=1).close()
    assert version_of(path) == 1


def test_opening_at_the_same_version_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    conn = sqlite.connect(path, V1)
    conn.execute("INSERT INTO items (name) VALUES ('x')")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = path.read_bytes()
    sqlite.connect(path, V1).close()
    assert path.read_bytes() == before


def test_an_explicit_migration_upgrades_and_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    conn = sqlite.connect(path, V1, version=1)
    conn.execute("INSERT INTO items (name) VALUES ('kept')")
    conn.close()
    conn = sqlite.connect(path, V2, version=2, migrations=TO_V2)
    assert [tuple(r) for r in conn.execute("SELECT name, size FROM items")] == [("kept", 0)]
    assert version_of(path) == 2


def test_an_older_layout_without_a_migration_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    sqlite.connect(path, V1, version=1).close()
    before = path.read_bytes()
    with pytest.raises(MarathonError) as caught:
        sqlite.connect(path, V2, version=2)
    assert "older layout" in caught.value.message and "lacks column size" in caught.value.message
    assert path.read_bytes() == before
    assert version_of(path) == 1


def test_an_unversioned_tracker_with_an_older_layout_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "tracker.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE issues (id TEXT PRIMARY KEY, title TEXT NOT NULL)")
    old.commit()
    old.close()
    before = path.read_bytes()
    with pytest.raises(MarathonError) as caught:
        LocalTracker(path, "PROJ").snapshot()
    assert "older layout" in caught.value.one_line() and "mv tracker.db" in caught.value.message
    assert path.read_bytes() == before
    tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("issues",), ("sqlite_autoindex_issues_1",)]  # no new tables in it


def test_a_file_from_a_newer_engine_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    sqlite.connect(path, V1, version=5).close()
    with pytest.raises(MarathonError, match="newer marathon-engine"):
        sqlite.connect(path, V1, version=1)


def test_an_unversioned_file_of_the_current_layout_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "tracker.db"
    legacy = sqlite3.connect(path)
    legacy.executescript(SCHEMA)
    legacy.close()
    LocalTracker(path, "PROJ").create_issue(IssueDraft("", "works", ""))
    assert version_of(path) == SCHEMA_VERSION


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"not a database at all, just text\n" * 100, "is not a SQLite database"),
        (b"\x00" * 4096, "is not a SQLite database"),
    ],
)
def test_foreign_files_are_refused(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "tracker.db"
    path.write_bytes(content)
    with pytest.raises(MarathonError, match=words):
        LocalTracker(path, "PROJ").snapshot()
    assert path.read_bytes() == content


def test_a_truncated_file_is_refused_as_damaged(tmp_path: Path) -> None:
    path = tmp_path / "tracker.db"
    tracker = LocalTracker(path, "PROJ")
    for n in range(200):
        tracker.create_issue(IssueDraft("", f"issue {n} " + "x" * 200, "y" * 500))
    tracker._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    tracker._conn.close()
    path.write_bytes(path.read_bytes()[:5000])
    for side in ("-wal", "-shm"):
        Path(f"{path}{side}").unlink(missing_ok=True)
    with pytest.raises(MarathonError, match=r"damaged|not a SQLite"):
        LocalTracker(path, "PROJ").snapshot()


def test_a_directory_in_place_of_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tracker.db"
    path.mkdir()
    with pytest.raises(MarathonError, match="is a directory"):
        LocalTracker(path, "PROJ").snapshot()


def test_a_locked_file_waits_a_bounded_time_then_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite, "BUSY_SECONDS", 0.3)
    path = tmp_path / "tracker.db"
    tracker = LocalTracker(path, "PROJ")
    tracker.create_issue(IssueDraft("", "first", ""))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        start = time.monotonic()
        with pytest.raises(MarathonError) as caught:
            LocalTracker(path, "PROJ").create_issue(IssueDraft("", "second", ""))
        assert time.monotonic() - start < 5
        assert "locked by another process" in caught.value.message
        assert caught.value.exit_code == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [i.title for i in tracker.snapshot()] == ["first"]


def test_a_damaged_records_db_is_refused_in_one_line(tmp_path: Path) -> None:
    from engine.records import Records

    path = tmp_path / "records.db"
    path.write_bytes(b"garbage" * 100)
    with pytest.raises(MarathonError, match=r"records\.db: is not a SQLite database"):
        Records(path).phase_durations()
    assert path.read_bytes() == b"garbage" * 100
