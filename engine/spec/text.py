"""Text helpers shared by both spec formats: safe reading, code-fence masking, bullets, markers.

Specs are hand-written prose. Nothing here evaluates them: text is only split and cleaned.
"""

from __future__ import annotations

import bisect
import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import MarathonError

# Bigger than any sane spec; a multi-megabyte "spec" is almost certainly the wrong file.
MAX_SPEC_BYTES = 5_000_000


class NotARegularFile(OSError):
    """A FIFO, a device or a socket where a file was expected."""


def read_limited(path: Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes of the regular file at `path`.

    A FIFO would block the command forever and /dev/zero would fill the memory, so the file is
    opened without blocking and refused unless it is a regular file; a longer file reads as
    `limit` + 1 bytes, enough for the caller to say it is too big.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise NotARegularFile(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_spec_text(path: Path) -> str:
    """The spec's text, or one clear MarathonError for a missing, unreadable or binary file."""
    where = str(path)
    try:
        data = read_limited(path, MAX_SPEC_BYTES)
    except NotARegularFile:
        raise MarathonError(
            "is not a regular file (a pipe or a device?); pass the spec file itself", where=where
        ) from None
    except FileNotFoundError:
        raise MarathonError(
            "no such spec file; check the path given to --spec", where=where
        ) from None
    except IsADirectoryError:
        raise MarathonError(
            "is a directory, not a spec file; pass the spec file itself", where=where
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise MarathonError(
            f"cannot read the spec ({reason}); check the file's permissions", where=where
        ) from None
    if len(data) > MAX_SPEC_BYTES:
        raise MarathonError(
            f"is over {MAX_SPEC_BYTES} bytes, too big for a spec; "
            "pass the project spec, not a data file",
            where=where,
        )
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise MarathonError(
            "looks like a binary file (NUL byte), not a text spec; pass the .xml, .txt or .md spec",
            where=f"{path}:{line}",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MarathonError(
            "is not UTF-8 text (a binary file or another encoding); save the spec as UTF-8",
            where=f"{path}:{line}",
        ) from None
    if not text.strip():
        raise MarathonError(
            "the spec is empty; write a <project_specification> with <implementation_steps>, "
            "or a Markdown spec with '## Step 1: ...' headings",
            where=where,
        )
    return text.replace("\r\n", "\n").replace("\r", "\n")


class LineIndex:
    """Offset -> 1-based line number, for error messages that point at the spec."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset)


FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]+`")


def fence_spans(text: str) -> list[tuple[int, int]]:
    """Spans of closed fenced code blocks. An unclosed fence is left as text: masking the rest
    of the file would hide its closing tags and turn one typo into many errors."""
    spans: list[tuple[int, int]] = []
    marks = list(FENCE.finditer(text))
    i = 0
    while i + 1 < len(marks):
        opener, closer = marks[i], marks[i + 1]
        if closer.group(1) != opener.group(1):
            i += 1
            continue
        end = text.find("\n", closer.end())
        spans.append((opener.start(), len(text) if end < 0 else end))
        i += 2
    return spans


def blank_out(text: str, spans: list[tuple[int, int]]) -> str:
    """Replace spans by spaces, keeping newlines so offsets and line numbers stay valid."""
    chars = list(text)
    for start, end in spans:
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def opaque_spans(text: str) -> list[tuple[int, int]]:
    """Where tags must not be looked for: code fences, CDATA, comments and `inline code`."""
    spans = fence_spans(text)
    outside = blank_out(text, spans)
    spans += delimited_spans(outside, "<!--", "-->")
    spans += delimited_spans(outside, "<![CDATA[", "]]>")
    outside = blank_out(outside, spans)
    spans += [m.span() for m in INLINE_CODE.finditer(outside)]
    return spans


def delimited_spans(text: str, start: str, end: str) -> list[tuple[int, int]]:
    """Spans from each `start` to the next `end`, in one pass.

    A lazy regex (`<!--.*?-->`) reads to the end of the text from every opening that is never
    closed, so n unclosed comments cost n squared; here an unclosed one ends the search.
    """
    spans: list[tuple[int, int]] = []
    pos = text.find(start)
    while pos != -1:
        close = text.find(end, pos + len(start))
        if close == -1:
            break
        spans.append((pos, close + len(end)))
        pos = text.find(start, close + len(end))
    return spans


_ENTITY = re.compile(r"&(amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def unescape(text: str) -> str:
    """XML's five entities and numeric references; a bare `&&` stays as it is."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _NAMED:
            return _NAMED[name]
        code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
        return chr(code) if 0 < code < 0x110000 else match.group(0)

    return _ENTITY.sub(one, text)


def squash(text: str) -> str:
    """Collapse runs of whitespace to one space (titles and one-line fields)."""
    return " ".join(text.split())


def tidy_block(text: str) -> str:
    """Dedent a block of prose and drop leading/trailing and repeated blank lines."""
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    out: list[str] = []
    for line in lines:
        line = line[cut:] if line.strip() else ""
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out)


# -- bullets ---------------------------------------------------------------------------------

BULLET = re.compile(r"^([ \t]*)(?:[-*+•]|\d{1,3}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?(\S.*)$")


@dataclass
class Bullet:
    text: str
    line: int  # 1-based line in the spec file
    details: list[str] = field(default_factory=list)


def split_bullets(block: str, first_line: int) -> tuple[list[Bullet], str]:
    """Top-level bullets of a block and the prose around them.

    Deeper bullets become `details` of the bullet above; indented plain lines continue it.
    Lines inside code fences are never bullets: they stay with the prose.
    """
    lines = block.split("\n")
    in_fence = [False] * len(lines)
    inside = False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            in_fence[i] = True
            inside = not inside
        else:
            in_fence[i] = inside
    indents = [
        len(m.group(1).expandtabs(4))
        for i, line in enumerate(lines)
        if not in_fence[i] and (m := BULLET.match(line))
    ]
    top = min(indents, default=0)
    bullets: list[Bullet] = []
    prose: list[str] = []
    current: Bullet | None = None
    for i, line in enumerate(lines):
        match = None if in_fence[i] else BULLET.match(line)
        indent = len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())
        if match and len(match.group(1).expandtabs(4)) <= top:
            current = Bullet(match.group(2).strip(), first_line + i)
            bullets.append(current)
        elif match and current is not None:
            current.details.append(match.group(2).strip())
        elif current is not None and line.strip() and not in_fence[i] and indent > top:
            if current.details:
                current.details[-1] += " " + line.strip()
            else:
                current.text += " " + line.strip()
        else:
            if line.strip():
                current = None
            prose.append(line)
    return bullets, tidy_block("\n".join(prose))


# -- markers inside a bullet ----------------------------------------------------------------

# The colon is required: "(needs tests)" in prose is not a marker.
MARKER = re.compile(r"\(\s*(after|depends(?:\s+on)?|needs|id)\s*:\s*([^()]*)\)", re.IGNORECASE)


def take_markers(text: str) -> tuple[str, tuple[str, ...], str]:
    """Split `(after: a, b)` / `(depends on: ...)` / `(id: x)` out of a bullet.

    Returns (text without markers, after-references, explicit id).
    """
    after: list[str] = []
    key = ""
    for match in MARKER.finditer(text):
        kind, value = match.group(1).lower(), match.group(2)
        if kind == "id":
            key = value.strip()
        else:
            after += [part.strip() for part in re.split(r"[,;]", value) if part.strip()]
    cleaned = squash(MARKER.sub("", text))
    return cleaned, tuple(after), key


def step_numbers(value: str) -> tuple[list[int], list[str]]:
    """`"1, 2"` / `"step 1 and step 3"` / `"1-3"` -> numbers; words that are not numbers come
    back as the second list."""
    numbers: list[int] = []
    bad: list[str] = []
    for part in re.split(r"[,;\s]+|\band\b", value):
        part = part.strip()
        if not part or part.lower() in ("step", "steps", "and"):
            continue
        span = re.fullmatch(r"(\d+)\s*[-–]\s*(\d+)", part)
        if part.isdigit():
            numbers.append(int(part))
        elif span and int(span.group(1)) <= int(span.group(2)):
            numbers.extend(range(int(span.group(1)), int(span.group(2)) + 1))
        else:
            bad.append(part)
    return numbers, bad


def claim_step_number(seen: dict[int, int], number: int, line: int, path: Path | str) -> None:
    """Record that `number` is used at `line`; refuse a number used twice."""
    if number in seen:
        raise MarathonError(
            f"step number {number} is used twice (lines {seen[number]} and {line}); "
            "give each step its own number",
            where=f"{path}:{line}",
        )
    seen[number] = line
