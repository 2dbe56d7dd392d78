"""One doit at a time runs tasks in a workspace.

The lock is taken by the first task that starts work (not at load), so `doit list`,
`doit status` and `doit graph` keep working while a marathon runs. A second run is refused
with the first one's pid, or queues behind it with MARATHON_WAIT=1. The kernel drops the lock
when its process dies, so a `kill -9` never leaves a stale lock behind.

The git processes a run starts hold the lock too (it is passed to them, `held_fds`): a git
left running by a doit that was killed (a rebase, a worktree removal) keeps the workspace
locked until it ends, so the next run never reads the repository mid-operation. The next
run waits for such orphans (bounded), then stops them.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path
from typing import IO

from engine.errors import EXIT_LOCKED, MarathonError
from engine.run import process

WAIT_VARIABLE = "MARATHON_WAIT"
ORPHAN_WAIT_SECONDS = 60.0  # a git operation left by a killed run; longer means it hangs

_held: list[int] = []


def held_fds() -> tuple[int, ...]:
    """The file descriptors of the run locks this process holds, for git children."""
    return tuple(_held)


def _is_git(pid: int) -> bool:
    """git, or a hook or filter git runs (a shell)."""
    name = process.command_name(pid)
    return name == "git" or name.startswith("git-") or name in ("sh", "dash", "bash")


def acquire(state_dir: Path) -> IO[str]:
    """Hold `.marathon/run.lock` for this process; the returned file must stay open."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "run.lock"
    handle = open(path, "a+")  # noqa: SIM115 - held for the process lifetime
    wait = os.environ.get(WAIT_VARIABLE, "") not in ("", "0")
    orphans_since: float | None = None
    vanished_until = time.monotonic() + 2.0  # how long "nobody holds it" is worth a retry
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            pass
        handle.seek(0)
        holder = handle.read().strip()
        holders = [pid for pid in process.processes_holding(path) if pid != os.getpid()]
        # The doit that took it is gone, and only git (and the hooks git runs) it started
        # still hold it: wait for them. Anything else holding it is another run.
        dead = not (holder.isdigit() and process.pid_alive(int(holder)))
        if not holders and time.monotonic() < vanished_until:
            # Whoever held it let go (a killed run's last git just ended): try again. (Where
            # /proc cannot name the holders, this ends in the refusal below.)
            time.sleep(0.01)
            continue
        orphans = dead and bool(holders) and all(_is_git(pid) for pid in holders)
        if not orphans:
            if wait:
                fcntl.flock(handle, fcntl.LOCK_EX)
                break
            handle.close()
            raise MarathonError(
                f"another doit (pid {holder or 'unknown'}) is running tasks in this workspace; "
                f"wait for it to finish, or set {WAIT_VARIABLE}=1 to queue behind it",
                where=str(path),
                exit_code=EXIT_LOCKED,
            )
        if orphans_since is None:
            orphans_since = time.monotonic()
            print(
                f"waiting for {len(holders)} git process(es) left by a killed doit (pid "
                f"{holder or 'unknown'}) to finish: {', '.join(map(str, holders))}",
                file=sys.stderr,
            )
        elif time.monotonic() - orphans_since > ORPHAN_WAIT_SECONDS:
            for pid in holders:
                process.kill_pid(pid)
        time.sleep(0.05)
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    _held.append(handle.fileno())
    return handle
