from __future__ import annotations

import sqlite3
from pathlib import Path

from doit.dependency import JSONCodec, SqliteDB

from engine.doit_backend import NAME, PrefetchedSqliteDB, backend_name
from engine.tasks import doit_config


def saved(path: str) -> None:
    plain = SqliteDB(path, JSONCodec())
    plain.set("issue:PROJ-1:code", "result:", "abc")
    plain.set("verify:lint", "_values_:", {"n": 1})
    plain.set("issue:PROJ-2:plan", "result:", "def")
    plain.dump()


class Counting(PrefetchedSqliteDB):
    """Counts the statements sent to SQLite and the rows decoded."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.statements: list[str] = []
        self.decoded = 0
        self._conn.set_trace_callback(self.statements.append)
        decode = self.codec.decode

        def counting(text: str) -> object:
            self.decoded += 1
            return decode(text)

        self.codec.decode = counting


def test_nothing_is_read_until_asked_then_one_query_answers(tmp_path: Path) -> None:
    path = str(tmp_path / "doit.db")
    saved(path)
    db = Counting(path, JSONCodec())
    assert db.statements == [] and db.decoded == 0  # `doit list` stops here: no cost
    assert db.get("issue:PROJ-1:code", "result:") == "abc"
    assert len(db.statements) == 1 and db.decoded == 1  # one query; only the row asked for
    assert db.get("verify:lint", "_values_:") == {"n": 1}
    assert db.in_("issue:PROJ-2:plan") and not db.in_("issue:PROJ-9:plan")
    assert db.get("issue:PROJ-9:plan", "result:") is None
    assert len(db.statements) == 1 and db.decoded == 2


def test_writes_and_removals_are_doits_own(tmp_path: Path) -> None:
    path = str(tmp_path / "doit.db")
    saved(path)
    db = PrefetchedSqliteDB(path, JSONCodec())
    db.remove("issue:PROJ-2:plan")  # before the first question: never answered from memory
    assert not db.in_("issue:PROJ-2:plan")
    assert db.get("issue:PROJ-2:plan", "result:") is None
    db.set("issue:PROJ-3:exit", "result:", "new")
    db.dump()
    # The file as doit's plain backend reads it.
    plain = SqliteDB(path, JSONCodec())
    assert plain.get("issue:PROJ-3:exit", "result:") == "new"
    assert plain.get("issue:PROJ-1:code", "result:") == "abc"
    assert not plain.in_("issue:PROJ-2:plan")
    with sqlite3.connect(path) as conn:
        assert conn.execute("select count(*) from doit").fetchone()[0] == 3
    db = PrefetchedSqliteDB(path, JSONCodec())
    db.remove_all()
    assert not db.in_("issue:PROJ-1:code") and db.get("verify:lint", "_values_:") is None


def test_workspaces_use_it_when_installed() -> None:
    assert backend_name() == NAME  # registered by this package's entry point
    assert doit_config()["backend"] == NAME
