"""Read a project spec (XML-like `<project_specification>` or Markdown) into a `Spec`.

Accepted step shapes (all seen in real specs):

    <step number="1">Setup and Database</step>
    <step number="2"><title>API Routes</title> - bullet - bullet</step>
    <step number="3" depends="1"><title>UI</title><tasks> - bullet ...</tasks></step>
    <phase name="Auth">...</phase>                       (numbered by position)

and in Markdown: `## Step 1: Setup` headings (or Phase / Stage / Milestone) with bullets.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import MarathonError
from engine.spec.markdown import parse_markdown
from engine.spec.model import Spec, SpecStep, SpecTask
from engine.spec.text import (
    claim_step_number,
    read_spec_text,
    split_bullets,
    squash,
    step_numbers,
    take_markers,
    tidy_block,
)
from engine.spec.xmlish import TAG, Document, Element, depth_of, parse_document

__all__ = ["Spec", "SpecStep", "SpecTask", "parse_spec", "parse_text"]

STEP_TAGS = ("step", "phase")
STEPS_TAGS = ("implementation_steps", "implementation_plan", "steps")
TITLE_TAGS = ("title", "name")
DEPENDS_ATTRS = ("depends", "depends_on", "depends-on", "after", "requires")
PRIORITY_WORDS = {"none": 0, "urgent": 1, "critical": 1, "high": 2, "medium": 3, "low": 4}
NO_STEPS = (
    "no implementation steps found: add <implementation_steps> with "
    '<step number="1">...</step> elements, or Markdown headings like "## Step 1: Setup"'
)


def parse_spec(path: Path) -> Spec:
    """Parse the spec file at `path`; every problem is one MarathonError naming file and line."""
    return parse_text(read_spec_text(path), path)


MAX_TAG_DEPTH = 100  # a spec nests four or five levels; recursion stays far from Python's limit


def parse_text(text: str, path: Path) -> Spec:
    doc = parse_document(text)
    depth, deepest = depth_of(doc.root)
    if depth > MAX_TAG_DEPTH:
        raise MarathonError(
            f"tags nested {depth} levels deep (at most {MAX_TAG_DEPTH}); close the tags that "
            "are left open or flatten the sections",
            where=f"{path}:{doc.line(deepest.start)}",
        )
    if doc.root.find("project_specification", *STEPS_TAGS, *STEP_TAGS) is not None:
        return _parse_xml(doc, path)
    return parse_markdown(text, path)


# -- XML ---------------------------------------------------------------------------------------


def _parse_xml(doc: Document, path: Path) -> Spec:
    top = doc.root.find("project_specification") or doc.root
    # The most specific container wins: a <steps> list inside some flow description must not
    # shadow the real <implementation_steps> further down.
    steps_el = next((el for tag in STEPS_TAGS if (el := top.find(tag)) is not None), None)
    step_els = (steps_el or top).find_all(*STEP_TAGS)
    _check_unclosed(doc, steps_el, path)
    if not step_els and steps_el is not None:
        numbered = _numbered_lines(doc, steps_el)
        if numbered:
            return _spec(doc, top, numbered, path)
    if not step_els:
        where = f"{path}:{doc.line(steps_el.start)}" if steps_el else str(path)
        raise MarathonError(NO_STEPS, where=where)
    numbers = _step_numbers(doc, step_els, path)
    steps = tuple(
        _xml_step(doc, el, number, path) for el, number in zip(step_els, numbers, strict=True)
    )
    return _spec(doc, top, steps, path)


def _spec(doc: Document, top: Element, steps: tuple[SpecStep, ...], path: Path) -> Spec:
    name_el = top.child("project_name")
    name = squash(doc.plain(name_el)) if name_el else top.attrs.get("name", "")
    overview_el = top.child("overview", "description", "summary")
    sections = {
        child.name: doc.plain(child)
        for child in top.children
        if child.name not in (*STEPS_TAGS, "project_name") and child is not overview_el
    }
    return Spec(
        path=path,
        format="xml",
        name=name or path.stem,
        overview=doc.plain(overview_el) if overview_el else "",
        steps=steps,
        sections=sections,
    )


def _numbered_lines(doc: Document, steps_el: Element) -> tuple[SpecStep, ...]:
    """`<implementation_steps>` holding plain "1. Setup" lines: each line is a step, and the
    bullets under it are its tasks."""
    bullets, _ = split_bullets(doc.loose(steps_el), doc.line(steps_el.inner_start))
    steps = []
    for number, bullet in enumerate(bullets, start=1):
        tasks = []
        for detail in bullet.details:
            text, after, key = take_markers(detail)
            tasks.append(SpecTask(text, bullet.line, (), after, key))
        steps.append(SpecStep(number, squash(bullet.text), bullet.line, tuple(tasks)))
    return tuple(steps)


def _check_unclosed(doc: Document, steps_el: Element | None, path: Path) -> None:
    """An unclosed step, title or tasks tag would silently swallow work: refuse it."""
    lo, hi = (steps_el.start, steps_el.end) if steps_el else (0, len(doc.text))
    for item in doc.unclosed:
        if item.name in (*STEP_TAGS, *TITLE_TAGS, "tasks", "task", *STEPS_TAGS) and (
            lo <= item.offset < hi or item.name in STEPS_TAGS
        ):
            raise MarathonError(
                f"<{item.name}> is never closed; add </{item.name}>",
                where=f"{path}:{doc.line(item.offset)}",
            )


def _step_numbers(doc: Document, step_els: list[Element], path: Path) -> list[int]:
    raw = [el.attrs.get("number", el.attrs.get("n")) for el in step_els]
    if all(value is None for value in raw):
        return list(range(1, len(step_els) + 1))  # unnumbered steps count in order
    numbers: list[int] = []
    seen: dict[int, int] = {}
    for el, value in zip(step_els, raw, strict=True):
        line = doc.line(el.start)
        if value is None:
            raise MarathonError(
                f'<{el.name}> has no number while other steps do; write <{el.name} number="N">',
                where=f"{path}:{line}",
            )
        if not value.strip().isdigit():
            raise MarathonError(
                f'step number "{value}" is not a whole number; write number="1", "2", ...',
                where=f"{path}:{line}",
            )
        number = int(value)
        claim_step_number(seen, number, line, path)
        numbers.append(number)
    return numbers


def _xml_step(doc: Document, el: Element, number: int, path: Path) -> SpecStep:
    line = doc.line(el.start)
    title_el = el.child(*TITLE_TAGS)
    loose = doc.loose(el)
    loose_line = doc.line(el.inner_start)
    title = squash(el.attrs.get("title", "") or el.attrs.get("name", ""))
    if not title and title_el is not None:
        title = squash(doc.plain(title_el))
    if not title:
        title, loose, loose_line = _title_from_text(loose, loose_line)
    if not title or TAG.fullmatch(title):
        raise MarathonError(
            f"step {number} has no title; put it in <title>...</title> or as the first line "
            "of the step",
            where=f"{path}:{line}",
        )
    tasks_el = el.child("tasks")
    task_els = (tasks_el or el).find_all("task")
    tasks, prose = _bullets_and_prose(loose, loose_line)
    if tasks_el is not None:
        more, tasks_prose = _bullets_and_prose(doc.loose(tasks_el), doc.line(tasks_el.inner_start))
        tasks += more
        prose = "\n\n".join(part for part in (prose, tasks_prose) if part)
    tasks += [_task_element(doc, task_el) for task_el in task_els]
    tasks.sort(key=lambda task: task.line)
    extra = [
        doc.plain(child)
        for child in el.children
        if child is not title_el and child is not tasks_el and child.name != "task"
    ]
    body = tidy_block("\n\n".join(part for part in [prose, *extra] if part.strip()))
    depends, depends_line = _depends(el, number, line, path)
    return SpecStep(
        number=number,
        title=title,
        line=line,
        tasks=tuple(task for task in tasks if task.text),
        body=body,
        depends=depends,
        depends_line=depends_line,
        priority=_priority(el, line, path),
        key=el.attrs.get("id", "").strip(),
    )


def _title_from_text(loose: str, first_line: int) -> tuple[str, str, int]:
    """Shape 1: the step's first plain line is its title; the rest is its content."""
    lines = loose.split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        bullets, _ = split_bullets(line, first_line + i)
        if bullets:
            return "", loose, first_line  # starts with a bullet: there is no title
        rest = "\n".join(lines[i + 1 :])
        return squash(line), rest, first_line + i + 1
    return "", loose, first_line


