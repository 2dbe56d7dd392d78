"""`todo add TITLE`: prints the new todo's id."""

from __future__ import annotations

import argparse

from todo.storage import TodoStore


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("add", help="add a todo")
    parser.add_argument("title")
    parser.set_defaults(run=run)


def run(store: TodoStore, args: argparse.Namespace) -> int:
    print(store.add(args.title).id)
    return 0
