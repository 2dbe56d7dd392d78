"""TodoItem: one todo, as the storage layer and both front ends see it."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

MAX_TITLE = 200


def clean_title(title: str) -> str:
    """The stripped title; raises ValueError when it is blank or too long."""
    stripped = title.strip()
    if not stripped:
        raise ValueError("title must not be blank")
    if len(stripped) >= MAX_TITLE:
        raise ValueError(f"title must be shorter than {MAX_TITLE} characters")
    return stripped


@dataclass(frozen=True)
class TodoItem:
    id: int
    title: str
    done: bool
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "done": self.done,
                "created_at": self.created_at}

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple[Any, ...]) -> TodoItem:
        id_, title, done, created_at = tuple(row)
        return cls(id=int(id_), title=str(title), done=bool(done), created_at=str(created_at))
