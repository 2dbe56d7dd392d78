"""EXIT's merge: the rebase holds only the issue's lock; the target moves by compare-and-swap.

A target that moves between the rebase and the swap (another merge, or the user's own commit)
makes the swap fail; the branch is rebased onto the new target and the swap tried again, and
nothing is lost.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.workspace import scaffold
from tests.conftest import FAST_PIPELINE, run_doit

pytestmark = pytest.mark.integration

# After the rebase (the checkout that moves its branch, $1 the old HEAD, is not
# $2), once: a commit lands on the target.
MOVE_TARGET = """\
#!/bin/sh
[ "$1" != "$2" ] && [ -f "{flag}" ] || exit 0
rm -f "{flag}"
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE  # git sets them for the worktree's hook
cd "{ws}"
{move}
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


@pytest.mark.parametrize("checked_out", [True, False], ids=["in-workspace", "not-checked-out"])
def test_a_target_that_moved_before_the_swap_is_merged_onto_again(
    tmp_path: Path, checked_out: bool
) -> None:
    text = FAST_PIPELINE if checked_out else FAST_PIPELINE + "git: {target: trunk}\n"
    ws = scaffold(tmp_path / "ws", pipeline_text=text)
    if not checked_out:
        git(ws, "branch", "trunk")
    target = "main" if checked_out else "trunk"
    # The first merge needs a rebase: the target gets a commit while the issue works.
    assert run_doit(ws, "add", "--title", "Moved under me").returncode == 0
    assert run_doit(ws, "-n", "4", "issue:PROJ-1:test", "issue:PROJ-1:qa").returncode == 0
    if checked_out:
        (ws / "NOTES.md").write_text("notes\n")
        git(ws, "add", "NOTES.md")
        git(ws, "commit", "-qm", "notes")
        move = 'git -c user.name=u -c user.email=u@localhost commit -q --allow-empty -m "moved"'
    else:
        git(ws, "update-ref", "refs/heads/trunk",
            git(ws, "commit-tree", "trunk^{tree}", "-p", "trunk", "-m", "notes"))  # fmt: skip
        move = (
            'new=$(git -c user.name=u -c user.email=u@localhost commit-tree "trunk^{tree}" '
            '-p trunk -m moved) && git update-ref refs/heads/trunk "$new"'
        )
    flag = tmp_path / "move.flag"
    flag.write_text("armed")
    hook = ws / ".git" / "hooks" / "post-checkout"
    hook.write_text(MOVE_TARGET.format(flag=flag, ws=ws, move=move))
    hook.chmod(0o755)

    result = run_doit(ws, "-n", "4", "marathon")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not flag.exists()  # the target did move between the rebase and the swap
    subjects = git(ws, "log", "--format=%s", target).splitlines()
    # Nothing lost: the commit that moved the target, then the work on top of it.
    assert "moved" in subjects and "notes" in subjects
    assert subjects.index("PROJ-1 code: Moved under me") < subjects.index("moved")
    assert sum(s.startswith("PROJ-1 code:") for s in subjects) == 1
