import argparse

import pytest

from todo.cli import add
from todo.db import connect
from todo.storage import TodoStore


def test_add_prints_the_id(tmp_db, capsys) -> None:
    store = TodoStore(connect(tmp_db))
    assert add.run(store, argparse.Namespace(title="Buy milk")) == 0
    assert capsys.readouterr().out.strip() == str(store.list()[0].id)


def test_add_refuses_blank(tmp_db) -> None:
    with pytest.raises(ValueError):
        add.run(TodoStore(connect(tmp_db)), argparse.Namespace(title=" "))
