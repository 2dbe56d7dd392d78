"""One `git status` per phase boundary (engine/run/runtime.py: CleanBoundaries): a phase that
starts where the last one left nothing uncommitted asks no status of its own, and a hand edit
made in between is refused with the phase's writes, said as made before the phase started."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from engine.records import Records
from engine.workspace import scaffold
from tests.conftest import run_doit

pytestmark = pytest.mark.integration

CHAIN = (
    "key_prefix: PROJ\nphases:\n"
    "  first: {command: [sh, -c, 'mkdir -p src && echo 1 > src/first.txt'], writes: [src/**]}\n"
    "  second: {after: [first], command: [sh, -c, 'echo 2 > src/second.txt'], writes: [src/**]}\n"
    "  third: {after: [second], command: [sh, -c, 'echo 3 > src/third.txt'], writes: [src/**]}\n"
    "  exit: {after: [third], builtin: exit}\n"
)


def _counting_git(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """git on PATH through a wrapper that notes where each call ran and its arguments."""
    calls = tmp_path / "git-calls.txt"
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$PWD $*" >> {calls}\nexec {shutil.which("git")} "$@"\n')
    wrapper.chmod(0o755)
    return {"PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"}, calls


def test_a_phase_after_a_clean_boundary_asks_no_status_of_its_own(tmp_path: Path) -> None:
    ws = scaffold(tmp_path / "ws", pipeline_text=CHAIN)
    assert run_doit(ws, "add", "--title", "Three steps").returncode == 0
    env, calls = _counting_git(tmp_path)
    result = run_doit(ws, "-n", "2", "marathon", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    worktree = str((ws / ".marathon" / "worktrees" / "PROJ-1").resolve())
    statuses = [
        line for line in calls.read_text().splitlines()
        if line.startswith(worktree + " ") and " status --porcelain=v1 -z" in line
    ]  # fmt: skip
    # One each, after it ran: first starts in the worktree just made for it, second and third
    # where the phase before them committed everything. Without the boundary it is two per
    # phase: 6.
    assert len(statuses) == 3, statuses
    merged = [p.name for p in sorted((ws / "src").iterdir())]
    assert merged == ["first.txt", "second.txt", "third.txt"]


HOOK = """#!/bin/sh
# A hand edit in the window between two phases: made as the first phase's commit lands,
# after the status that phase's commit was made from.
case "$(git log -1 --format=%s)" in
  "PROJ-1 first:"*) echo "by hand" > notes.txt ;;
esac
"""


def test_a_hand_edit_between_phases_is_refused_and_named_as_made_before(tmp_path: Path) -> None:
    ws = scaffold(tmp_path / "ws", pipeline_text=CHAIN)
    assert run_doit(ws, "add", "--title", "Three steps").returncode == 0
    hook = ws / ".git" / "hooks" / "post-commit"
    hook.write_text(HOOK)
    hook.chmod(0o755)
    result = run_doit(ws, "-n", "2", "marathon")
    assert result.returncode == 1, result.stdout + result.stderr
    second = [r for r in Records(ws / ".marathon" / "records.db").runs() if r.phase == "second"]
    assert [r.status for r in second] == ["failed"]
    assert second[0].error == (
        "wrote outside its write set (src/**): notes.txt (notes.txt changed before the phase "
        "started: by hand? commit or remove it, then run again)"
    )
    worktree = ws / ".marathon" / "worktrees" / "PROJ-1"
    assert (worktree / "notes.txt").read_text() == "by hand\n"  # left as it was


FIXING = """\
key_prefix: PROJ
agents:
  fixer: {preset: command, command: [sh, -c, 'mkdir -p src && echo fixed > src/fixed.txt']}
checks:
  fixed:
    command: [sh, -c, 'echo ran >> report.txt; test -f src/fixed.txt']
    reads: ["src/**"]
phases:
  code: {command: [sh, -c, 'mkdir -p src && echo 1 > src/a.txt'], writes: [src/**]}
  gate:
    after: [code]
    checks: [fixed]
    where: branch
    fix: {agent: fixer, prompt: fix.md.j2, attempts: 1, writes: [src/**]}
  exit: {after: [gate], builtin: exit}
"""


def test_a_file_a_gates_check_leaves_is_not_blamed_on_its_fix(tmp_path: Path) -> None:
    """The check writes report.txt (not ignored) in the worktree and fails; the fix that
    follows starts after the gate, which to the boundaries is a phase that may leave anything:
    the fix asks git what is there, report.txt is not its change, and the issue merges."""
    ws = scaffold(tmp_path / "ws", pipeline_text=FIXING)
    assert run_doit(ws, "add", "--title", "Fixed by the gate").returncode == 0
    result = run_doit(ws, "-n", "2", "marathon")
    assert result.returncode == 0, result.stdout + result.stderr
    runs = Records(ws / ".marathon" / "records.db").runs()
    assert [(r.phase, r.status) for r in runs if r.issue] == [
        ("code", "success"), ("gate", "success"), ("exit", "success"),
    ]  # fmt: skip
    assert (ws / "src" / "fixed.txt").read_text() == "fixed\n"
