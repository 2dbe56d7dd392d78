import pytest

from todo.db import connect
from todo.storage import TodoStore


@pytest.fixture
def store(tmp_db) -> TodoStore:
    return TodoStore(connect(tmp_db))


def test_add_get_and_list_newest_first(store: TodoStore) -> None:
    first = store.add("Buy milk")
    second = store.add("  Walk the dog ")
    assert store.get(first.id).title == "Buy milk"
    assert second.title == "Walk the dog" and not second.done
    assert [t.id for t in store.list()] == [second.id, first.id]


def test_filters_and_updates(store: TodoStore) -> None:
    a = store.add("a")
    b = store.add("b")
    store.update(a.id, done=True)
    assert [t.id for t in store.list(done=True)] == [a.id]
    assert [t.id for t in store.list(done=False)] == [b.id]
    assert store.update(b.id, title="bee").title == "bee"


def test_bad_titles_and_missing_ids(store: TodoStore) -> None:
    with pytest.raises(ValueError):
        store.add(" ")
    with pytest.raises(ValueError):
        store.add("x" * 200)
    with pytest.raises(KeyError):
        store.get(99)
    with pytest.raises(KeyError):
        store.delete(99)


def test_writes_survive_reopening(tmp_db) -> None:
    TodoStore(connect(tmp_db)).add("kept")
    assert [t.title for t in TodoStore(connect(tmp_db)).list()] == ["kept"]
