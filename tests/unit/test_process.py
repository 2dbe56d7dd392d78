"""run_process on real child processes: outcomes, timeouts, the kill escalation."""

from __future__ import annotations

import math
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
