import argparse

from todo.cli import listing
from todo.db import connect
from todo.storage import TodoStore


def test_list_filters_and_marks_done(tmp_db, capsys) -> None:
    store = TodoStore(connect(tmp_db))
    milk = store.add("Buy milk")
    store.add("Walk")
    store.update(milk.id, done=True)
    listing.run(store, argparse.Namespace(done=None))
    assert capsys.readouterr().out.splitlines() == ["   2 [ ] Walk", "   1 [x] Buy milk"]
    listing.run(store, argparse.Namespace(done=True))
    assert capsys.readouterr().out.splitlines() == ["   1 [x] Buy milk"]
