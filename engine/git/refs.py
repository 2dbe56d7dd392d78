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

import os
import re
import threading
from pathlib import Path

from engine.git import objects
from engine.git.objects import OBJECT_ID
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
    """Every ref outside the engine's namespace: name -> object id. Taken before and after
    every agent phase, so read from git's files when they say it plainly (`_from_files`);
    otherwise git is asked."""
    found = _from_files(root)
    if found is None:
        found = _from_git(root)
    return {name: sha for name, sha in found.items() if not name.startswith(ENGINE_NAMESPACE)}


def _from_git(root: Path) -> dict[str, str]:
    out = git(root, "for-each-ref", "--format=%(refname) %(objectname)").stdout
    return dict(line.partition(" ")[::2] for line in out.splitlines() if line)


def _from_files(root: Path) -> dict[str, str] | None:
    """What `git for-each-ref` would list, read from `.git/packed-refs` and the loose ref files
    (a loose one overrides its packed copy, as in git). None whenever the files do not say it
    plainly: not a plain repository folder, the reftable format, a file that is neither a
    commit id nor a symbolic ref, a symbolic ref to a ref not there, a file that vanished
    while it was read (a `git pack-refs` meanwhile)."""
    common = root / ".git"
    if not common.is_dir() or (common / "reftable").exists():
        return None
    packed = _packed_refs(common)
    if packed is None:
        return None
    found = dict(packed)
    symbolic = {}
    top = common / "refs"
    for folder, folders, files in os.walk(top):
        if folder == str(top / "heads"):
            folders[:] = [f for f in folders if f != ENGINE_NAMESPACE.split("/")[2]]
        for file in files:
            if file.endswith(".lock"):  # being written: the ref file still has the old value
                continue
            path = Path(folder, file)
            try:
                text = path.read_text().strip()
            except OSError:
                return None
            name = path.relative_to(common).as_posix()
            if OBJECT_ID.fullmatch(text):
                found[name] = text
            elif text.startswith("ref: "):
                symbolic[name] = text[len("ref: ") :]
            else:
                return None
    for name, to in symbolic.items():
        if to not in found:
            return None
        found[name] = found[to]
    return found


# Where HEAD is, before and after every agent phase, and two branch heads per merge: read
# from git's files where they say it plainly (a loose ref holding a commit id), which is what
# git itself reads first; anything else (a packed ref, a symbolic one, a name that is not a
# plain path) is asked of git by the caller.
_PLAIN_REF = re.compile(r"refs/heads/[A-Za-z0-9._/-]+")


def common_dir(folder: Path) -> Path:
    """The repository's shared folder, from a git folder (a linked worktree's names it)."""
    try:
        named = Path((folder / "commondir").read_text().strip())
    except OSError:
        return folder
    return named if named.is_absolute() else folder / named


def read_ref(common: Path, ref: str) -> str | None:
    """The commit a branch `ref` names from git's files: its loose file, else its line in
    packed-refs; "" when neither has it (no such branch); None when the files cannot say (an
    odd name, a symbolic ref, the reftable format): ask git."""
    loose = loose_ref(common, ref)
    if loose:
        return loose
    if not _PLAIN_REF.fullmatch(ref) or (common / ref).exists() or (common / "reftable").exists():
        return None
    packed = _packed_refs(common)
    return None if packed is None else packed.get(ref, "")


def _packed_refs(common: Path) -> dict[str, str] | None:
    """name -> object id of the refs in `common`'s packed-refs ({} when there is none);
    None when it cannot be read."""
    try:
        text = (common / "packed-refs").read_text()
    except FileNotFoundError:
        return {}
    except OSError:
        return None
    packed = {}
    for line in text.splitlines():
        if line and line[0] not in "#^":  # the header, and the peeled value of a tag
            sha, _, name = line.partition(" ")
            if OBJECT_ID.fullmatch(sha):
                packed[name] = sha
    return packed


def loose_ref(common: Path, ref: str) -> str:
    """The commit a loose ref file holds, or "" (packed, symbolic, odd name, being written)."""
    if not _PLAIN_REF.fullmatch(ref) or "/." in ref or ".." in ref:
        return ""
    try:
        text = (common / ref).read_text().strip()
    except OSError:
        return ""
    return text if OBJECT_ID.fullmatch(text) else ""


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
    # Mostly a few merges' commits back, still loose files: read without a process.
    told = objects.reaches(root / ".git", new, old, steps=64)
    if told is not None:
        return told
    done = git(root, "merge-base", "--is-ancestor", old, new, check=False)
    return done.returncode == 0


def _logged_by_someone_else(root: Path, ref: str, after: dict[str, str], agent_email: str) -> bool:
    """Did a git other than the agent's move `ref` to where it is (its latest reflog entry)?"""
    if ref not in after:
        return False  # deleted: the reflog went with it, so nobody can vouch for it
    entry = git(root, "log", "-g", "-1", "--format=%H%x00%ge", ref, "--", check=False).stdout
    sha, _, email = entry.strip().partition("\0")
    return sha == after[ref] and email != agent_email
