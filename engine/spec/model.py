"""A parsed project spec: steps, their tasks, and the named sections that give them context.

Both spec formats (the XML-like `<project_specification>` and Markdown) produce these types;
everything after parsing (issue drafts, dependency edges) reads only them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SpecTask:
    """One bullet of a step: the unit that becomes one issue."""

    text: str  # the bullet, with markers such as `(after: ...)` and `(id: ...)` removed
    line: int  # 1-based line in the spec file
    details: tuple[str, ...] = ()  # nested bullets under it: they become acceptance criteria
    after: tuple[str, ...] = ()  # explicit `(after: ...)` references, as written
    key: str = ""  # explicit `(id: ...)` or `id="..."`; "" to derive one from the text


@dataclass(frozen=True)
class SpecStep:
    """One implementation step. `depends` is None unless the spec says it explicitly."""

    number: int
    title: str
    line: int
    tasks: tuple[SpecTask, ...] = ()
    body: str = ""  # prose of the step that is not a task (context for its issues)
    depends: tuple[int, ...] | None = None  # explicit `depends="1,2"`; () means "no step"
    depends_line: int = 0
    priority: int | None = None  # explicit `priority="high"` on the step
    key: str = ""  # explicit `id="..."` on a step without tasks


@dataclass(frozen=True)
class Spec:
    path: Path
    format: str  # "xml" | "markdown"
    name: str
    overview: str
    steps: tuple[SpecStep, ...]
    # Named sections normalised to the XML names: database_schema, api_endpoints,
    # ui_components, core_features, success_criteria, technology_stack, ...
    sections: Mapping[str, str] = field(default_factory=dict)

    def where(self, line: int = 0) -> str:
        """`app_spec.xml:12` for error messages (just the path when the line is unknown)."""
        return f"{self.path}:{line}" if line else str(self.path)

    def step(self, number: int) -> SpecStep | None:
        for step in self.steps:
            if step.number == number:
                return step
        return None
