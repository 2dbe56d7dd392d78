"""`doit hooks install|uninstall|status`: manage the pre-push hook that verifies pushed commits."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TextIO

from engine.errors import MarathonError, did_you_mean
from engine.git.hooks import hook_status, install_hook, uninstall_hook
from engine.run.pre_push import remove_worktree

ACTIONS = ("install", "uninstall", "status")


def verify_command() -> list[str]:
    """What the hook runs: this interpreter's pre-push verifier (engine/run/pre_push.py), so
    the hook works outside a venv shell. It checks the pushed commits, not the working tree,
    and starts neither doit nor the config loader when every check is cached."""
    return [sys.executable, "-m", "engine.run.pre_push"]


def run_hooks(repo: Path, action: str, *, out: TextIO, command: list[str] | None = None) -> int:
    if action not in ACTIONS:
        raise MarathonError(f"hooks: unknown action {action!r}{did_you_mean(action, ACTIONS)}")
    if action == "install":
        argv = command or verify_command()
        path = install_hook(repo, command=argv)
        out.write(f"installed the pre-push hook at {path}\n  it runs: {shlex.join(argv)}\n")
        chained = hook_status(repo).chained
        if chained is not None:
            out.write(f"  it first runs the hook that was there before, now at {chained}\n")
        return 0
    if action == "uninstall":
        path = hook_status(repo).path
        if uninstall_hook(repo):
            restored = " and restored the hook it chained" if path.exists() else ""
            out.write(f"removed the pre-push hook at {path}{restored}\n")
            worktree = remove_worktree(repo)
            if worktree is not None:
                out.write(f"  and the worktree it checked pushed commits out in, {worktree}\n")
        else:
            out.write(f"no marathon pre-push hook at {path}; nothing to remove\n")
        return 0
    status = hook_status(repo)
    if status.installed:
        out.write(f"installed: {status.path}\n")
        if status.chained is not None:
            out.write(f"  chains: {status.chained}\n")
    elif status.foreign:
        out.write(
            f"not installed: {status.path} is another pre-push hook"
            " (`doit hooks install` would chain it)\n"
        )
    else:
        out.write(f"not installed: no pre-push hook at {status.path}\n")
    return 0
