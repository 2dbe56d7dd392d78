"""Range and shape checks for marathon.yaml values that JSON Schema cannot express.

Everything here would otherwise fail at run time, after an agent ran: a command that splits to
nothing, a timeout of nan, a glob reaching outside the workspace, a branch name git refuses, a
URL the HTTP client cannot parse. Each problem is raised at its `file:line:col`.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from engine import globs
from engine.errors import MarathonError

KeyPath = tuple[str | int, ...]
Problem = Callable[[KeyPath, str], MarathonError]

MAX_NUMBER = 10**12  # no count, cost or number of seconds in a pipeline comes near this
MAX_TIMEOUT = 7 * 24 * 3600.0  # a week: beyond it a timeout is a typo, and sleep() overflows


def check_numbers(data: Any, problem: Problem) -> None:
    """Every number finite and of a sane size; no string holding a NUL character."""
    for path, value in _leaves(data, ()):
        if isinstance(value, bool):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise problem(path, f"{value!r} is not a usable number; write a finite number")
        if isinstance(value, int | float) and abs(value) > MAX_NUMBER:
            raise problem(path, f"number too large; use at most {MAX_NUMBER}")
        if isinstance(value, str) and "\0" in value:
            raise problem(path, "holds a NUL character")


def _leaves(data: Any, path: KeyPath) -> Iterator[tuple[KeyPath, Any]]:
    stack: list[tuple[KeyPath, Any]] = [(path, data)]
    while stack:
        at, value = stack.pop()
        if isinstance(value, Mapping):
            stack.extend(((*at, str(k)), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*at, i), v) for i, v in enumerate(value))
        else:
            yield at, value


def check_values(data: Mapping[str, Any], problem: Problem) -> None:
    """Commands, timeouts, globs, URL and branch: refused at load rather than at run time."""
    for section in ("agents", "checks", "phases"):
        for name, spec in (data.get(section) or {}).items():
            at = (section, name)
            if "command" in spec:
                argv_problem(spec["command"], (*at, "command"), problem)
            if "timeout" in spec and spec["timeout"] > MAX_TIMEOUT:
                raise problem(
                    (*at, "timeout"), f"timeout too long; use at most {MAX_TIMEOUT:.0f} seconds"
                )
            globbed = [((*at, f), spec.get(f, ())) for f in ("reads", "writes")]
            if isinstance(spec.get("fix"), Mapping):  # a branch gate's fix agent
                globbed.append(((*at, "fix", "writes"), spec["fix"].get("writes", ())))
            for where, patterns in globbed:
                for index, pattern in enumerate(patterns):
                    why = globs.confinement_problem(pattern)
                    if why:
                        raise problem((*where, index), f"'{pattern}' {why}")
    tracker = data.get("tracker") or {}
    if "url" in tracker:
        why = url_problem(tracker["url"])
        if why:
            raise problem(("tracker", "url"), why)
    target = (data.get("git") or {}).get("target", "")
    if target:
        why = branch_problem(target)
        if why:
            raise problem(("git", "target"), f"{target!r} is not a usable branch name: {why}")


def argv_problem(value: str | list[str], at: KeyPath, problem: Problem) -> None:
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:  # "No closing quotation", "No escaped character"
            raise problem(
                at, f"cannot split {value!r} into arguments: {exc}; fix the quoting"
            ) from None
        if not argv:
            raise problem(at, "the command is blank; write the program to run")
    else:
        argv = value
    if not argv[0].strip():
        raise problem(at, "the program name is empty; the first argument names the program")


def url_problem(url: str) -> str:
    """Why the HTTP client could not use `url` ('' when it can)."""
    if url != url.strip() or any(ord(ch) < 32 or ch == " " for ch in url):
        return f"{url!r} holds spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        return f"{url!r} is not a URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"{url!r} is not an http:// or https:// URL"
    if not parts.hostname:
        return f"{url!r} names no host"
    return ""


_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def branch_problem(name: str) -> str:
    """`git check-ref-format --branch` rules, without running git ('' when the name is fine)."""
    if name.startswith("-"):
        return "a branch name cannot start with '-'"
    if name in ("@", "HEAD") or "@{" in name:
        return "'HEAD', '@' alone and '@{' are reserved by git"
    if _REF_FORBIDDEN.search(name):
        return "spaces, control characters and ~ ^ : ? * [ \\ are not allowed"
    if ".." in name:
        return "'..' is not allowed"
    if name.endswith(("/", ".")) or name.startswith("/") or "//" in name:
        return "it cannot start or end with '/', end with '.', or hold '//'"
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return "no part may start with '.' or end with '.lock'"
    return ""
