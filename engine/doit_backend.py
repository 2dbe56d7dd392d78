"""doit's sqlite3 dependency backend, reading its whole table at most once, and only if asked.

doit asks its database about every task it considers, one SELECT per task the first time; a
no-op run over thousands of tasks spends a tenth of a second on those alone. One query, at the
first question, answers them all. The rows are kept as text and each decoded when its task is
asked about: `doit list`, `doit status` and the other commands that open the database without
asking it anything pay nothing (issue 18). Writes, locking and the file format are doit's own,
unchanged, so the file stays readable by doit's plain `sqlite3` backend and safe with a
`doit status` running beside a marathon.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from doit.dependency import SqliteDB

NAME = "marathon-sqlite3"


class PrefetchedSqliteDB(SqliteDB):  # type: ignore[misc]
    desc = "doit's sqlite3 backend, every row read by one query at the first question"

    def __init__(self, name: str, codec: Any, *, module_name: str | None = None) -> None:
        super().__init__(name, codec, module_name=module_name)
        self._rows: dict[str, str] | None = None  # task -> its JSON text, not decoded yet

    def _unread(self) -> dict[str, str]:
        if self._rows is None:
            # A cast has no declared type, so doit's json converter leaves the text alone.
            query = "select task_id, cast(task_data as text) as data from doit"
            self._rows = {row["task_id"]: row["data"] for row in self._conn.execute(query)}
        return self._rows

    def _get_task_data(self, task_id: str) -> dict[str, Any]:
        text = self._unread().pop(task_id, None)
        return self.codec.decode(text) if text else {}  # type: ignore[no-any-return]

    def in_(self, task_id: str) -> bool:
        return task_id in self._cache or task_id in self._unread()

    def remove(self, task_id: str) -> None:
        if self._rows is not None:
            self._rows.pop(task_id, None)
        super().remove(task_id)

    def remove_all(self) -> None:
        self._rows = {}
        super().remove_all()


def backend_name() -> str:
    """Ours when this installation registered it (pip install), else doit's own."""
    registered = {point.name for point in entry_points(group="doit.BACKEND")}
    return NAME if NAME in registered else "sqlite3"
