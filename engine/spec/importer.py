"""Spec file -> issue drafts + edges -> one `tracker.import_issues` call.

Everything that can fail on bad input (reading, parsing, keys, references, cycles) happens in
`plan_spec`, before the tracker is touched, so a bad spec writes nothing. The tracker does the
batching (the local tracker in one transaction, Linear in parallel batches) and is idempotent
by draft key: the same spec twice changes nothing, an edited spec updates in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.issue import Edge, IssueDraft
from engine.spec.dependencies import infer_edges
from engine.spec.issues import build_drafts, plan_tasks
from engine.spec.model import Spec
from engine.spec.parse import parse_spec
from engine.trackers.base import ImportReport, Tracker


@dataclass(frozen=True)
class SpecPlan:
    """What a spec turns into: drafts in spec order (META last) and edges between draft keys."""

    spec: Spec
    drafts: tuple[IssueDraft, ...]
    edges: tuple[Edge, ...]

    @property
    def tasks(self) -> tuple[IssueDraft, ...]:
        """The drafts that are work (everything but META)."""
        return tuple(draft for draft in self.drafts if draft.kind != "meta")


def plan_spec(spec_path: Path) -> SpecPlan:
    """Parse a spec and work out its drafts and edges; pure (reads the file, writes nothing)."""
    spec = parse_spec(spec_path)
    planned = plan_tasks(spec)
    edges = infer_edges(spec, planned)
    return SpecPlan(spec, tuple(build_drafts(spec, planned)), tuple(edges))


def import_spec(
    tracker: Tracker, spec_path: Path, *, dry_run: bool
) -> tuple[SpecPlan, ImportReport | None]:
    """Plan the spec and, unless `dry_run`, write it with one `import_issues` call.

    Returns the plan and the tracker's report (None for a dry run, which never touches the
    tracker: not even its database file is created).
    """
    plan = plan_spec(spec_path)
    if dry_run:
        return plan, None
    return plan, tracker.import_issues(plan.drafts, plan.edges)
