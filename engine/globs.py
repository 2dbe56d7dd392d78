"""Path globs as marathon.yaml writes them (`src/**`, `tests/unit/**/*.py`), matched one way.

One translation to regular expressions serves expansion (which files a phase reads), run-time
attribution (did a phase write outside its set) and the compiler's overlap proof, so the three
can never disagree about what a glob means. `**` spans directories, `*` and `?` stay inside one.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import re
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

# Folders no glob looks into unless it names them explicitly.
HIDDEN_ROOTS = (".git", ".marathon")


@functools.lru_cache(maxsize=4096)
def compile_glob(pattern: str) -> re.Pattern[str]:
    regex = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            regex.append(".*")
            i += 2
        elif pattern[i] == "*":
            regex.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            regex.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            if body.startswith("!"):
                body = "^" + body[1:]
            regex.append(f"[{body}]")
            i = end + 1
        else:
            regex.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(regex) + r"\Z")


def matches(path: str, patterns: Iterable[str]) -> bool:
    return any(compile_glob(p).match(path) for p in patterns)


def static_prefix(pattern: str) -> str:
    """The folder part before the first wildcard: where a walk has to start."""
    parts = []
    for part in pattern.split("/")[:-1]:
        if any(ch in part for ch in "*?["):
            break
        parts.append(part)
    return "/".join(parts)


def expand(root: Path, patterns: Sequence[str]) -> list[str]:
    """Files under `root` (relative POSIX paths, sorted) that match any of `patterns`.

    Files git ignores (`__pycache__/`, build output) are never matched: a task that writes
    bytecode must not change its own inputs. A pattern that names a hidden root explicitly
    (`.marathon/plans/*.md`) is the exception: those folders are ignored on purpose."""
    found: set[str] = set()
    ignored: _Ignored | None = None
    for pattern in patterns:
        regex = compile_glob(pattern)
        explicit = pattern.startswith(HIDDEN_ROOTS)
        if not explicit and ignored is None:
            ignored = _ignored(root)
        skip = _Ignored() if explicit or ignored is None else ignored
        if not any(ch in pattern for ch in "*?["):
            if (root / pattern).is_file() and not skip.covers(pattern):
                found.add(pattern)
            continue
        start = static_prefix(pattern)
        top = root / start if start else root
        for dirpath, dirnames, filenames in os.walk(top):
            rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
            rel_dir = "" if rel_dir == "." else rel_dir
            if not rel_dir:
                dirnames[:] = [
                    d for d in dirnames if d not in HIDDEN_ROOTS or pattern.startswith(d)
                ]
            prefix = f"{rel_dir}/" if rel_dir else ""
            dirnames[:] = sorted(d for d in dirnames if f"{prefix}{d}/" not in skip.folders)
            for name in filenames:
                rel = f"{prefix}{name}"
                if regex.match(rel) and rel not in skip.files:
                    found.add(rel)
    return sorted(found)


class _Ignored:
    """What git ignores under a root: whole folders (`dir/`) and single files."""

    def __init__(self, folders: frozenset[str] = frozenset(), files: frozenset[str] = frozenset()):
        self.folders = folders
        self.files = files

    def covers(self, rel: str) -> bool:
        if rel in self.files:
            return True
        parts = rel.split("/")
        return any("/".join(parts[:i]) + "/" in self.folders for i in range(1, len(parts)))


def file_states(root: Path, patterns: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file matching `patterns`: did a phase write anything at all?"""
    states = {}
    for rel in expand(root, patterns):
        try:
            st = (root / rel).stat()
        except OSError:
            continue
        states[rel] = (st.st_size, st.st_mtime_ns)
    return states


# Within `one_look`: what git said it ignores, per root, asked once.
_looked: contextvars.ContextVar[dict[Path, _Ignored] | None] = contextvars.ContextVar(
    "looked", default=None
)


@contextlib.contextmanager
def one_look() -> Iterator[None]:
    """Expansions inside share one answer of git's to what it ignores under each root: for
    several expansions at one moment (a phase's inputs and outputs, read as it ends), when
    nothing creates files meanwhile. A file made after the look would be judged by it."""
    token = _looked.set({})
    try:
        yield
    finally:
        _looked.reset(token)


