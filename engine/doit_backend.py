"""doit's sqlite3 dependency backend, reading its whole table once when opened.

doit asks its database about every task it considers, one SELECT per task the first time; a
no-op run over thousands of tasks spends a tenth of a second on those alone. One query at open
answers them all. Writes, locking and the file format are doit's own, unchanged, so the file
stays readable by doit's plain `sqlite3` backend and safe with a `doit status` running beside a
marathon.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from doit.dependency import SqliteDB

NAME = "marathon-sqlite3"


class PrefetchedSqliteDB(SqliteDB):  # type: ignore[misc]
    desc = "doit's sqlite3 backend, with every row read at open (marathon-engine)"

    def __init__(self, name: str, codec: Any, *, module_name: str | None = None) -> None:
        super().__init__(name, codec, module_name=module_name)
        for row in self._conn.execute("select task_id, task_data from doit"):
            self._cache[row["task_id"]] = row["task_data"]


def backend_name() -> str:
    """Ours when this installation registered it (pip install), else doit's own."""
    registered = {point.name for point in entry_points(group="doit.BACKEND")}
    return NAME if NAME in registered else "sqlite3"
