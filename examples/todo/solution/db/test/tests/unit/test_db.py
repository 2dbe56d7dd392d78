import sqlite3

import pytest

from todo.db import connect


def test_connect_creates_the_table(tmp_db) -> None:
    conn = connect(tmp_db)
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert "todos" in tables
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_two_connections_see_the_same_data(tmp_db) -> None:
    first = connect(tmp_db)
    first.execute("INSERT INTO todos (title, created_at) VALUES ('a', 'now')")
    first.commit()
    assert connect(tmp_db).execute("SELECT title FROM todos").fetchall() == [("a",)]


def test_schema_refuses_bad_rows(tmp_db) -> None:
    conn = connect(tmp_db)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO todos (title, done, created_at) VALUES ('a', 2, 'now')")