def _bullets_and_prose(block: str, first_line: int) -> tuple[list[SpecTask], str]:
    bullets, prose = split_bullets(block, first_line)
    tasks = []
    for bullet in bullets:
        text, after, key = take_markers(bullet.text)
        tasks.append(SpecTask(text, bullet.line, tuple(bullet.details), after, key))
    return tasks, prose


def _task_element(doc: Document, el: Element) -> SpecTask:
    text, after, key = take_markers(squash(doc.plain(el)))
    explicit = el.attrs.get("after") or el.attrs.get("depends") or ""
    refs = tuple(part.strip() for part in explicit.split(",") if part.strip())
    return SpecTask(text, doc.line(el.start), (), refs + after, el.attrs.get("id", key).strip())


def _depends(el: Element, number: int, line: int, path: Path) -> tuple[tuple[int, ...] | None, int]:
    for attr in DEPENDS_ATTRS:
        if attr in el.attrs:
            numbers, bad = step_numbers(el.attrs[attr])
            if bad:
                raise MarathonError(
                    f'step {number}: {attr}="{el.attrs[attr]}" should list step numbers, '
                    'e.g. depends="1,2"',
                    where=f"{path}:{line}",
                )
            return tuple(numbers), line
    return None, 0


def _priority(el: Element, line: int, path: Path) -> int | None:
    value = el.attrs.get("priority", "").strip().lower()
    if not value:
        return None
    if value in PRIORITY_WORDS:
        return PRIORITY_WORDS[value]
    if value.isdigit() and int(value) <= 4:
        return int(value)
    raise MarathonError(
        f'priority="{value}" is not a priority; use urgent, high, medium, low or 1-4',
        where=f"{path}:{line}",
    )
