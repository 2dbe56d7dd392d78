"""kill -9 at random moments of a marathon, many times, over several seeds; prints one line:

    100 kills: 0 finished phases redone, 0 duplicate commits, 0 leftovers

Each seed is a marathon of 8 issues (two chains and an independent issue) whose agents write
something new on every run; doit (or, one time in three, its whole process group) is killed
`--kills` times at random moments and restarted, then a last run finishes the marathon, and
the workspace is audited (tests/chaos.py: finished phases run again, duplicate commits on the
target, leftovers: worktrees, branches, git lock files, processes, runs marked running,
unfinished merges; agent runs the records never knew of; unfinished issues).

    python bench/chaos.py                     # 5 seeds x 20 kills
    python bench/chaos.py --seeds 10 --kills 30 --first-seed 7
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import chaos

EDGES = [(1, 2), (2, 3), (3, 4), (5, 6), (6, 7)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--kills", type=int, default=20, help="kills per seed")
    parser.add_argument("--first-seed", type=int, default=1)
    args = parser.parse_args()
    total = chaos.Audit()
    kills = group_kills = 0
    failed_runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        with tempfile.TemporaryDirectory(prefix="marathon-chaos-") as tmp:
            ws = chaos.make_workspace(
                Path(tmp) / "ws", 8, EDGES, plan=0.3, code=0.6, test=0.5, qa=0.5
            )
            run = chaos.run_chaos(ws, kills=args.kills, seed=seed)
            final = chaos.marathon(ws)
            found = chaos.audit(ws)
            kills += run.kills
            group_kills += run.group_kills
            if final.returncode != 0:
                failed_runs.append(seed)
            for name in ("redone", "duplicates", "leftovers", "unrecorded", "unfinished"):
                getattr(total, name).extend(f"seed {seed}: {x}" for x in getattr(found, name))
            print(
                f"seed {seed}: {run.kills} kills ({run.group_kills} of the whole group): "
                f"{found.summary()}" + ("; the last run failed" if final.returncode else ""),
                file=sys.stderr,
            )
    if not total.ok:
        print(total.details(), file=sys.stderr)
    print(
        f"{kills} kills: {len(total.redone)} finished phases redone, "
        f"{len(total.duplicates)} duplicate commits, {len(total.leftovers)} leftovers"
        f" ({group_kills} kills of the whole process group; {len(total.unrecorded)} unrecorded"
        f" agent runs, {len(total.unfinished)} unfinished issues, "
        f"{len(failed_runs)} failed last runs)"
    )
    return 0 if total.ok and not failed_runs else 1


if __name__ == "__main__":
    raise SystemExit(main())
