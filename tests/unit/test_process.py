"""run_process on real child processes: outcomes, timeouts, the kill escalation."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.run import process
from engine.run.process import run_process

PY = sys.executable


def run(tmp_path: Path, code: str, *, timeout: float = 10.0, stdin: str | None = None):
    return run_process(
        [PY, "-c", code], cwd=tmp_path, log_path=tmp_path / "out.log", timeout=timeout,
        stdin_text=stdin,
    )  # fmt: skip


def test_clean_exit_and_failure(tmp_path: Path) -> None:
    done = run(tmp_path, "print('hello')")
    assert done.ok and done.error == "" and done.exit_code == 0
    assert "hello" in (tmp_path / "out.log").read_text()
    failed = run(tmp_path, "import sys; sys.exit(3)")
    assert not failed.ok and failed.error == "exited with status 3"


def test_missing_binary(tmp_path: Path) -> None:
    outcome = run_process(
        ["no-such-tool-here"], cwd=tmp_path, log_path=tmp_path / "out.log", timeout=5
    )
    assert not outcome.ok and outcome.exit_code == 127
    assert outcome.error == "cannot start 'no-such-tool-here': not installed or not on PATH"


def test_a_process_that_exits_0_on_sigterm_still_timed_out(tmp_path: Path) -> None:
    code = (
        "import signal, sys, time; "
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); time.sleep(30)"
    )
    started = time.monotonic()
    outcome = run(tmp_path, code, timeout=0.5)
    assert time.monotonic() - started < 5
    assert outcome.exit_code == 0 and outcome.timed_out
    assert not outcome.ok and outcome.error == "timed out after 0.5s (process group killed)"


def test_sigterm_ignored_means_sigkill_after_the_grace_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "KILL_GRACE_SECONDS", 0.5)
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(30)"
    started = time.monotonic()
    outcome = run(tmp_path, code, timeout=0.5)
    elapsed = time.monotonic() - started
    assert outcome.timed_out and outcome.exit_code == -9
    assert 0.9 < elapsed < 5  # the timeout, then the grace period, then SIGKILL


def test_a_child_that_never_reads_its_stdin_cannot_block_the_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    outcome = run(tmp_path, "import time; time.sleep(30)", timeout=0.5, stdin="x" * 2_000_000)
    assert outcome.timed_out and time.monotonic() - started < 5


def test_stdin_reaches_the_child_and_an_infinite_timeout_is_accepted(tmp_path: Path) -> None:
    code = "import sys; print(len(sys.stdin.read()))"
    outcome = run(tmp_path, code, timeout=math.inf, stdin="y" * 300_000)
    assert outcome.ok and "300000" in (tmp_path / "out.log").read_text()


def test_nothing_of_the_command_runs_until_it_is_recorded(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    seen: list[tuple[int, str]] = []

    def record_then_fail(pgid: int) -> None:
        seen.append((pgid, process.start_token(pgid)))
        time.sleep(0.3)  # the command would have run by now, were it not gated
        assert not marker.exists()
        raise RuntimeError("the records database is locked")

    with pytest.raises(RuntimeError):
        run_process(
            [PY, "-c", f"open({str(marker)!r}, 'w')"],
            cwd=tmp_path,
            log_path=tmp_path / "out.log",
            timeout=5,
            on_start=record_then_fail,
        )
    time.sleep(0.3)
    assert not marker.exists()
    pgid, token = seen[0]
    assert token  # the leader was alive (behind the gate) when it was recorded
    assert not process.group_members(pgid)


def test_the_gate_is_invisible_to_the_command(tmp_path: Path) -> None:
    code = "import os, sys; print(repr(sys.stdin.read()), os.getpgrp() == os.getpid())"
    done = run(tmp_path, code)
    assert done.ok
    assert "'' True" in (tmp_path / "out.log").read_text()  # empty stdin, its own group leader


def test_a_group_is_signalled_only_while_it_is_still_that_process(tmp_path: Path) -> None:
    proc = subprocess.Popen([PY, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        token = process.start_token(proc.pid)
        assert not process.kill_group_if_ours(proc.pid, str(int(token) + 1))  # a reused pid
        assert proc.poll() is None
        assert process.kill_group_if_ours(proc.pid, token)
        assert proc.wait(timeout=5) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not process.kill_group_if_ours(proc.pid, token)  # gone: nothing to signal


def test_missing_or_not_executable_commands_are_named(tmp_path: Path) -> None:
    script = tmp_path / "tool.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    refused = run_process([str(script)], cwd=tmp_path, log_path=tmp_path / "out.log", timeout=5)
    assert refused.exit_code == 126 and refused.missing_binary == str(script)
    missing = run_process(["./nope"], cwd=tmp_path, log_path=tmp_path / "out.log", timeout=5)
    assert missing.exit_code == 127 and "cannot start './nope'" in missing.error
