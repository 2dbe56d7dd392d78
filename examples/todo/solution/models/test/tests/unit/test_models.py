import dataclasses

import pytest

from todo.models import TodoItem, clean_title


def test_to_dict_is_json_ready() -> None:
    item = TodoItem(1, "Buy milk", True, "2026-01-01T00:00:00+00:00")
    assert item.to_dict() == {"id": 1, "title": "Buy milk", "done": True,
                              "created_at": "2026-01-01T00:00:00+00:00"}


def test_from_row_converts_types() -> None:
    item = TodoItem.from_row(("7", "Walk", 0, "2026-01-01T00:00:00+00:00"))
    assert item == TodoItem(7, "Walk", False, "2026-01-01T00:00:00+00:00")


def test_items_are_frozen() -> None:
    item = TodoItem(1, "x", False, "t")
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.title = "y"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["", "   ", "x" * 200])
def test_bad_titles_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        clean_title(bad)


def test_titles_are_stripped() -> None:
    assert clean_title("  Buy milk ") == "Buy milk"
    assert clean_title("x" * 199) == "x" * 199
