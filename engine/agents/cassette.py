"""Cassettes: what one phase run did, saved so it can be replayed without a model or a key.

A cassette is a directory `<root>/<issue id>/<phase>/` holding
- `cassette.json`: format version, issue, phase, duration in seconds, the AgentResult fields,
  and the files the phase changed (each either a blob name or `deleted: true`);
- `transcript.txt`: the agent's captured output;
- `files/<n>`: the content of each written file, byte for byte.
Contents live in separate blobs rather than inside the JSON so binary files survive and the
cassette stays readable in a diff. A cassette is written into a temporary sibling directory and
renamed into place, so a crash never leaves a half-written one behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from engine.agents.base import AgentResult
from engine.agents.settings import option_str
from engine.config.model import AgentConfig
from engine.errors import MarathonError

FORMAT_VERSION = 1
MANIFEST = "cassette.json"
TRANSCRIPT = "transcript.txt"

# Issue ids and phase names become directory names: keep them to a safe alphabet so a
# cassette can never be written (or read) outside its root.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Cassette:
    issue_id: str
    phase: str
    transcript: str
    files: Mapping[str, bytes | None]  # workdir-relative POSIX path -> content; None = deleted
    duration: float
    result: AgentResult


def cassette_dir(root: Path, issue_id: str, phase: str) -> Path:
    for label, name in (("issue id", issue_id), ("phase", phase)):
        if not _NAME.match(name) or name in (".", ".."):
            raise MarathonError(f"cannot use {label} {name!r} in a cassette path")
    return root / issue_id / phase


def save_cassette(
    root: Path,
    issue_id: str,
    phase: str,
    transcript: str,
    files: Mapping[str, bytes | None],
    duration: float,
    result: AgentResult,
) -> Path:
    """Write (or replace) the cassette of `issue_id`/`phase` under `root`; returns its dir."""
    target = cassette_dir(root, issue_id, phase)
    entries: list[dict[str, Any]] = []
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{phase}.", dir=target.parent))
    try:
        (staging / "files").mkdir()
        for index, path in enumerate(sorted(files)):
            relative = _checked_path(path)
            content = files[path]
            if content is None:
                entries.append({"path": relative, "deleted": True})
                continue
            blob = f"files/{index:04d}"
            (staging / blob).write_bytes(content)
            entries.append({"path": relative, "blob": blob})
        (staging / TRANSCRIPT).write_text(transcript, encoding="utf-8")
        manifest = {
            "version": FORMAT_VERSION,
            "issue": issue_id,
            "phase": phase,
            "duration": max(0.0, float(duration)),
            "result": _result_fields(result),
            "files": entries,
        }
        (staging / MANIFEST).write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        _replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def load_cassette(root: Path, issue_id: str, phase: str) -> Cassette:
    directory = cassette_dir(root, issue_id, phase)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise MarathonError(
            f"no cassette for {issue_id} {phase} in {root} (record one with "
            "the `record:` option first)",
            exit_code=1,
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported cassette version {manifest.get('version')!r}")
        files: dict[str, bytes | None] = {}
        for entry in manifest["files"]:
            path = _checked_path(entry["path"])
            files[path] = None if entry.get("deleted") else (directory / entry["blob"]).read_bytes()
        result = AgentResult(
            **{
                **manifest["result"],
                "permission_denials": tuple(manifest["result"].get("permission_denials", ())),
            }
        )
        transcript = (directory / TRANSCRIPT).read_text(encoding="utf-8")
        return Cassette(issue_id, phase, transcript, files, float(manifest["duration"]), result)
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise MarathonError(
            f"cassette is damaged: {error}", where=str(manifest_path), exit_code=1
        ) from error


def apply_files(files: Mapping[str, bytes | None], workdir: Path) -> None:
    """Make the workdir hold what the recorded phase left: write files, delete deletions."""
    for path, content in files.items():
        target = workdir / _checked_path(path)
        if content is None:
            if target.is_file() or target.is_symlink():
                target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.replay-tmp")
        tmp.write_bytes(content)
        os.replace(tmp, target)


def read_changes(workdir: Path, paths: Iterable[str]) -> dict[str, bytes | None]:
    """The `files` argument of save_cassette for the paths a phase changed (None: deleted)."""
    changes: dict[str, bytes | None] = {}
    for path in paths:
        target = workdir / _checked_path(path)
        changes[path] = target.read_bytes() if target.is_file() else None
    return changes


def record_run(
    agent: AgentConfig,
    workdir: Path,
    issue_id: str,
    phase: str,
    changed_paths: Iterable[str],
    transcript: str,
    duration: float,
    result: AgentResult,
) -> Path | None:
    """Save a cassette when the agent has `options.record` (a folder, relative to `workdir`).

    The runner calls this after every agent phase; it does nothing for agents that do not
    record, and returns the cassette directory for those that do.
    """
    folder = option_str(agent, "record")
    if not folder:
        return None
    root = Path(folder) if Path(folder).is_absolute() else workdir / folder
    files = read_changes(workdir, changed_paths)
    return save_cassette(root, issue_id, phase, transcript, files, duration, result)


def _checked_path(path: str) -> str:
    """A workdir-relative POSIX path with no way out of the workdir (and not into .git)."""
    pure = PurePosixPath(path.replace(os.sep, "/"))
    if (
        not path
        or pure.is_absolute()
        or ".." in pure.parts
        or not pure.parts
        or pure.parts[0] == ".git"
        or re.match(r"^[A-Za-z]:", path)
    ):
        raise MarathonError(
            f"cassette path {path!r} is not a relative path inside the working directory",
            exit_code=1,
        )
    return pure.as_posix()


def _result_fields(result: AgentResult) -> dict[str, Any]:
    fields = asdict(result)
    fields["permission_denials"] = list(result.permission_denials)
    return fields


def _replace_dir(staging: Path, target: Path) -> None:
    if not target.exists():
        os.replace(staging, target)
        return
    # Directories cannot be swapped atomically; move the old one aside first so that at
    # every moment either the old or the new cassette is complete at its path's sibling.
    trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    os.replace(target, trash / target.name)
    os.replace(staging, target)
    shutil.rmtree(trash, ignore_errors=True)
