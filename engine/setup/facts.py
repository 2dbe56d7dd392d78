"""Small, forgiving readers of project files: a broken manifest counts as absent, because
setup describes what it can read and never refuses a project for a file it only consults."""

from __future__ import annotations

import configparser
import contextlib
import json
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

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


def read_toml(path: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return tomllib.loads(path.read_text(encoding="utf-8"))
    return {}


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
    """Whether `folder` holds a file matching `pattern` (a pathlib glob), at any depth."""
    if not folder.is_dir():
        return False
    return any(
        "node_modules" not in p.parts and not any(part.startswith(".") for part in p.parts)
        for p in folder.rglob(pattern)
    )


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
