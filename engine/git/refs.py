"""The target branch moves only by the engine's merge: an agent's ref updates are undone.

Before an agent phase the runner takes a snapshot of the repository's refs outside the
engine's own namespace (`refs/heads/marathon/`): the user's branches, tags, remote-tracking
refs. After it, any of them that changed is put back, unless the engine itself made that
change in the meantime (another issue's merge moved the target: `engine_moved` records it),
and the phase fails naming them. A push from inside the agent is refused by the environment it
gets (`NO_PUSH_ENV`: every push URL is rewritten to one git cannot use); with isolation: bwrap
the repository's refs are read-only as well.
"""

from __future__ import annotations

import threading
from pathlib import Path

from engine.git.repo import git

ENGINE_NAMESPACE = "refs/heads/marathon/"

# For an agent's environment: `url.<nothing usable>.pushInsteadOf` with an empty prefix
# rewrites every push URL, so `git push` fails before it connects anywhere.
NO_PUSH_ENV = {
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "url.marathon-engine-refuses-agent-pushes:///.pushInsteadOf",
    "GIT_CONFIG_VALUE_0": "",
}

_lock = threading.Lock()
_moved: dict[tuple[str, str], set[str]] = {}  # (repository, ref) -> values the engine set


def snapshot(root: Path) -> dict[str, str]:
    """Every ref outside the engine's namespace: name -> object id."""
    out = git(root, "for-each-ref", "--format=%(refname) %(objectname)").stdout
    refs = {}
    for line in out.splitlines():
        name, _, sha = line.partition(" ")
        if name and not name.startswith(ENGINE_NAMESPACE):
            refs[name] = sha
    return refs


def engine_moved(root: Path, ref: str, sha: str) -> None:
    """The engine set `ref` to `sha` (a merge into the target)."""
    with _lock:
        _moved.setdefault((str(root), ref), set()).add(sha)


def undo_foreign_moves(root: Path, before: dict[str, str]) -> list[str]:
    """Put back the refs that changed since `before` other than by the engine; returns them."""
    after = snapshot(root)
    with _lock:
        foreign = sorted(
            ref
            for ref in set(before) | set(after)
            if before.get(ref) != after.get(ref)
            and after.get(ref) not in _moved.get((str(root), ref), set())
        )
    for ref in foreign:
        if ref in before:
            git(root, "update-ref", ref, before[ref])
        else:
            git(root, "update-ref", "-d", ref)
    return foreign
