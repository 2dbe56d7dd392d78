"""One doit at a time runs tasks in a workspace.

The lock is taken by the first task that starts work (not at load), so `doit list`,
`doit status` and `doit graph` keep working while a marathon runs. A second run is refused
with the first one's pid, or queues behind it with MARATHON_WAIT=1. The kernel drops the lock
when its process dies, so a `kill -9` never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from engine.errors import MarathonError

WAIT_VARIABLE = "MARATHON_WAIT"


def acquire(state_dir: Path) -> IO[str]:
    """Hold `.marathon/run.lock` for this process; the returned file must stay open."""
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(state_dir / "run.lock", "a+")  # noqa: SIM115 - held for the process lifetime
    wait = os.environ.get(WAIT_VARIABLE, "") not in ("", "0")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise MarathonError(
            f"another doit (pid {holder}) is running tasks in this workspace; wait for it to "
            f"finish, or set {WAIT_VARIABLE}=1 to queue behind it",
            where=str(state_dir / "run.lock"),
            exit_code=1,
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
