"""`python -m engine setup [DIR]`: make a project a marathon-engine workspace.

Detects the project's ecosystem, package manager, tests and tools (engine/setup/), runs each
detected check once and prints how it went, then writes a marathon.yaml whose checks are the
project's own, plus dodo.py (which hands doit the compiled tasks) and doit.cfg (doit's `run`
starting ready tasks by rank) where they are missing; everything else is `doit ...` from there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.commands.setup import run_setup
from engine.errors import MarathonError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine")
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser(
        "setup",
        help="detect the project's checks and layout; write marathon.yaml, dodo.py and doit.cfg",
    )
    setup.add_argument("directory", nargs="?", default=".")
    setup.add_argument(
        "--dry-run",
        action="store_true",
        help="print the file and the table; write no file (the checks still run once)",
    )
    setup.add_argument(
        "--refresh",
        action="store_true",
        help="detect again for an existing marathon.yaml: show the diff, then rewrite it",
    )
    setup.add_argument(
        "--no-run", action="store_true", help="detect only; do not run the checks once"
    )
    setup.add_argument(
        "--git-init", action="store_true", help="run `git init` first when it is not a repository"
    )
    args = parser.parse_args(argv)
    try:
        return run_setup(
            Path(args.directory),
            out=sys.stdout,
            dry_run=args.dry_run,
            refresh=args.refresh,
            run_checks=not args.no_run,
            git_init=args.git_init,
            ask=_ask if sys.stdin.isatty() and sys.stdout.isatty() else None,
        )
    except MarathonError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code


def _ask(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
