"""Bug issues: a VERIFY check that fails before an issue becomes an issue of its own.

Deduplicated by error signature (the draft key carries it), prioritised urgent, and blocking
the issue whose gate found it, so the fix goes first.
"""

from __future__ import annotations

import shlex

from engine.breaker import error_signature
from engine.compile import CheckTask
from engine.issue import Issue, IssueDraft
from engine.report.events import log_tail
from engine.run.verdict import failure_title
from engine.trackers.base import Tracker

TAIL_LINES = 40


def bug_draft(check: CheckTask, error: str, output_tail: str) -> IssueDraft:
    command = shlex.join(check.check.command)
    signature = error_signature(f"{error}\n{output_tail}")
    # What failed (the failing tests, the first error), not a summary count.
    what = failure_title(output_tail, error)
    return IssueDraft(
        key=f"bug:{check.check.name}:{signature}",
        title=f"[Bug] {check.name} fails: {what}"[:160],
        description=(
            f"The VERIFY check `{check.check.name}` failed ({error}).\n\n"
            f"Command: `{command}`\n\nLast lines of its output:\n\n```\n{output_tail}\n```\n"
        ),
        acceptance=(f"`{command}` passes", "no other check starts failing"),
        priority=1,
        kind="bug",
        labels=("bug", "verify"),
    )


def file_bug(tracker: Tracker, check: CheckTask, error: str, blocked: Issue) -> Issue:
    """Create (or find, by signature) the bug issue and make it block `blocked`."""
    log = check.pipeline.log_path("verify", check.check.name)
    # Only the last attempt's output, without its header line (which carries a timestamp).
    tail = log_tail(log, TAIL_LINES + 1, run_marker=f"=== {check.name} at ")
    lines = tail.splitlines()
    if lines and lines[0].startswith("==="):
        lines = lines[1:]
    bug = tracker.create_issue(bug_draft(check, error, "\n".join(lines)), blocks=[blocked.id])
    if not bug.is_open:
        # Marked done, yet the same failure is back: the fix did not hold.
        tracker.set_state(bug.id, "unstarted")
        tracker.comment(bug.id, f"reopened: {check.name} fails the same way again")
    return bug
