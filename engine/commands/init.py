"""`doit init --spec FILE [--dry-run]`: turn a spec into issues with a dependency graph."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from engine.graph import Graph, graph_from_drafts, relabel, summarize
from engine.issue import PRIORITY_NAMES, Edge, IssueDraft
from engine.spec.importer import import_spec, left_over, preview
from engine.trackers.base import Tracker


def run_init(tracker: Tracker, spec_path: Path, *, dry_run: bool, out: TextIO) -> int:
    """Print the issues (with priorities and what they wait for) and the graph summary.

    With `dry_run` nothing is written: draft keys stand in for the ids of new issues and the
    last line says what an import would change. Bad input raises MarathonError before anything
    is written.
    """
    plan, report = import_spec(tracker, spec_path, dry_run=dry_run)
    spec = plan.spec
    out.write(
        f"{spec_path}: {spec.name}, {len(spec.steps)} steps, {len(plan.tasks)} issues + META"
        f"{' (dry run: nothing written)' if dry_run else ''}\n\n"
    )
    # Read the local snapshot (never the network): in a dry run only to compare, and a
    # LocalTracker whose database does not exist yet answers [] without creating it.
    snapshot = tracker.snapshot()
    ids = {issue.key: issue.id for issue in snapshot if issue.key}
    _print_issues(plan.drafts, plan.edges, ids, out)
    graph = relabel(graph_from_drafts(plan.drafts, plan.edges), ids)
    out.write("\n" + summary_text(graph) + "\n")
    if report is None:
        would = preview(plan, snapshot)
        out.write(
            f"dry run, an import would make: {len(would.created)} created, "
            f"{len(would.updated)} updated, {len(would.unchanged)} unchanged\n"
        )
    else:
        out.write(f"tracker: {report.summary()}\n")
    stale = left_over(plan, snapshot)
    if stale:
        names = ", ".join(issue.id for issue in stale)
        out.write(f"no longer in the spec (left as they are): {names}\n")
    return 0


def _print_issues(
    drafts: Sequence[IssueDraft], edges: Sequence[Edge], ids: dict[str, str], out: TextIO
) -> None:
    waits: dict[str, list[str]] = {}
    for edge in edges:
        waits.setdefault(edge.blocked, []).append(ids.get(edge.blocker, edge.blocker))
    width = max((len(ids.get(d.key, d.key)) for d in drafts), default=0)
    for draft in drafts:
        ident = ids.get(draft.key, draft.key)
        prio = PRIORITY_NAMES.get(draft.priority, str(draft.priority))
        out.write(f"  {ident:<{width}}  {prio:<6}  {draft.title}\n")
        if waits.get(draft.key):
            out.write(f"  {'':<{width}}  {'':<6}    after {', '.join(waits[draft.key])}\n")


def summary_text(graph: Graph) -> str:
    """Issues, levels, widest level and critical path, one fact per line."""
    summary = summarize(graph)
    path = " → ".join(summary.critical_path)
    return (
        f"issues: {summary.issues}\n"
        f"levels: {len(summary.levels)}\n"
        f"widest level: {summary.widest} issues at once\n"
        f"critical path: {len(summary.critical_path)} issues: {path}"
    )