def _ignored(root: Path) -> _Ignored:
    """What git ignores under `root`, asked once per `one_look` (else each time)."""
    looked = _looked.get()
    if looked is None:
        return _ask_ignored(root)
    if root not in looked:
        looked[root] = _ask_ignored(root)
    return looked[root]


def _ask_ignored(root: Path) -> _Ignored:
    """Ask git (one process) what it ignores under `root`; nothing outside a git tree."""
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE")}
    try:
        done = subprocess.run(
            ["git", "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"],
            cwd=root,
            capture_output=True,
            env=env,
            check=False,
        )
    except (FileNotFoundError, NotADirectoryError):
        return _Ignored()
    if done.returncode != 0:
        return _Ignored()
    paths = [p for p in done.stdout.decode("utf-8", "surrogateescape").split("\0") if p]
    return _Ignored(
        frozenset(p for p in paths if p.endswith("/")),
        frozenset(p for p in paths if not p.endswith("/")),
    )


def overlap(a: str, b: str) -> bool:
    """Could some path match both globs? Conservative: says True when unsure."""
    return _overlap(tuple(a.split("/")), tuple(b.split("/")))


@functools.lru_cache(maxsize=4096)
def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if not a or not b:
        return (not a or a == ("**",)) and (not b or b == ("**",))
    if a[0] == "**":
        return _overlap(a[1:], b) or _overlap(a, b[1:])
    if b[0] == "**":
        return _overlap(a, b[1:]) or _overlap(a[1:], b)
    return _segments_overlap(a[0], b[0]) and _overlap(a[1:], b[1:])


def _segments_overlap(a: str, b: str) -> bool:
    wild_a = any(ch in a for ch in "*?[")
    wild_b = any(ch in b for ch in "*?[")
    if not wild_a and not wild_b:
        return a == b
    if not wild_a:
        return bool(compile_glob(b).match(a))
    if not wild_b:
        return bool(compile_glob(a).match(b))
    # Both wild: compatible when their literal heads and tails agree.
    head_a, tail_a = _literal_ends(a)
    head_b, tail_b = _literal_ends(b)
    heads = head_a.startswith(head_b) or head_b.startswith(head_a)
    tails = tail_a.endswith(tail_b) or tail_b.endswith(tail_a)
    return heads and tails


def _literal_ends(segment: str) -> tuple[str, str]:
    first = min(segment.index(ch) for ch in "*?[" if ch in segment)
    last = max(segment.rindex(ch) for ch in "*?]" if ch in segment)
    return segment[:first], segment[last + 1 :]


# The one place under .marathon/ a phase may name: the plans its agents write and read.
STATE_ALLOWED = ".marathon/plans/"


def confinement_problem(pattern: str) -> str:
    """Why `pattern` could reach outside the workspace or into its private folders ('' if fine).

    Checked at load so that a glob like `/etc/**` or `../**` is refused before any agent runs,
    instead of failing (or matching) after the phase did its work.
    """
    if "\0" in pattern:
        return "holds a NUL character"
    if pattern.startswith(("/", "\\")) or (pattern[1:2] == ":" and pattern[2:3] in ("/", "\\")):
        return "is an absolute path; write it relative to the workspace"
    if pattern.startswith("~"):
        return "starts with ~; write it relative to the workspace"
    parts = [part for part in pattern.replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        return "contains '..'; globs stay inside the workspace"
    if not parts:
        return "names no file"
    if parts[0] in HIDDEN_ROOTS and not "/".join(parts).startswith(STATE_ALLOWED):
        return f"points into {parts[0]}/, which belongs to git or marathon"
    # `.g*/**` or `.*` name the private folders through a wildcard (`*/**` does not: a
    # wildcard without the leading dot is how "any top folder" is written).
    wild = any(ch in parts[0] for ch in "*?[")
    if (
        wild
        and parts[0].startswith(".")
        and any(compile_glob(parts[0]).match(h) for h in HIDDEN_ROOTS)
    ):
        return "can match .git/ or .marathon/, which belong to git or marathon"
    return ""
