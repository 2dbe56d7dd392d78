"""`python -m todo.cli COMMAND ...`: the argparse entry point for every command."""

from __future__ import annotations

import argparse
import os

from todo.cli import add, edit, listing
from todo.db import connect
from todo.storage import TodoStore


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="todo", description="Manage todos in a SQLite file.")
    parser.add_argument("--db", default=os.environ.get("TODO_DB", "todo.db"),
                        help="database file (default: $TODO_DB, then ./todo.db)")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in (add, listing, edit):
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(TodoStore(connect(args.db)), args)


if __name__ == "__main__":
    raise SystemExit(main())
