"""SIGKILL at random moments of a marathon on a real Dask cluster, many times, over seeds; the
cluster's side of the durability promise (issue 19). Prints one line per seed and a total:

    seed 1: 12 kills (5 coordinator, 7 worker): 0 finished phases redone, 0 duplicate commits, ...

Each seed: a `dask scheduler` and 3 `dask worker` processes (tests/cluster.py), a marathon of 12
issues (two chains and independent ones) whose agents write something new on every run. At random
moments either the coordinator's whole process group is killed and the same command started
again, or a worker dies as a machine does (the worker process and its agents' process groups)
and a new worker starts on the same root folder. A last run finishes the marathon; the
workspace is audited as bench/chaos.py audits (tests/chaos.py). Agent starts beyond the
recorded runs are counted apart: a phase whose worker died is run again under the same run
record, so one extra start per agent killed with its worker is the design, more would be a
leak.

    python bench/cluster_chaos.py                      # 3 seeds x 12 kills
    python bench/cluster_chaos.py --seeds 5 --kills 20 --first-seed 7
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.run import process
from tests import chaos
from tests.cluster import Cluster, running_cluster, start_worker
from tests.conftest import start_doit


def agents_of(worker: subprocess.Popen[bytes]) -> list[int]:
    """Process groups of the agents a worker started (its children lead their own groups)."""
    groups = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == worker.pid:
                groups.append(int(fields[2]))
    return groups


def kill_machine(cluster: Cluster, index: int, folder: Path) -> int:
    """Worker `index` dies with its agents; a new one starts on the same root. Returns how
    many agents died with it."""
    worker = cluster.workers[index]
    groups = agents_of(worker)
    os.killpg(worker.pid, signal.SIGKILL)
    for group in groups:
        process.kill_group(group)
    worker.wait()
    cluster.workers[index] = start_worker(cluster, index, folder)
    return len(groups)


def one_seed(base: Path, seed: int, kills: int, issues: int) -> tuple[chaos.Audit, str, int]:
    rng = random.Random(seed)
    with running_cluster(base) as cluster:
        ws = chaos.make_workspace(
            base / "ws", issues, [(1, 2), (2, 3), (4, 5)], plan=0.3, code=1.0, test=0.6, qa=0.6
        )
        with open(ws / "marathon.yaml", "a") as handle:
            handle.write(cluster.executor(timeout=60))
        done, by_coordinator, by_worker, agents_killed = 0, 0, 0, 0
        while done < kills:
            proc = start_doit(ws, "-n", "4", "marathon", new_session=True)
            ended = False
            while done < kills and not ended:
                try:
                    proc.wait(timeout=rng.uniform(0.3, 3.0))
                    ended = True
                except subprocess.TimeoutExpired:
                    done += 1
                    if rng.random() < 0.5:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
                        by_coordinator += 1
                        ended = True
                    else:
                        index = rng.randrange(len(cluster.workers))
                        agents_killed += kill_machine(cluster, index, base / "cluster")
                        by_worker += 1
            if proc.poll() is None:
                proc.wait(timeout=600)
            if proc.returncode == 0 and done < kills:
                break  # finished before all the kills: the rest of the seed has nothing to hit
        last = chaos.marathon(ws, timeout=600)
        if last.returncode != 0:
            print(last.stdout[-3000:], last.stderr[-2000:])
        time.sleep(1)  # agents the last kills orphaned exit on their own
        shutil.copy(cluster.ledger, chaos.ledger(ws)) if cluster.ledger.exists() else None
        found = chaos.audit(ws)
        # Agents are started on workers: the extra starts of phases whose worker died are the
        # rerun the design makes, counted apart (at most one per agent killed with a worker).
        extra = sum(int(line.split(":")[-1].split()[0]) - int(line.split()[-3])
                    for line in found.unrecorded)  # fmt: skip
        found.unrecorded = []
        orphans = [pid for root in cluster.roots for pid in chaos.processes_in(root, settle=5)]
        found.leftovers += [f"process {pid} on a worker" for pid in orphans]
        said = (
            f"{done} kills ({by_coordinator} coordinator, {by_worker} worker, killing "
            f"{agents_killed} agents)"
        )
        return found, said, extra if extra <= agents_killed else -extra


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--issues", type=int, default=12)
    args = parser.parse_args()
    total_kills, failed = 0, 0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            found, said, extra = one_seed(Path(tmp), seed, args.kills, args.issues)
        total_kills += int(said.split()[0])
        failed += not found.ok or extra < 0
        leak = " (MORE than the agents killed with workers)" if extra < 0 else ""
        print(f"seed {seed}: {said}: {found.summary()}; agent starts redone after a worker "
              f"died: {abs(extra)}{leak}")  # fmt: skip
        if not found.ok:
            print(f"  {found.details()}")
    print(f"{total_kills} kills over {args.seeds} seeds: {failed} seed(s) with a problem")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
