"""The target branch moves only by the engine's merge: an agent's ref updates are undone.

Before an agent phase the runner takes a snapshot of the repository's refs outside the
engine's own namespace (`refs/heads/marathon/`): the user's branches, tags, remote-tracking
refs. After it, a ref that changed is put back, and the phase fails naming it, when the agent
moved it: git logged the move under the agent's identity (`agent_identity`, which its git
gets), or no git logged it at all (a file written behind git's back). A move the engine made
meanwhile (another issue's merge: `engine_moved`) or the user's own git made stays.
A push from inside the agent is refused by the environment it gets (`NO_PUSH_ENV`: every
push URL is rewritten to one git cannot use); with isolation: bwrap the repository's refs
are read-only as well.
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


def agent_identity(issue: str, phase: str) -> dict[str, str]:
    """The committer (and author) an agent's git writes in reflogs: how its moves are told
    from the user's."""
    name, email = f"marathon agent {issue} {phase}", f"agent-{issue}-{phase}@marathon.invalid"
    return {
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
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
    """The engine sets `ref` to `sha` (a merge into the target), said just before it does:
    a phase that looks meanwhile must not take the move for its agent's."""
    with _lock:
        _moved.setdefault((str(root), ref), set()).add(sha)


def undo_agent_moves(root: Path, before: dict[str, str], agent_email: str) -> list[str]:
    """Put back the refs the agent moved since `before`; returns them."""
    after = snapshot(root)
    with _lock:
        changed = sorted(
            ref for ref in set(before) | set(after) if before.get(ref) != after.get(ref)
        )
        made = {ref: set(_moved.get((str(root), ref), ())) for ref in changed}
    foreign = [
        ref
        for ref in changed
        if not _engine_forward(root, before.get(ref), after.get(ref), made[ref])
        and not _logged_by_someone_else(root, ref, after, agent_email)
    ]
    for ref in foreign:
        # Compare-and-swap: only from the value the agent left, never over a newer one.
        if ref in before:
            git(root, "update-ref", ref, before[ref], after.get(ref, ""), check=False)
        else:
            git(root, "update-ref", "-d", ref, after[ref], check=False)
    return foreign


def _engine_forward(root: Path, old: str | None, new: str | None, made: set[str]) -> bool:
    """A value the engine set, reached forward from `old` (a merge moves the target forward;
    an agent putting it back to an older merge does not)."""
    if not new or new not in made:
        return False
    if not old:
        return True
    done = git(root, "merge-base", "--is-ancestor", old, new, check=False)
    return done.returncode == 0


def _logged_by_someone_else(root: Path, ref: str, after: dict[str, str], agent_email: str) -> bool:
    """Did a git other than the agent's move `ref` to where it is (its latest reflog entry)?"""
    if ref not in after:
        return False  # deleted: the reflog went with it, so nobody can vouch for it
    entry = git(root, "log", "-g", "-1", "--format=%H%x00%ge", ref, "--", check=False).stdout
    sha, _, email = entry.strip().partition("\0")
    return sha == after[ref] and email != agent_email
