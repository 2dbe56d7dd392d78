"""`todo done ID` and `todo remove ID`: exit status 1 when the id does not exist."""

from __future__ import annotations

import argparse
import sys

from todo.storage import TodoStore


def register(commands: argparse._SubParsersAction) -> None:
    done = commands.add_parser("done", help="mark a todo done")
    done.add_argument("id", type=int)
    done.set_defaults(run=run_done)
    remove = commands.add_parser("remove", help="delete a todo")
    remove.add_argument("id", type=int)
    remove.set_defaults(run=run_remove)


def run_done(store: TodoStore, args: argparse.Namespace) -> int:
    try:
        store.update(args.id, done=True)
    except KeyError:
        print(f"todo: no todo with id {args.id}", file=sys.stderr)
        return 1
    return 0


def run_remove(store: TodoStore, args: argparse.Namespace) -> int:
    try:
        store.delete(args.id)
    except KeyError:
        print(f"todo: no todo with id {args.id}", file=sys.stderr)
        return 1
    return 0
