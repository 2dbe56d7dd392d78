"""Load YAML into plain data and remember where each key and value was written.

Error messages must name `file:line:col`, and PyYAML's node tree is the only place that knows.
The file is read in bounded steps: nesting depth and alias expansion are limited before any
recursive code (PyYAML's composer, our walk, jsonschema) sees it, so a hostile file of a few
hundred bytes ends in one error line instead of a RecursionError or an exhausted memory.
"""

from __future__ import annotations

from typing import Any

import yaml

from engine.errors import MarathonError

KeyPath = tuple[str | int, ...]
Positions = dict[KeyPath, tuple[int, int]]  # 1-based line and column of the value

MAX_BYTES = 1_000_000  # a pipeline is a page or two; this is a thousand pages
MAX_DEPTH = 32  # marathon.yaml needs five levels
MAX_VALUES = 50_000  # keys and values after aliases are expanded
# libyaml when PyYAML has it: every doit call loads the pipeline. Its composer recurses in C,
# which is why depth is checked on the event stream first.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"


def load_with_positions(text: str, filename: str) -> tuple[Any, Positions]:
    if len(text) > MAX_BYTES:
        raise MarathonError(
            f"file is {len(text)} characters; a pipeline may have at most {MAX_BYTES}",
            where=filename,
        )
    try:
        _check_depth(text, filename)
        node = yaml.compose(text, Loader=LOADER)
        positions: Positions = {}
        data = None
        if node is not None:
            _record(node, positions, filename)
            # Built from the checked node, not by parsing the text a third time.
            data = yaml.SafeLoader("").construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        problem = getattr(exc, "problem", None) or str(exc)
        raise MarathonError(f"not valid YAML: {problem}", where=where) from None
    except (ValueError, OverflowError) as exc:  # e.g. a timestamp PyYAML cannot construct
        raise MarathonError(f"not valid YAML: {exc}", where=filename) from None
    return data, positions


def _check_depth(text: str, filename: str) -> None:
    """PyYAML's composer recurses once per level: refuse deep nesting from the event stream."""
    depth = 0
    for event in yaml.parse(text, Loader=LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise MarathonError(
                    f"nested more than {MAX_DEPTH} levels deep; a pipeline needs far fewer",
                    where=f"{filename}:{mark.line + 1}:{mark.column + 1}",
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _where(filename: str, node: yaml.Node) -> str:
    return f"{filename}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _record(root: yaml.Node, positions: Positions, filename: str) -> None:
    """Positions of every key path, walking the node tree without recursion.

    Aliases make the tree a graph: a node that contains itself is refused, and so is a tree
    that expands to more than MAX_VALUES values (the "billion laughs").
    """
    stack: list[tuple[yaml.Node, KeyPath, frozenset[int]]] = [(root, (), frozenset())]
    seen_values = 0
    while stack:
        node, path, open_nodes = stack.pop()
        seen_values += 1
        if seen_values > MAX_VALUES:
            raise MarathonError(
                f"expands to more than {MAX_VALUES} values (aliases repeated inside aliases?); "
                "write the values out or use fewer aliases",
                where=_where(filename, node),
            )
        if id(node) in open_nodes:
            raise MarathonError(
                f"{_dotted(path) or '(top level)'}: an alias refers to a value that contains "
                "it; aliases cannot be recursive",
                where=_where(filename, node),
            )
        positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        inside = open_nodes | {id(node)}
        children: list[tuple[yaml.Node, KeyPath, frozenset[int]]] = []
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = key_node.value
                where = _where(filename, key_node)
                if key_node.tag == MERGE_TAG:  # `<<: *defaults`: its keys land in this mapping
                    children.append((value_node, path, inside))
                    continue
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != STR_TAG:
                    shown = key if isinstance(key, str) else "this key"
                    raise MarathonError(
                        f"keys must be plain names; quote {shown!r} if it is one", where=where
                    )
                if key in seen:
                    raise MarathonError(
                        f"{_dotted((*path, key))}: key written twice; keep one", where=where
                    )
                seen.add(key)
                positions.setdefault(
                    (*path, key, "<key>"),
                    (key_node.start_mark.line + 1, key_node.start_mark.column + 1),
                )
                children.append((value_node, (*path, key), inside))
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, (*path, i), inside) for i, item in enumerate(node.value)]
        stack.extend(reversed(children))


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
