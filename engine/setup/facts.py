"""Small, forgiving readers of project files: a broken manifest counts as absent, because
setup describes what it can read and never refuses a project for a file it only consults."""

from __future__ import annotations

import configparser
import contextlib
import fnmatch
import json
import os
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

from engine.errors import MarathonError

# Folders that are never the project's own code.
NOT_SOURCE = frozenset(
    {
        "node_modules",
        "dist",
        "build",
        "target",
        "vendor",
        "venv",
        "env",
        "site-packages",
        "htmlcov",
        "coverage",
        "docs",
        "doc",
        "examples",
        "scripts",
        "bench",
        "benchmarks",
    }
)


# Folders a walk never enters: installed dependencies and build output can be huge.
NOT_WALKED = frozenset({"node_modules", "venv", "env", "target", "dist", "build", "__pycache__"})


def read_toml(path: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return tomllib.loads(path.read_text(encoding="utf-8"))
    return {}


def manifest_toml(path: Path) -> dict[str, Any]:
    """A manifest the detection rests on (pyproject.toml, Cargo.toml): {} when absent, an error
    naming the place when broken, because what setup would write from it could only be wrong."""
    text = _manifest_text(path)
    try:
        return tomllib.loads(text) if text is not None else {}
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = f"{path.name}:{found.group(1)}:{found.group(2)}" if found else path.name
        reason = re.sub(r"\s*\(at line.*", "", str(exc))
        raise _broken(where, f"not valid TOML ({reason})") from None


def manifest_json(path: Path) -> dict[str, Any]:
    """package.json, as manifest_toml."""
    text = _manifest_text(path)
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        where = f"{path.name}:{exc.lineno}:{exc.colno}" if hasattr(exc, "lineno") else path.name
        raise _broken(where, f"not valid JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(data, dict):
        raise _broken(path.name, "expected a JSON object at the top")
    return data


def _manifest_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise _broken(path.name, f"cannot be read ({exc})") from None


def _broken(where: str, problem: str) -> MarathonError:
    return MarathonError(
        f"{problem}; setup detects the project from this file: fix it and run setup again",
        where=where,
    )


def read_json(path: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, UnicodeDecodeError, ValueError):
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    return {}


def read_ini(path: Path) -> configparser.ConfigParser:
    ini = configparser.ConfigParser(interpolation=None)
    with contextlib.suppress(OSError, UnicodeDecodeError, configparser.Error):
        ini.read_string(path.read_text(encoding="utf-8"))
    return ini


def read_text(path: Path) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return path.read_text(encoding="utf-8")
    return ""


def table(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    """data[k1][k2]... or {} when any level is missing or not a table."""
    for key in keys:
        value = data.get(key) if isinstance(data, dict) else None
        if not isinstance(value, dict):
            return {}
        data = value
    return data


def has_table(data: dict[str, Any], *keys: str) -> bool:
    """Whether data[k1][k2]... is a table, even an empty one (`[tool.ruff]` alone configures
    ruff with its defaults)."""
    for key in keys:
        value = data.get(key) if isinstance(data, dict) else None
        if not isinstance(value, dict):
            return False
        data = value
    return True


def installed(tool: str) -> bool:
    return shutil.which(tool) is not None


def first_existing(root: Path, names: tuple[str, ...]) -> str:
    return next((name for name in names if (root / name).exists()), "")


def code_dirs(root: Path) -> list[str]:
    """Top-level folders that are neither hidden nor tooling output, sorted."""
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and p.name not in NOT_SOURCE
    )


def has_files(folder: Path, pattern: str) -> bool:
    """Whether `folder` holds a file matching `pattern` (fnmatch), at any depth; hidden and
    tooling folders (node_modules, .venv, target ...) are never entered."""
    if not folder.is_dir():
        return False
    for _dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in NOT_WALKED]
        if any(fnmatch.fnmatchcase(name, pattern) for name in filenames):
            return True
    return False


def requirement_names(text: str) -> set[str]:
    """Distribution names in requirements.txt or PEP 508 lines ("pytest>=8; python..." ->
    pytest), normalised the way pip compares them."""
    names = set()
    for line in text.splitlines():
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
        if match and not line.lstrip().startswith("-"):
            names.add(normalise(match.group(1)))
    return names


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
