"""`todo list [--done | --open]`: one line per todo, newest first."""

from __future__ import annotations

import argparse

from todo.models import TodoItem
from todo.storage import TodoStore


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("list", help="list todos")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--done", dest="done", action="store_const", const=True)
    which.add_argument("--open", dest="done", action="store_const", const=False)
    parser.set_defaults(run=run, done=None)


def line(item: TodoItem) -> str:
    return f"{item.id:>4} [{'x' if item.done else ' '}] {item.title}"


def run(store: TodoStore, args: argparse.Namespace) -> int:
    for item in store.list(done=args.done):
        print(line(item))
    return 0
