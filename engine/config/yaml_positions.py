"""Load YAML into plain data and remember where each key and value was written.

Error messages must name `file:line:col`, and PyYAML's node tree is the only place that knows.
"""

from __future__ import annotations

from typing import Any

import yaml

from engine.errors import MarathonError

KeyPath = tuple[str | int, ...]
Positions = dict[KeyPath, tuple[int, int]]  # 1-based line and column of the value


def load_with_positions(text: str, filename: str) -> tuple[Any, Positions]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        problem = getattr(exc, "problem", None) or str(exc)
        raise MarathonError(f"not valid YAML: {problem}", where=where) from None
    positions: Positions = {}
    if node is not None:
        _record(node, (), positions, filename)
    return data, positions


def _record(node: yaml.Node, path: KeyPath, positions: Positions, filename: str) -> None:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            where = f"{filename}:{key_node.start_mark.line + 1}:{key_node.start_mark.column + 1}"
            if not isinstance(key, str):
                raise MarathonError("keys must be plain names", where=where)
            if key in seen:
                raise MarathonError(
                    f"{_dotted((*path, key))}: key written twice; keep one", where=where
                )
            seen.add(key)
            positions[(*path, key, "<key>")] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            _record(value_node, (*path, key), positions, filename)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*path, index), positions, filename)


def _dotted(path: KeyPath) -> str:
    return ".".join(str(part) for part in path if part != "<key>")


def position_of(positions: Positions, path: KeyPath, *, key: bool = False) -> tuple[int, int]:
    """The closest known position for `path` (the key itself when `key` is True)."""
    if key and (*path, "<key>") in positions:
        return positions[(*path, "<key>")]
    while path:
        if path in positions:
            return positions[path]
        path = path[:-1]
    return positions.get((), (1, 1))


dotted = _dotted
