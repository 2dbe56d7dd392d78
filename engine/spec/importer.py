"""Spec file -> issue drafts + edges -> one `tracker.import_issues` call.

Everything that can fail on bad input (reading, parsing, keys, references, cycles) happens in
`plan_spec`, before the tracker is touched, so a bad spec writes nothing. The tracker does the
batching (the local tracker in one transaction, Linear in parallel batches) and is idempotent
by draft key: the same spec twice changes nothing, an edited spec updates in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.issue import Edge, Issue, IssueDraft
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
    return plan, tracker.import_issues(plan.drafts, plan.edges, source=str(spec_path))


def preview(plan: SpecPlan, snapshot: Sequence[Issue]) -> ImportReport:
    """What importing `plan` would do to a tracker holding `snapshot` (for a dry run).

    `created` lists draft keys (they have no id yet); `updated` / `unchanged` list issue ids.
    Edge changes are not predicted: they need the ids the import would assign.
    """
    by_key = {issue.key: issue for issue in snapshot if issue.key}
    report = ImportReport()
    for draft in plan.drafts:
        issue = by_key.get(draft.key)
        if issue is None:
            report.created.append(draft.key)
        elif (issue.title, issue.description, issue.acceptance, issue.priority, issue.kind) == (
            draft.title,
            draft.description,
            draft.acceptance,
            draft.priority,
            draft.kind,
        ):
            report.unchanged.append(issue.id)
        else:
            report.updated.append(issue.id)
    return report


def left_over(plan: SpecPlan, snapshot: Sequence[Issue]) -> list[Issue]:
    """Issues an earlier import made whose keys this spec no longer has (never deleted)."""
    keys = {draft.key for draft in plan.drafts}
    return [issue for issue in snapshot if issue.key and issue.key not in keys]
