"""What a check's exit means: passed, failed (a bug in the code), or cannot run as configured.

A check that cannot start, or fails for a reason in its own setup (no tests collected, a test
folder that does not exist, a command not found), is a mistake in marathon.yaml, not work for
an agent: it stops the run with one line naming the check and the fix, and files no bug.

`failure_title` names what failed (the first failing test ids, the first error line) for a bug
issue's title, instead of a summary count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.config.model import CheckConfig
from engine.run.process import ProcessOutcome


@dataclass(frozen=True)
class CheckVerdict:
    passed: bool
    error: str = ""  # why it did not pass, one line
    setup_error: bool = False  # the check cannot run as configured: fix marathon.yaml

    @property
    def failed(self) -> bool:
        return not self.passed and not self.setup_error


# pytest's documented exit codes: 4 usage error (e.g. no such file or folder), 5 no tests
# collected. Any other non-zero status is a test failure, an interruption or an internal error.
_PYTEST_USAGE, _PYTEST_NO_TESTS = 4, 5
_NOT_FOUND = re.compile(r"(command not found|not found: |No such file or directory)", re.I)


def judge(check: CheckConfig, outcome: ProcessOutcome, output: str) -> CheckVerdict:
    where = f"checks.{check.name}"
    if outcome.missing_binary:
        return CheckVerdict(
            False,
            f"check {check.name} cannot start '{outcome.missing_binary}': it is not installed "
            f"or not on PATH; install it, or fix {where}.command in marathon.yaml",
            setup_error=True,
        )
    if outcome.timed_out or outcome.interrupted:
        return CheckVerdict(False, outcome.error)
    if outcome.exit_code in check.ok_exit_codes:
        return CheckVerdict(True)
    if _runs_pytest(check.command):
        if outcome.exit_code == _PYTEST_NO_TESTS:
            return CheckVerdict(
                False,
                f"check {check.name} collected no tests (pytest exit 5); if that is expected "
                f"for now, add `ok_exit_codes: [0, 5]` to {where} in marathon.yaml",
                setup_error=True,
            )
        if outcome.exit_code == _PYTEST_USAGE:
            said = _first_line(output, ("ERROR:", "error:")) or "a usage error"
            return CheckVerdict(
                False,
                f"check {check.name} cannot run (pytest exit 4: {said}); fix {where}.command "
                "in marathon.yaml",
                setup_error=True,
            )
    if outcome.exit_code in (126, 127) and _NOT_FOUND.search(output):
        said = _first_line(output, ("",), _NOT_FOUND) or f"exit {outcome.exit_code}"
        return CheckVerdict(
            False,
            f"check {check.name} cannot run: {said}; fix {where}.command in marathon.yaml",
            setup_error=True,
        )
    return CheckVerdict(False, outcome.error or f"exited with status {outcome.exit_code}")


def _runs_pytest(command: tuple[str, ...]) -> bool:
    return any(part.rsplit("/", 1)[-1] in ("pytest", "py.test") for part in command)


def _first_line(
    output: str, prefixes: tuple[str, ...], pattern: re.Pattern[str] | None = None
) -> str:
    for line in output.splitlines():
        text = line.strip()
        if text.startswith(("===", "---")):
            continue
        wanted = any(text.startswith(prefix) for prefix in prefixes)
        if text and wanted and (pattern is None or pattern.search(text)):
            return text[:200]
    return ""


# What names a failure, most specific first: pytest's short summary, a linter's or type
# checker's `path:line[:col]: message`, a Python exception, then any line saying error.
_FAILED_TEST = re.compile(r"^(?:FAILED|ERROR) (\S+::\S+|\S+\.py)")
_LOCATED = re.compile(r"^[\w./\\-]+:\d+(?::\d+)?:? .+")
_EXCEPTION = re.compile(r"^\w*(?:Error|Exception)\b.*")
_ERRORISH = re.compile(r"\b(error|failed|failure)\b", re.I)


def failure_title(output: str, fallback: str) -> str:
    """A short name of what failed: `tests/test_calc.py::test_add, tests/test_calc.py::test_sub`
    or `src/app.py:3:1: F401 'os' imported but unused`; `fallback` when nothing fits."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("===")]
    tests = list(dict.fromkeys(m.group(1) for line in lines if (m := _FAILED_TEST.match(line))))
    if tests:
        more = f" and {len(tests) - 2} more" if len(tests) > 2 else ""
        return ", ".join(tests[:2]) + more
    for pattern in (_LOCATED, _EXCEPTION):
        found = next((line for line in lines if pattern.match(line)), "")
        if found:
            return found[:140]
    found = next((line for line in lines if _ERRORISH.search(line)), "")
    # Then what the tool said last (a linter's one-line report), before the exit status.
    return (found or (lines[-1] if lines else "") or fallback)[:140]
