"""What "up to date" means: digests of everything a task depends on, compared with its stamp.

A phase's inputs are named components (issue text, rendered prompt, agent settings, each
upstream phase's result, the files it reads) so that "why does it run" can name the one that
changed. File digests hash contents, cached by (size, mtime, inode) so a no-op run re-stats
files but does not re-read them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine import globs
from engine.compile import CheckTask, PhaseTask, phase_task_name
from engine.git import tree
from engine.issue import Issue
from engine.records import Records, Stamp
from engine.run import check_cache

MISSING = "missing"

_cache_lock = threading.Lock()
_content_cache: dict[str, tuple[tuple[int, int, int], str]] = {}


def digest(value: Any) -> str:
    data = (
        value
        if isinstance(value, bytes)
        else json.dumps(value, sort_keys=True, default=str).encode()
    )
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    try:
        st = path.stat()
    except FileNotFoundError:
        return MISSING
    key = (st.st_size, st.st_mtime_ns, st.st_ino)
    name = str(path)
    with _cache_lock:
        cached = _content_cache.get(name)
    if cached and cached[0] == key:
        return cached[1]
    value = hashlib.sha256(path.read_bytes()).hexdigest()
    with _cache_lock:
        _content_cache[name] = (key, value)
    return value


def files_digest(root: Path, patterns: Sequence[str]) -> str:
    """One digest for the set of files matching `patterns` and their contents."""
    if not patterns:
        return digest([])
    return digest([(rel, file_digest(root / rel)) for rel in globs.expand(root, patterns)])


def check_inputs(ctx: CheckTask) -> dict[str, str]:
    """A check's inputs in the workspace: its command and the blob ids of the files its reads
    match (files git ignores are not inputs). The same digests a pushed commit's tree gives
    (engine/run/check_cache.py), so a pass in either counts for both."""
    entries = tree.worktree_entries(ctx.pipeline.root, ctx.check.reads)
    return check_cache.inputs(ctx.check.command, tree.listing(entries))


@functools.lru_cache(maxsize=4096)
def issue_digest(issue: Issue) -> str:
    """What "the issue's own text" is, as one digest. Cached per issue (an Issue is frozen and
    compares by every field): each of its phases asks, at load and at every up-to-date check."""
    return digest(issue.text_fields())


def own_inputs(ctx: PhaseTask, prompt: str | None) -> dict[str, str]:
    """The inputs that belong to the issue and the pipeline, not to the files of the tree."""
    phase = ctx.phase
    inputs = {"issue": issue_digest(ctx.issue)}
    if phase.agent:
        inputs["prompt"] = digest(prompt or "")
        inputs["agent"] = ctx.pipeline.agents[phase.agent].digest()
    if phase.command:
        inputs["command"] = digest(list(phase.command))
    if phase.checks:
        inputs["checks"] = digest(sorted(phase.checks))
    return inputs


def phase_inputs(
    ctx: PhaseTask, records: Records, prompt: str | None, workdir: Path
) -> dict[str, str]:
    """Every input of a phase; `prompt` is the rendered prompt (None for non-agent phases),
    `workdir` where its files are (the issue's worktree, or the workspace)."""
    inputs = own_inputs(ctx, prompt)
    for dep in ctx.phase.after:
        stamp = records.stamp(phase_task_name(ctx.issue.id, dep))
        inputs[f"after:{dep}"] = stamp.outputs if stamp else MISSING
    if ctx.phase.reads:
        inputs["files"] = files_digest(workdir, ctx.reads)
    return inputs


def phase_outputs(ctx: PhaseTask, workdir: Path) -> str:
    """A phase's result as its dependents see it: the files in its write set."""
    if not ctx.phase.writes:
        return digest({"task": ctx.name, "result": "success"})
    return files_digest(workdir, ctx.writes)


def changed_components(stamp: Stamp | None, inputs: Mapping[str, str]) -> list[str]:
    """Names of the inputs that differ from the stamp (all of them when there is none)."""
    if stamp is None:
        return ["never succeeded"]
    names = sorted(set(stamp.inputs) | set(inputs))
    return [name for name in names if stamp.inputs.get(name) != inputs.get(name)]


def changed_files(root: Path, patterns: Sequence[str], since: float) -> list[str]:
    """Files matching `patterns` modified after `since` (for explanations, not for decisions)."""
    found = []
    for rel in globs.expand(root, patterns):
        try:
            if os.stat(root / rel).st_mtime > since:
                found.append(rel)
        except FileNotFoundError:
            continue
    return found
