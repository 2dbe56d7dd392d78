"""Before a run does anything: settle what a doit that died (kill -9, OOM, power cut) left.

Each step either finished and was recorded, or is redone from scratch; this is where "from
scratch" starts. With the workspace lock held (so no other doit, and no git the dead one
started, is still at work):

1. runs still marked `running` whose doit is gone: their process groups are stopped, if they
   are still those groups (identity checked), and the runs are recorded `interrupted`;
2. git lock files no running git can hold are removed;
3. worktrees left half-made are removed (remade from their branch when needed), rebases and
   merges left half-done are aborted.

What it repaired is said in one line on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.git import repo, worktrees
from engine.records import Records
from engine.run import process


def settle(root: Path, state_dir: Path, records: Records, *, git: bool) -> list[str]:
    """Repair what a killed run left; returns one phrase per kind of repair."""
    repairs: list[str] = []
    stale = records.stale_running()
    stopped = 0
    for run_id, pgid, token in stale:
        if pgid and process.kill_group_if_ours(pgid, token):
            stopped += 1
        records.finish_run(run_id, "interrupted", error="the doit process running it died")
    if stopped:
        repairs.append(f"stopped {stopped} process group(s) it left running")
    if git:
        locks = repo.stale_locks(root)
        for path in locks:
            path.unlink(missing_ok=True)
        if locks:
            names = ", ".join(sorted(_shown(root, path) for path in locks))
            repairs.append(f"removed git lock file(s) a killed git left: {names}")
        repairs += worktrees.repair(root, state_dir)
    return repairs


def report(repairs: list[str]) -> None:
    if repairs:
        print(f"settled what a killed run left: {'; '.join(repairs)}", file=sys.stderr)


def _shown(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
