"""Where a phase's or a check's process runs: the one seam between the scheduler and the work.

doit, the records, the up-to-date rules and the merge stay where they are; an executor gets a
description of the work (`Work`: the argv, where, its environment, its input, its timeout, its
log, and the sandbox it runs in) and returns how it ended. `LocalExecutor` runs it here, in its
own process group behind the gate (engine/run/process.py), inside bubblewrap when the work
carries a sandbox. Another executor (a cluster worker) replaces this one piece.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from engine.run import process, sandbox
from engine.run.process import ProcessOutcome


@dataclass(frozen=True)
class Work:
    argv: tuple[str, ...]
    cwd: Path
    log: Path
    timeout: float
    env: Mapping[str, str]
    stdin_text: str | None = None
    sandbox: sandbox.Sandbox | None = None


class Executor(Protocol):
    def run(self, work: Work, on_start: Callable[[int], None] | None = None) -> ProcessOutcome:
        """Run `work`; `on_start(pgid)` before it runs anything (to record it)."""
        ...


class LocalExecutor:
    def run(self, work: Work, on_start: Callable[[int], None] | None = None) -> ProcessOutcome:
        argv = sandbox.wrap(work.sandbox, work.argv) if work.sandbox else list(work.argv)
        return process.run_process(
            argv,
            cwd=work.cwd,
            log_path=work.log,
            timeout=work.timeout,
            env=work.env,
            stdin_text=work.stdin_text,
            on_start=on_start,
        )


LOCAL = LocalExecutor()
