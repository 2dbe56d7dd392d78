"""Find the JSON values in an agent's captured output.

The runner may hand a preset stdout and stderr together, so a structured stream can be
interleaved with plain log lines ("Loaded cached credentials.", "Reading prompt from stdin...").
A parser must therefore skip what is not JSON instead of failing on the first stray line.
"""

from __future__ import annotations

import json
from typing import Any

_DECODER = json.JSONDecoder()


def json_values(output: str) -> list[Any]:
    """Every JSON object or array in `output`, in order.

    Handles three shapes: the whole output is one JSON document (`--output-format json`, which
    may be pretty-printed over many lines), one document per line (JSONL / stream-json), and
    documents mixed with non-JSON lines.
    """
    text = output.strip()
    if not text:
        return []
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    values: list[Any] = []
    pos = 0
    length = len(output)
    while pos < length:
        end = output.find("\n", pos)
        if end == -1:
            end = length
        stripped = output[pos:end].lstrip()
        if stripped[:1] in ("{", "["):
            start = pos + (len(output[pos:end]) - len(stripped))
            try:
                value, stop = _DECODER.raw_decode(output, start)
            except ValueError:
                pos = end + 1
                continue
            values.append(value)
            # A document can span lines (pretty-printed JSON): resume after it, not after
            # the line it started on.
            next_newline = output.find("\n", stop)
            pos = length if next_newline == -1 else next_newline + 1
            continue
        pos = end + 1
    return values


def json_objects(output: str) -> list[dict[str, Any]]:
    """The JSON objects in `output`; a top-level array contributes its object elements."""
    objects: list[dict[str, Any]] = []
    for value in json_values(output):
        if isinstance(value, dict):
            objects.append(value)
        elif isinstance(value, list):
            objects.extend(item for item in value if isinstance(item, dict))
    return objects


def last_line(output: str, limit: int = 200) -> str:
    """The last non-empty line of `output`, shortened: context for a one-line error."""
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 3] + "..."
    return ""


def last_text_line(output: str, limit: int = 200) -> str:
    """The last non-empty line that is not a JSON document: usually the CLI's own complaint."""
    text_lines = [
        line
        for line in output.splitlines()
        if line.strip() and line.lstrip()[:1] not in ("{", "[", "}", "]", '"')
    ]
    return last_line("\n".join(text_lines), limit)


def as_int(value: Any) -> int | None:
    """An integer field from a JSON document, or None when it is missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
