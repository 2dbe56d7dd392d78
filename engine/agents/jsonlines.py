"""Find the JSON values in an agent's captured output.

The runner may hand a preset stdout and stderr together, so a structured stream can be
interleaved with plain log lines ("Loaded cached credentials.", "Reading prompt from stdin...").
A parser must therefore skip what is not JSON instead of failing on the first stray line.
The line helpers (`last_line`, `last_text_line`) also strip terminal escape sequences: CLIs
colour their complaints even when stdout is not a terminal (gemini-cli 0.61.0 prints its
untrusted-folder refusal in red), and an error message is stored and shown as plain text.
"""

from __future__ import annotations

import json
import re
from typing import Any

_DECODER = json.JSONDecoder()

# ECMA-48 escape sequences: CSI (colours, cursor moves: ESC [ ... final byte), OSC (titles,
# hyperlinks: ESC ] ... BEL or ESC \), character-set choices (ESC ( B) and the other two-byte
# escapes (ESC 7, ESC M ...).
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]+[0-~]|[0-~])")
# A JavaScript stack frame ("    at fn (file:///...:12:3)"): node CLIs print them under the
# message that matters, so they are never the line an error should quote.
# A Node.js stack frame: "    at fn (file.js:12:5)" or "    at file.js:12:5".
_STACK_FRAME = re.compile(r"^\s+at \S.*(?:\(.*\)|:\d+:\d+)$")


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


def strip_ansi(text: str) -> str:
    """`text` without terminal escape sequences (colours, cursor moves, hyperlinks)."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def shorten(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters, marked with "..." when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def last_line(output: str, limit: int = 200) -> str:
    """The last non-empty line of `output`, without escape sequences and shortened: context
    for a one-line error."""
    for line in reversed(strip_ansi(output).splitlines()):
        line = line.strip()
        if line:
            return shorten(line, limit)
    return ""


def last_text_line(output: str, limit: int = 200) -> str:
    """The last non-empty line that is neither a JSON document nor a stack frame: usually the
    CLI's own complaint."""
    text_lines = [
        line
        for line in strip_ansi(output).splitlines()
        if line.strip()
        and line.lstrip()[:1] not in ("{", "[", "}", "]", '"')
        and not _STACK_FRAME.match(line)
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
