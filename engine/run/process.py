"""Run one command the safe way: an argv (no shell), its own process group, a timeout that
kills the whole group, output to the task's own log file, and nothing left behind.

The child is known before it runs anything: it starts behind a gate (`/bin/sh` waiting for one
line on its stdin), the caller records its process group and start time (`on_start`), and
only then is the gate opened and the real command exec'd in the same process. A doit killed
before that line is written closes the pipe, and the gate exits without running anything, so
no agent ever runs unrecorded. The start time identifies the group later: a reaper signals
a recorded group only while it is still that process's group (`kill_group_if_ours`).

Running process groups are registered so Ctrl-C (or SIGTERM) can stop every agent and check
at once; the phase runner then records the run as interrupted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

KILL_GRACE_SECONDS = 3.0

# The gate: read one line ("go") from stdin, then become the command. The command's argv is
# passed as positional parameters ("$@"), never as shell text. 125 when the line never came.
_GATE = 'IFS= read -r gate && [ "$gate" = go ] || exit 125; exec "$@"'
GATE_NEVER_OPENED = 125

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
    """Run `argv`; stdout and stderr go to `log_path` (appended). Never raises for the child.

    `on_start(pgid)` is called after the process exists and before it runs anything of
    `argv` (record it there, with `start_token(pgid)`); when it raises, the process is stopped
    without having run."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    missing = _unstartable(argv, cwd, env)
    if missing:
        return ProcessOutcome(missing[0], time.monotonic() - started, missing_binary=missing[1])
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", _GATE, "marathon-gate", *argv],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole
        )
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


def append_log(log: Path, text: str) -> int:
    """Append one line to a task's log; returns the log's size after it (where the output of
    what runs next starts)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(text + "\n")
        return handle.tell()


def _unstartable(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None
) -> tuple[int, str] | None:
    """(127, name) when argv[0] is not found, (126, name) when it is not executable: what
    Popen would have raised, found before the gate's shell hides it behind an exit code."""
    name = argv[0] if argv else ""
    if not name:
        return (127, name)
    if "/" in name:
        path = Path(name) if os.path.isabs(name) else cwd / name
        if not path.exists():
            return (127, name)
        return None if os.access(path, os.X_OK) and path.is_file() else (126, name)
    search = (env if env is not None else os.environ).get("PATH", os.defpath)
    if shutil.which(name, path=search) is not None:
        return None
    # Present on PATH but not executable is a permission problem, not a missing program.
    exists = any((Path(folder) / name).is_file() for folder in search.split(os.pathsep) if folder)
    return (126, name) if exists else (127, name)


def _wait(proc: subprocess.Popen[bytes], stdin_text: str | None, timeout: float) -> bool:
    """Feed stdin and wait for the leader; True when the timeout stopped it.

    The wait blocks in waitpid rather than polling (`communicate(timeout=)` sleeps up to 50 ms
    between checks, which a marathon pays on every agent and check); a timer thread enforces
    the timeout: SIGTERM to the group, then SIGKILL after a grace period."""
    # The gate's line first, then the command's own input (none: an empty stdin, as /dev/null).
    data = b"go\n" + (stdin_text.encode() if stdin_text is not None else b"")
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


def start_token(pid: int) -> str:
    """When process `pid` started (clock ticks since boot, from /proc): with the pid, it names
    one process for good, since the kernel never gives the same pid and start time twice.
    "" where /proc is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    return stat.rsplit(")", 1)[1].split()[19]


def group_members(pgid: int) -> list[int]:
    """Living processes whose process group is `pgid` (zombies excluded)."""
    members = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def kill_group_if_ours(pgid: int, token: str, wait: float = KILL_GRACE_SECONDS) -> bool:
    """SIGKILL group `pgid` if it is still the group whose leader started at `token`; then wait
    (up to `wait` seconds) until none of it runs. True when something was killed.

    The leader alive with another start time means the pid was reused: not ours. The leader
    gone but members left means the group is still ours: the kernel reuses no pid that is a
    living process group's id."""
    if not _HAVE_PROC:  # no start times to compare: the living group is the only clue
        if not group_alive(pgid):
            return False
        kill_group(pgid)
        return True
    leader = start_token(pgid)
    if leader and token and leader != token:
        return False
    if not leader and not group_members(pgid):
        return False
    kill_group(pgid)
    deadline = time.monotonic() + wait
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return True


_HAVE_PROC = Path("/proc/self/stat").exists()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def command_name(pid: int) -> str:
    """The process's command name (/proc/<pid>/comm); "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def processes_holding(path: Path) -> list[int]:
    """Pids of the processes that have `path` open (from /proc; [] where it is missing)."""
    target = os.path.realpath(path)
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                fds = os.scandir(f"/proc/{entry.name}/fd")
            except OSError:
                continue
            with fds:
                for fd in fds:
                    try:
                        if os.readlink(fd.path) == target:
                            found.append(int(entry.name))
                            break
                    except OSError:
                        continue
    return found


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


def wait_unless_interrupted(seconds: float) -> bool:
    """Sleep `seconds`, cut short by Ctrl-C or SIGTERM; True when interrupted."""
    return _interrupted.wait(seconds)
