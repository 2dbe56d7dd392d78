import argparse

from todo.cli import edit
from todo.db import connect
from todo.storage import TodoStore


def test_done_and_remove(tmp_db) -> None:
    store = TodoStore(connect(tmp_db))
    item = store.add("x")
    assert edit.run_done(store, argparse.Namespace(id=item.id)) == 0
    assert store.get(item.id).done
    assert edit.run_remove(store, argparse.Namespace(id=item.id)) == 0
    assert store.list() == []


def test_missing_ids_exit_1(tmp_db, capsys) -> None:
    store = TodoStore(connect(tmp_db))
    assert edit.run_done(store, argparse.Namespace(id=5)) == 1
    assert edit.run_remove(store, argparse.Namespace(id=5)) == 1
    assert "no todo with id 5" in capsys.readouterr().err
