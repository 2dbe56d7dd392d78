"""What detection found, as frozen data: write.py renders it, probe.py runs its checks."""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class DetectedCheck:
    """A check the project runs, and the file that says so."""

    name: str
    command: tuple[str, ...]
    reads: tuple[str, ...]
    doc: str
    because: str  # "pytest: [tool.pytest.ini_options] in pyproject.toml"
    # Exit codes that mean "fine": pytest's 5 is "collected no tests", true of a new project.
    ok_exit_codes: tuple[int, ...] = (0,)
    ok_why: str = ""

    @property
    def shown(self) -> str:
        return shlex.join(self.command)


@dataclass(frozen=True)
class Detection:
    """One ecosystem found in the project (a project may have several: a Python API and a
    TypeScript front end)."""

    ecosystem: str  # python | node | go | rust
    summary: str  # one line: "Python (uv, from uv.lock), src layout, tests in tests/"
    checks: tuple[DetectedCheck, ...]
    source: tuple[str, ...]  # globs of the code the agent phases read
    code_writes: tuple[str, ...]  # code plus manifests and lock files
    test_writes: tuple[str, ...]  # where unit tests live
    e2e_writes: tuple[str, ...]  # where end-to-end tests live (a check runs them)
    notes: tuple[str, ...] = ()  # what was looked for and left out, and why
