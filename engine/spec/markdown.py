"""Markdown specs: `## Step 1: Title` headings (or Phase / Stage / Milestone) with bullet tasks.

Other headings become named sections; the common ones are mapped to the XML names so both
formats feed issue descriptions the same way ("Tech stack" -> technology_stack).
A step says what it waits for with `(depends: 1, 2)` in its heading or a `Depends on: 1, 2`
line in its body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from engine.errors import MarathonError
from engine.spec.model import Spec, SpecStep, SpecTask
from engine.spec.text import (
    FENCE,
    claim_step_number,
    split_bullets,
    squash,
    step_numbers,
    take_markers,
    tidy_block,
)

# The title is group 2 with trailing spaces and #s stripped in code: a lazy `(.*?)[ \t#]*$`
# retries the trailing class from every position, n squared on a line of "# # # ...".
HEADING = re.compile(r"^(#{1,6})[ \t]+(.*)$")
# "### 1. Setup" counts as a step only under a heading such as "Implementation plan".
NUMBERED_HEADING = re.compile(r"^(\d+)\s*[.):]\s*(.*)$")
CONTAINER = re.compile(r"\b(?:steps?|plan|phases?|milestones?|roadmap)\b", re.IGNORECASE)
STEP_HEADING = re.compile(
    r"^(?:step|phase|stage|milestone)\s+(\d+)\s*(?:[:.)\-–—]+\s*)?(.*)$", re.IGNORECASE
)
# `[^()]*`, not `[^)]*`: each "(depends" then reads only to the next parenthesis (linear).
DEPENDS_IN_TEXT = re.compile(r"\(\s*(?:depends(?:\s+on)?|after)\s*:?\s*([^()]*)\)", re.IGNORECASE)
DEPENDS_LINE = re.compile(
    r"^[ \t]*[*_]{0,2}(?:depends(?:[ \t]+on)?|after)[*_]{0,2}[ \t]*:[*_]{0,2}[ \t]*(.*)$",
    re.IGNORECASE | re.MULTILINE,
)

SECTION_NAMES = {
    "overview": "overview",
    "summary": "overview",
    "description": "overview",
    "database schema": "database_schema",
    "database": "database_schema",
    "data model": "database_schema",
    "schema": "database_schema",
    "api endpoints": "api_endpoints",
    "api endpoints summary": "api_endpoints",
    "api": "api_endpoints",
    "endpoints": "api_endpoints",
    "ui components": "ui_components",
    "ui": "ui_components",
    "user interface": "ui_components",
    "ui layout": "ui_layout",
    "cli commands": "cli_commands",
    "core features": "core_features",
    "features": "core_features",
    "success criteria": "success_criteria",
    "acceptance criteria": "success_criteria",
    "technology stack": "technology_stack",
    "tech stack": "technology_stack",
    "stack": "technology_stack",
}
NO_STEPS = (
    'no implementation steps found: add Markdown headings like "## Step 1: Setup" with '
    'bullet tasks, or an XML <implementation_steps> with <step number="1"> elements'
)


@dataclass
class _Heading:
    index: int  # line index (0-based)
    level: int
    text: str


def parse_markdown(text: str, path: Path) -> Spec:
    lines = text.split("\n")
    headings = _headings(lines)
    steps: list[SpecStep] = []
    sections: dict[str, str] = {}
    seen: dict[int, int] = {}
    name = ""
    container: _Heading | None = None
    for pos, heading in enumerate(headings):
        end = next((h.index for h in headings[pos + 1 :] if h.level <= heading.level), len(lines))
        block = "\n".join(lines[heading.index + 1 : end])
        if container is not None and heading.level <= container.level:
            container = None
        step = STEP_HEADING.match(heading.text) or (
            NUMBERED_HEADING.match(heading.text) if container is not None else None
        )
        if not step and CONTAINER.search(heading.text):
            container = heading
        if heading.level == 1 and not name and not step:
            name = heading.text
            continue
        if step:
            number = int(step.group(1))
            line = heading.index + 1
            claim_step_number(seen, number, line, path)
            steps.append(_step(number, step.group(2), block, line, path))
        else:
            key = SECTION_NAMES.get(_normal(heading.text), _slug(heading.text))
            if key and key not in sections and not _contains_steps(headings, pos, end):
                sections[key] = tidy_block(block)
    if not steps:
        raise MarathonError(NO_STEPS, where=str(path))
    overview = sections.pop("overview", "")
    if not overview and headings:
        first = headings[0]
        nxt = headings[1].index if len(headings) > 1 else len(lines)
        overview = tidy_block("\n".join(lines[first.index + 1 : nxt]))
    return Spec(path, "markdown", name or path.stem, overview, tuple(steps), sections)


def _headings(lines: list[str]) -> list[_Heading]:
    found: list[_Heading] = []
    inside = False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            inside = not inside
            continue
        match = None if inside else HEADING.match(line)
        if match:
            title = match.group(2).rstrip(" \t#")
            found.append(_Heading(i, len(match.group(1)), squash(title)))
    return found


def _contains_steps(headings: list[_Heading], pos: int, end: int) -> bool:
    """An "Implementation steps" heading is a container, not a section of prose."""
    return any(
        STEP_HEADING.match(h.text) or NUMBERED_HEADING.match(h.text)
        for h in headings[pos + 1 :]
        if h.index < end
    )


def _step(number: int, heading: str, block: str, line: int, path: Path) -> SpecStep:
    depends: tuple[int, ...] | None = None
    depends_line = 0
    refs = DEPENDS_IN_TEXT.search(heading)
    if refs:
        heading = DEPENDS_IN_TEXT.sub("", heading)
        depends, depends_line = _depends(refs.group(1), number, line, path), line
    else:
        found = DEPENDS_LINE.search(block)
        if found:
            depends_line = line + 1 + block[: found.start()].count("\n")
            depends = _depends(found.group(1), number, depends_line, path)
            block = block[: found.start()] + block[found.end() :]
    title = squash(heading.strip(" :-–—"))
    if not title:
        raise MarathonError(
            f'step {number} has no title; write "## Step {number}: <what it builds>"',
            where=f"{path}:{line}",
        )
    bullets, prose = split_bullets(block, line + 1)
    tasks = []
    for bullet in bullets:
        text, after, key = take_markers(bullet.text)
        if text:
            tasks.append(SpecTask(text, bullet.line, tuple(bullet.details), after, key))
    return SpecStep(number, title, line, tuple(tasks), prose, depends, depends_line)


def _depends(value: str, number: int, line: int, path: Path) -> tuple[int, ...]:
    value = value.strip().strip("*_ .")
    if value.lower() in ("none", "nothing", "-", ""):
        return ()
    numbers, bad = step_numbers(value)
    if bad:
        raise MarathonError(
            f'step {number}: "depends: {value}" should list step numbers, e.g. "depends: 1, 2"',
            where=f"{path}:{line}",
        )
    return tuple(numbers)


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def _slug(text: str) -> str:
    return "_".join(_normal(text).split())
