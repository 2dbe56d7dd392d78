"""`python -m engine setup [DIR]`: make a project a marathon-engine workspace.

Writes dodo.py (which hands doit the compiled tasks), doit.cfg (doit's `run` starting ready
tasks by rank) and the default marathon.yaml where they are missing; everything else is
`doit ...` from there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.workspace import RANKED_RUN, ranked_run_selected, write_entry_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine")
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser(
        "setup", help="write dodo.py, doit.cfg and marathon.yaml into a project"
    )
    setup.add_argument("directory", nargs="?", default=".")
    args = parser.parse_args(argv)
    root = Path(args.directory)
    if not root.is_dir():
        print(f"error: {root}: not a folder; create it first", file=sys.stderr)
        return 2
    written = write_entry_files(root)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"{root} already has dodo.py, doit.cfg and marathon.yaml; nothing written")
    if not ranked_run_selected(root):
        print(
            f"note: {root / 'doit.cfg'} does not select the ranked run: add the line "
            f"`run = {RANKED_RUN}` to its [COMMAND] section (make the section if it has none), "
            "so ready tasks on the critical path start first"
        )
    print("next: edit marathon.yaml (agents, checks), then `doit init --spec SPEC --dry-run`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
