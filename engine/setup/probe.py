"""Run each detected check once, the way VERIFY will, and say how it went: passes, fails (and
why), or cannot start (the tool is not installed, a module or script is missing)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from engine.run.process import run_process
from engine.setup.model import DetectedCheck

PASSES, FAILS, CANNOT_START, NOT_RUN = "passes", "fails", "cannot start", "not run"
PROBE_TIMEOUT = 300.0
# What a runner prints when the tool it was asked to start is not there (the runner itself
# started, so the exit code alone does not say it). Anchored to a runner's own wording, so a
# test that fails with "No module named ..." of its own still counts as failing.
_MISSING = re.compile(
    r"^(?:sh|bash): (?:\d+: )?(?P<sh>\S+): (?:command )?not found"  # npm / yarn run
    r"|Failed to spawn: `(?P<uv>[^`]+)`"  # uv run
    r"|Command not found: (?P<poetry>\S+)"  # poetry run
    r"|npx canceled due to missing packages"  # npm exec --no
    r"|Command \"(?P<pnpm>[^\"]+)\" not found"  # pnpm exec
    r"|no such command: `(?P<cargo>[^`]+)`",  # cargo clippy without clippy
    re.MULTILINE,
)


_TELLING = re.compile(r"error|fail|found", re.IGNORECASE)


@dataclass(frozen=True)
class Outcome:
    check: str
    status: str  # passes | fails | cannot start | not run
    why: str = ""
    seconds: float = 0.0
    # Failed only with an exit code the check declares fine (pytest's 5) on an engine that
    # does not know ok_exit_codes yet: written as a comment, or VERIFY would fail from day one.
    held: bool = False

    @property
    def left_out(self) -> bool:
        return self.status == CANNOT_START or self.held


def probe(
    root: Path, checks: Sequence[DetectedCheck], *, ok_codes_supported: bool, jobs: int = 4
) -> list[Outcome]:
    """One outcome per check, in the checks' order; checks only read, so they run at once."""
    if not checks:
        return []
    with (
        tempfile.TemporaryDirectory(prefix="marathon-setup-") as logs,
        ThreadPoolExecutor(max_workers=jobs) as pool,
    ):
        return list(pool.map(lambda c: _run_one(root, c, Path(logs), ok_codes_supported), checks))


def _run_one(root: Path, check: DetectedCheck, logs: Path, ok_codes_supported: bool) -> Outcome:
    log = logs / f"{check.name}.log"
    outcome = run_process(check.command, cwd=root, log_path=log, timeout=PROBE_TIMEOUT)
    seconds = round(outcome.duration, 1)
    if outcome.missing_binary:
        return Outcome(
            check.name, CANNOT_START, f"'{outcome.missing_binary}' is not installed", seconds
        )
    if outcome.timed_out:
        return Outcome(check.name, FAILS, outcome.error, seconds)
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    code = outcome.exit_code
    if code == 0:
        return Outcome(check.name, PASSES, "", seconds)
    if code in check.ok_exit_codes and ok_codes_supported:
        return Outcome(check.name, PASSES, f"exit {code}: {check.ok_why}", seconds)
    missing = _missing(text, check.command)
    if missing or code == 127:
        return Outcome(check.name, CANNOT_START, missing or _last_line(text), seconds)
    if code in check.ok_exit_codes:
        why = f"exit {code}: {check.ok_why}; this engine counts it as a failure, so it is left out"
        return Outcome(check.name, FAILS, why, seconds, held=True)
    return Outcome(check.name, FAILS, f"exit {code}: {_last_line(text)}", seconds)


def _missing(text: str, command: tuple[str, ...]) -> str:
    if "-m" in command[:2] and len(command) > command.index("-m") + 1:
        module = command[command.index("-m") + 1]  # python -m pytest without pytest
        if re.search(rf"^\S*python\S*: No module named {re.escape(module)}$", text, re.M):
            return f"'{module}' is not installed for {command[0]}"
    match = _MISSING.search(text)
    if match is None:
        return ""
    name = next((v for v in match.groupdict().values() if v), "")
    return f"'{name}' is not installed" if name else match.group(0)


def _last_line(text: str, width: int = 100) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "no output"
    # The summary line a tool ends with ("1 failed, 2 passed", "Found 3 errors.") says most.
    telling = [line for line in lines if _TELLING.search(line)]
    line = (telling or lines)[-1]
    return line if len(line) <= width else line[: width - 1] + "…"
