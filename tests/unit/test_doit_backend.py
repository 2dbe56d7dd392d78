from __future__ import annotations

from pathlib import Path

from doit.dependency import JSONCodec, SqliteDB

from engine.doit_backend import NAME, PrefetchedSqliteDB, backend_name
from engine.tasks import doit_config


def test_rows_are_read_once_at_open_and_written_as_doit_does(tmp_path: Path) -> None:
    path = str(tmp_path / "doit.db")
    plain = SqliteDB(path, JSONCodec())
    plain.set("issue:PROJ-1:code", "result:", "abc")
    plain.set("verify:lint", "_values_:", {"n": 1})
    plain.dump()

    db = PrefetchedSqliteDB(path, JSONCodec())
    assert db._cache == {
        "issue:PROJ-1:code": {"result:": "abc"},
        "verify:lint": {"_values_:": {"n": 1}},
    }
    db._conn.close()  # no query can answer from here on: the cache must
    db._conn = None
    assert db.get("issue:PROJ-1:code", "result:") == "abc"
    assert db.in_("verify:lint")


def test_workspaces_use_it_when_installed() -> None:
    assert backend_name() == NAME  # registered by this package's entry point
    assert doit_config()["backend"] == NAME
