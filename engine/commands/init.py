"""`doit init --spec FILE [--dry-run]`: turn a spec into issues with a dependency graph."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from engine.errors import MarathonError
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
    if report is not None and report.failed:
        return _print_failures(report.failed, ids, spec_path, len(plan.drafts), out)
    return 0


def _print_failures(
    failed: dict[str, str], ids: dict[str, str], spec_path: Path, total: int, out: TextIO
) -> int:
    """Each item that did not make it and why, then the one error line: a failure (exit 1)."""
    for item, why in failed.items():
        out.write(f"failed: {_with_ids(item, ids)}: {why}\n")
    out.flush()
    raise MarathonError(
        f"import incomplete: {len(failed)} item(s) failed ({total} issues in the spec); run "
        f"`doit init --spec {spec_path}` again: it converges without duplicates, and until it "
        "succeeds `doit graph` and `doit marathon` warn that dependencies may be missing",
        exit_code=1,
    )


def _with_ids(item: str, ids: dict[str, str]) -> str:
    """`edge spec-setup -> spec-api` becomes `edge PROJ-1 -> PROJ-2` where the ids are known."""
    return " ".join(ids.get(word, word) for word in item.split(" "))


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
