"""The small interface every tracker offers; the compiler only ever reads the local snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from engine.issue import Edge, Issue, IssueDraft


@dataclass
class ImportReport:
    """What an import did, by issue id; `failed` maps a draft key to its error."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    edges_added: int = 0
    edges_removed: int = 0
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def changed_anything(self) -> bool:
        return bool(self.created or self.updated or self.edges_added or self.edges_removed)

    def summary(self) -> str:
        text = (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {self.edges_added} edges added, "
            f"{self.edges_removed} edges removed"
        )
        if self.failed:
            text += f", {len(self.failed)} failed"
        return text


class Tracker(Protocol):
    """What the engine needs from a tracker. Edges in `import_issues` name draft keys."""

    def snapshot(self) -> list[Issue]:
        """Every issue with its dependencies, read locally (never the network)."""
        ...

    def edges(self) -> list[Edge]:
        """Every dependency edge between issue ids, with its reason."""
        ...

    def import_issues(
        self, drafts: Sequence[IssueDraft], edges: Sequence[Edge], *, source: str = ""
    ) -> ImportReport:
        """Create or update issues by draft key and set the spec's edges; idempotent.

        `source` (the spec's path) is what a half-done import is remembered by.
        """
        ...

    def create_issue(self, draft: IssueDraft, blocks: Sequence[str] = ()) -> Issue:
        """Create (or return the existing issue with the same key) outside an import."""
        ...

    def add_edge(self, edge: Edge) -> None:
        """`edge.blocker` blocks `edge.blocked` (issue ids); kept by later imports."""
        ...

    def set_state(self, issue_id: str, state: str) -> None: ...

    def comment(self, issue_id: str, body: str) -> None: ...

    def sync(self) -> str:
        """Pull the remote state into the local snapshot; returns a one-line summary."""
        ...
