"""What files a check reads, as git names them: (path, mode, blob id) triples.

The same triples come from two places, so a check that passed in one is known to pass in the
other:

* a commit's tree (`git ls-tree -r`), read from the object database without a checkout: what
  the pre-push hook verifies;
* a working tree: the files git does not ignore (`git ls-files --cached --others
  --exclude-standard`), hashed the way `git hash-object` does. That is what `doit verify` and
  the VERIFY gates check.

Files git ignores (`__pycache__/`, `.mypy_cache/` ...) are never listed: a check that writes
bytecode must not make itself stale. Submodules (gitlinks) are not files and are skipped.

Kept free of heavy imports: the pre-push hook imports this on its fast path.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from engine import globs

# (mode, blob id) per path, as in a tree object.
Entries = dict[str, tuple[str, str]]

# Variables git sets for a hook; inherited, they would point every git command (and every check
# that runs git) at the pushing worktree instead of the one it runs in.
_GIT_LOCATION = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR")

_cache_lock = threading.Lock()
_blob_cache: dict[str, tuple[tuple[int, int, int, int], tuple[str, str]]] = {}


class GitError(Exception):
    """A git command failed; the message is git's last line of stderr."""


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION}
    env.update(extra or {})
    return env


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=clean_env(), check=False
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise GitError(lines[-1] if lines else f"git {args[0]} failed")
    return done.stdout


def tree_entries(repo: Path, commit: str) -> Entries:
    """Every file of `commit`'s tree: path -> (mode, blob id); no checkout, no working tree."""
    out = git(repo, "ls-tree", "-r", "-z", "--full-tree", commit)
    entries: Entries = {}
    for record in out.split("\0"):
        if not record:
            continue
        meta, path = record.split("\t", 1)
        mode, kind, sha = meta.split(" ")
        if kind == "blob":
            entries[path] = (mode, sha)
    return entries


def worktree_entries(root: Path, patterns: Sequence[str]) -> Entries:
    """The files under `root` git does not ignore that match `patterns`: path -> (mode, blob id)
    of their current contents (committed or not)."""
    if not patterns:
        return {}
    try:
        out = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        candidates: Iterable[str] = {p for p in out.split("\0") if p}
    except (GitError, FileNotFoundError):
        # Not a git work tree: every file is a candidate (nothing is ignored without git).
        candidates = globs.expand(root, patterns)
    entries: Entries = {}
    for rel in sorted(candidates):
        if globs.matches(rel, patterns):
            found = blob_of(root / rel)
            if found is not None:
                entries[rel] = found
    return entries


def select(entries: Entries, patterns: Sequence[str]) -> Entries:
    """The entries whose paths match `patterns` (a check's `reads:`)."""
    return {path: entry for path, entry in entries.items() if globs.matches(path, patterns)}


def listing(entries: Entries) -> list[tuple[str, str, str]]:
    """A stable, hashable form of `entries`."""
    return [(path, *entries[path]) for path in sorted(entries)]


def blob_of(path: Path) -> tuple[str, str] | None:
    """(mode, blob id) of a working-tree file as git would store it; None if it is not a file.

    Cached by (size, mtime, inode, mode), so re-checking an unchanged tree reads no file twice.
    """
    try:
        st = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(st.st_mode):
        mode = "120000"
    elif stat.S_ISREG(st.st_mode):
        mode = "100755" if st.st_mode & stat.S_IXUSR else "100644"
    else:
        return None  # a directory (a submodule) or something stranger: not a file
    key = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode)
    name = str(path)
    with _cache_lock:
        cached = _blob_cache.get(name)
    if cached and cached[0] == key:
        return cached[1]
    data = os.readlink(path).encode() if mode == "120000" else path.read_bytes()
    value = (mode, hash_blob(data))
    with _cache_lock:
        _blob_cache[name] = (key, value)
    return value


def hash_blob(data: bytes) -> str:
    """`git hash-object` for a repository in SHA-1 format."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def git_dirs(cwd: Path) -> tuple[Path, Path]:
    """(top of the working tree, the repository's common git dir) for `cwd`."""
    top, common = git(cwd, "rev-parse", "--show-toplevel", "--git-common-dir").splitlines()[:2]
    common_path = Path(common)
    if not common_path.is_absolute():
        common_path = (cwd / common_path).resolve()
    return Path(top), common_path
