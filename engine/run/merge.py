"""The merge as a recorded sequence: begun once (by the gate on the branch, or by EXIT), and on
a conflict the issue goes back to the queue. Shared by engine/run/gate.py and EXIT."""

from __future__ import annotations

from engine.compile import PhaseTask
from engine.git import worktrees
from engine.records import MergeIntent
from engine.run.runtime import Runtime


def begin(ctx: PhaseTask, rt: Runtime) -> None:
    """Record the merge intent (branch, its head, the target and its commit) unless one is:
    from here on the issue's earlier phases are judged by its own text only."""
    issue_id, root = ctx.issue.id, ctx.pipeline.root
    if rt.records.merge_intent(issue_id) is not None:
        return
    branch, target = worktrees.branch_name(issue_id), rt.target_branch()
    rt.records.begin_merge(
        MergeIntent(
            issue_id,
            branch,
            worktrees.branch_head(root, branch),
            target,
            worktrees.branch_head(root, target),
        )
    )


def back_to_queue(ctx: PhaseTask, rt: Runtime, conflict: str) -> str:
    """A conflict: the worktree, branch, stamps and intent go; the next run redoes the issue
    on top of the new target. Returns the error to report."""
    issue_id = ctx.issue.id
    worktrees.remove_worktree(ctx.pipeline.root, ctx.pipeline.state_dir, issue_id)
    rt.records.forget(f"issue:{issue_id}")
    rt.records.end_merge(issue_id)
    return f"{conflict}; the issue goes back to the queue and restarts from the target branch"
