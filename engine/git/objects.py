"""Commits read from git's loose object files, where those say it plainly: the commits a merge
works with are nearly always ones the engine has just made (a replay's `commit-tree`), still
loose. Each answer saves a git process; None means "ask git" (a packed object, a repository
whose history git rewrites as it reads it: replace refs, grafts, a shallow clone).

A loose object is `<type> <size>\\0<body>` deflated, at `objects/<first 2 hex>/<the rest>`; a
commit's body starts with its `tree` line, then one `parent` line per parent
(gitformat-commit, gitrepository-layout)."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

# A commit, tree or blob id: SHA-1, or SHA-256 in a repository of that object format.
OBJECT_ID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


@dataclass(frozen=True)
class Commit:
    tree: str
    parents: tuple[str, ...]


def loose_commit(common: Path, sha: str) -> Commit | None:
    """The tree and parents of commit `sha` from its loose object in the repository's shared
    folder `common`; None when the files do not say it plainly."""
    return None if _rewritten(common) else _read(common, sha)


def _read(common: Path, sha: str) -> Commit | None:
    if not OBJECT_ID.fullmatch(sha):
        return None
    try:
        raw = (common / "objects" / sha[:2] / sha[2:]).read_bytes()
        data = zlib.decompress(raw)
    except (OSError, zlib.error):
        return None
    header, _, body = data.partition(b"\0")
    if not header.startswith(b"commit "):
        return None
    tree, parents = "", []
    for line in body.split(b"\n"):
        key, _, value = line.partition(b" ")
        if key == b"tree" and not tree:
            tree = value.decode("ascii", "replace")
        elif key == b"parent":
            parents.append(value.decode("ascii", "replace"))
        else:
            break  # the author line: no tree or parent comes after it
    if not OBJECT_ID.fullmatch(tree) or not all(OBJECT_ID.fullmatch(p) for p in parents):
        return None
    return Commit(tree, tuple(parents))


def reaches(common: Path, descendant: str, ancestor: str, *, steps: int = 16) -> bool | None:
    """Is `ancestor` in `descendant`'s history (itself included)? True when a walk of at most
    `steps` loose commits back from `descendant` meets it; None when the walk cannot tell (a
    packed commit on the way, or more commits than `steps`): ask git."""
    if descendant == ancestor:
        return True
    if _rewritten(common):
        return None
    seen: set[str] = set()
    frontier = [descendant]
    while frontier:
        sha = frontier.pop()
        if sha in seen:
            continue
        if len(seen) == steps:
            return None
        seen.add(sha)
        commit = _read(common, sha)
        if commit is None:
            return None
        if ancestor in commit.parents:
            return True
        frontier.extend(commit.parents)
    return False  # every path back ended at a root commit without meeting it


def _rewritten(common: Path) -> bool:
    """Does git read this repository's history other than as its objects say?"""
    if (common / "shallow").exists() or (common / "info" / "grafts").exists():
        return True
    if (common / "refs" / "replace").is_dir() and any((common / "refs" / "replace").iterdir()):
        return True
    try:
        packed = (common / "packed-refs").read_bytes()
    except OSError:
        return False
    return b" refs/replace/" in packed
