"""Run one command the safe way: an argv (no shell), its own process group, a timeout that
kills the whole group, output to the task's own log file, and nothing left behind.

Running process groups are registered so Ctrl-C (or SIGTERM) can stop every agent and check
at once; the phase runner then records the run as interrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

KILL_GRACE_SECONDS = 3.0

_active_lock = threading.Lock()
_active_groups: set[int] = set()
_interrupted = threading.Event()


@dataclass(frozen=True)
class ProcessOutcome:
    exit_code: int
    duration: float
    timed_out: bool = False
    interrupted: bool = False
    missing_binary: str = ""  # the argv[0] that could not be started
    timeout: float = 0.0  # the limit it ran under

    @property
    def ok(self) -> bool:
        # A process stopped by the timeout failed, even if it answered SIGTERM with exit 0.
        return self.exit_code == 0 and not self.timed_out and not self.missing_binary

    @property
    def error(self) -> str:
        """One line on why it did not succeed; "" when it did."""
        if self.timed_out:
            return f"timed out after {self.timeout:g}s (process group killed)"
        if self.interrupted:
            return "interrupted"
        if self.missing_binary:
            return f"cannot start '{self.missing_binary}': not installed or not on PATH"
        if self.exit_code != 0:
            return f"exited with status {self.exit_code}"
        return ""


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    log_path: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    stdin_text: str | None = None,
    on_start: Callable[[int], None] | None = None,
) -> ProcessOutcome:
    """Run `argv`; stdout and stderr go to `log_path` (appended). Never raises for the child."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as a whole
            )
        except FileNotFoundError:
            return ProcessOutcome(127, time.monotonic() - started, missing_binary=argv[0])
        except PermissionError:
            return ProcessOutcome(126, time.monotonic() - started, missing_binary=argv[0])
        pgid = proc.pid
        with _active_lock:
            _active_groups.add(pgid)
        try:
            if on_start is not None:
                on_start(pgid)
            timed_out = _wait(proc, stdin_text, timeout)
        finally:
            # Whatever the leader left running in its group goes too.
            kill_group(pgid)
            with _active_lock:
                _active_groups.discard(pgid)
    code = proc.returncode if proc.returncode is not None else -9
    return ProcessOutcome(
        exit_code=code,
        duration=time.monotonic() - started,
        timed_out=timed_out,
        interrupted=_interrupted.is_set() and not timed_out and code != 0,
        timeout=timeout,
    )


def _wait(proc: subprocess.Popen[bytes], stdin_text: str | None, timeout: float) -> bool:
    """Feed stdin and wait for the leader; True when the timeout stopped it.

    The wait blocks in waitpid rather than polling (`communicate(timeout=)` sleeps up to 50 ms
    between checks, which a marathon pays on every agent and check); a timer thread enforces
    the timeout: SIGTERM to the group, then SIGKILL after a grace period."""
    data = stdin_text.encode() if stdin_text is not None else None
    expired = threading.Event()
    finished = threading.Event()
    decided = threading.Lock()  # the timer and the end of the wait: whichever comes first

    def expire() -> None:
        with decided:
            if finished.is_set():
                return
            expired.set()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        if not finished.wait(KILL_GRACE_SECONDS):
            kill_group(proc.pid)

    # threading.Timer cannot wait longer than TIMEOUT_MAX (an infinite timeout included).
    timer = threading.Timer(min(timeout, threading.TIMEOUT_MAX), expire)
    timer.daemon = True
    timer.start()
    try:
        proc.communicate(input=data)
    finally:
        with decided:
            finished.set()
        timer.cancel()
    if expired.is_set():
        _let_group_exit(proc.pid)
    return expired.is_set()


def _let_group_exit(pgid: int) -> None:
    """After SIGTERM: give what the leader left in its group the grace period to exit."""
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def interrupt_all() -> None:
    """Stop every running agent and check (Ctrl-C, SIGTERM)."""
    _interrupted.set()
    with _active_lock:
        groups = list(_active_groups)
    for pgid in groups:
        kill_group(pgid)


def was_interrupted() -> bool:
    return _interrupted.is_set()
