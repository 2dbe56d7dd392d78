"""TodoStore: every read and write of todos goes through here."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

from todo.models import TodoItem, clean_title

COLUMNS = "id, title, done, created_at"


class TodoStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()  # one connection shared by the server's threads

    def add(self, title: str) -> TodoItem:
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock, self.conn:
            cursor = self.conn.execute(
                "INSERT INTO todos (title, created_at) VALUES (?, ?)", (clean_title(title), created)
            )
        return self.get(int(cursor.lastrowid or 0))

    def get(self, todo_id: int) -> TodoItem:
        with self._lock:
            row = self.conn.execute(
                f"SELECT {COLUMNS} FROM todos WHERE id = ?", (todo_id,)
            ).fetchone()
        if row is None:
            raise KeyError(todo_id)
        return TodoItem.from_row(row)

    def list(self, done: bool | None = None) -> list[TodoItem]:
        """Newest first; `done` filters when given."""
        query, args = f"SELECT {COLUMNS} FROM todos", ()
        if done is not None:
            query, args = query + " WHERE done = ?", (int(done),)
        with self._lock:
            rows = self.conn.execute(query + " ORDER BY id DESC", args).fetchall()
        return [TodoItem.from_row(row) for row in rows]

    def update(self, todo_id: int, *, title: str | None = None, done: bool | None = None) -> TodoItem:
        current = self.get(todo_id)
        new_title = current.title if title is None else clean_title(title)
        new_done = current.done if done is None else bool(done)
        with self._lock, self.conn:
            self.conn.execute(
                "UPDATE todos SET title = ?, done = ? WHERE id = ?",
                (new_title, int(new_done), todo_id),
            )
        return self.get(todo_id)

    def delete(self, todo_id: int) -> None:
        with self._lock, self.conn:
            cursor = self.conn.execute("DELETE FROM todos WHERE id = ?", (todo_id,))
        if cursor.rowcount == 0:
            raise KeyError(todo_id)
