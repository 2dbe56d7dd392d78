"""`doit why TASK...`: why a task would run, or why it would be skipped, without running it.

Read-only: it computes the same inputs the up-to-date check computes and compares them with
the task's stamp; it never starts a process, writes a stamp or takes the workspace lock, so
asking cannot change what a later run does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TextIO

from engine.compile import READ_ONLY_RUNNERS, CheckTask, PhaseTask, compile_tasks
from engine.config.model import Pipeline
from engine.errors import MarathonError, did_you_mean
from engine.fingerprint import changed_components, changed_files, check_inputs
from engine.issue import Issue
from engine.run.phase import changed_inputs
from engine.run.runtime import runtime_for

# What each input component means, for people.
LABELS = {
    "issue": "the issue's text (title, description or acceptance criteria) changed",
    "prompt": "the rendered prompt changed (its template or a value it shows)",
    "agent": "the agent's settings changed (preset, model, turns or options)",
    "command": "the command changed",
    "checks": "the list of checks of this gate changed",
    "files": "files it reads changed",
    "merged": "the issue's branch has not been merged yet",
    "never succeeded": "it has never succeeded",
}


def explain_task(pipeline: Pipeline, issues: Sequence[Issue], name: str) -> list[str]:
    """Lines saying whether `name` is up to date and, if not, which inputs changed."""
    contexts = _contexts(pipeline, issues)
    if name not in contexts:
        known = sorted(contexts)
        raise MarathonError(f"no task {name!r}{did_you_mean(name, known)} (see doit list --all)")
    ctx = contexts[name]
    rt = runtime_for(pipeline)
    stamp = rt.records.stamp(name)
    if isinstance(ctx, CheckTask):
        changed = changed_components(stamp, check_inputs(ctx))
        reads = ctx.check.reads
        root = pipeline.root
    else:
        changed = changed_inputs(ctx, rt, stamp)
        reads = ctx.reads
        root = rt.reading_dir(ctx.issue.id)
    if not changed:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp.finished)) if stamp else ""
        return [f"{name}: up to date (nothing it depends on changed since it succeeded {when})"]
    lines = [f"{name}: will run because"]
    for component in changed:
        if component.startswith("after:"):
            lines.append(
                f"  - the result of {component[6:]} (an earlier phase) changed or is missing"
            )
        elif component == "files" and stamp is not None:
            touched = changed_files(root, reads, stamp.finished)
            shown = ", ".join(touched[:10]) + (" ..." if len(touched) > 10 else "")
            detail = f": {shown}" if touched else " (a file was removed or renamed)"
            lines.append(f"  - {LABELS['files']}{detail}")
        else:
            lines.append(f"  - {LABELS.get(component, component + ' changed')}")
    return lines


def run_why(
    pipeline: Pipeline, issues: Sequence[Issue], names: Sequence[str], *, out: TextIO
) -> int:
    if not names:
        raise MarathonError(
            "doit why needs task names, e.g. doit why issue:PROJ-5:code verify:lint"
        )
    for name in names:
        print("\n".join(explain_task(pipeline, issues, name)), file=out)
    return 0


def _contexts(pipeline: Pipeline, issues: Sequence[Issue]) -> dict[str, CheckTask | PhaseTask]:
    """Task name -> the context its actions get, from the same compiler doit uses."""
    found: dict[str, CheckTask | PhaseTask] = {}
    for task in compile_tasks(pipeline, issues, READ_ONLY_RUNNERS):
        actions = task.get("actions") or []
        if actions:
            ctx = actions[0][1][0]
            if isinstance(ctx, CheckTask | PhaseTask):
                found[ctx.name] = ctx
    return found
