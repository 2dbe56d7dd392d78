"""Issues and the edges between them: the data every stage of the path shares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Linear's priority numbers: 0 no priority, 1 urgent, 2 high, 3 medium, 4 low.
PRIORITY_NAMES = {0: "none", 1: "urgent", 2: "high", 3: "medium", 4: "low"}

# Linear's workflow state types; the local tracker uses the same words.
STATE_TYPES = ("triage", "backlog", "unstarted", "started", "completed", "canceled")
OPEN_STATES = ("triage", "backlog", "unstarted", "started")

ISSUE_ID = re.compile(r"^[A-Z][A-Z0-9]*-[0-9]+$")


@dataclass(frozen=True)
class Issue:
    """One issue as the compiler and the phases see it (a snapshot row)."""

    id: str  # the human identifier, e.g. PROJ-5
    title: str
    description: str = ""
    acceptance: tuple[str, ...] = ()
    priority: int = 3
    state: str = "unstarted"
    kind: str = "task"  # task | meta | bug
    dependencies: tuple[str, ...] = ()  # ids this issue waits for
    blocks: tuple[str, ...] = ()  # ids that wait for this issue
    key: str = ""  # stable identity from the spec (idempotent import); "" for hand-made issues
    remote_id: str = ""  # the tracker's own id (Linear UUID); "" for the local tracker

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def text_fields(self) -> dict[str, object]:
        """What "the issue's own text" means for up-to-date checks."""
        return {
            "title": self.title,
            "description": self.description,
            "acceptance": list(self.acceptance),
        }


@dataclass(frozen=True)
class IssueDraft:
    """An issue before it has an id: what the spec parser makes and the importer writes."""

    key: str
    title: str
    description: str = ""
    acceptance: tuple[str, ...] = ()
    priority: int = 3
    kind: str = "task"
    labels: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Edge:
    """`blocker` must reach EXIT before `blocked` starts; `reason` says why the edge exists."""

    blocker: str
    blocked: str
    reason: str = ""
