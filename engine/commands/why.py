"""`doit why TASK...`: why a task would run, or why it would be skipped, without running it.

Read-only: it computes the same inputs the up-to-date check computes and compares them with
the task's stamp; it never starts a process, writes a stamp or takes the workspace lock, so
asking cannot change what a later run does. Any name `doit list` shows works: a task, or a
group (`issue:PROJ-3`, `verify`, `marathon`), which says which of its tasks would run and why,
one line each.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TextIO

from engine.compile import READ_ONLY_RUNNERS, CheckTask, PhaseTask, compile_tasks, task_name
from engine.config.model import Pipeline
from engine.errors import MarathonError
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
    """Lines saying whether `name` is up to date and, if not, which inputs changed; for a
    group, which of its tasks would run (one line each) and which are up to date."""
    contexts, groups = _contexts(pipeline, issues)
    if name in contexts:
        return _explain(pipeline, contexts[name])
    members = _members(name, contexts, groups)
    if not members:
        raise MarathonError(f"no task {name!r}{_suggest(name, [*contexts, *groups])}")
    would, fresh = [], []
    for member in members:
        reasons = _reasons(pipeline, contexts[member])
        if reasons:
            would.append(f"  {member}: {'; '.join(reasons)}")
        else:
            fresh.append(member)
    lines = [f"{name}: {len(would)} of its {len(members)} tasks would run"]
    lines += would
    if fresh:
        lines.append(f"  up to date: {', '.join(fresh)}")
    return lines


def _explain(pipeline: Pipeline, ctx: CheckTask | PhaseTask) -> list[str]:
    reasons = _reasons(pipeline, ctx)
    environment = _environment(pipeline, ctx)
    if not reasons:
        stamp = runtime_for(pipeline).records.stamp(ctx.name)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp.finished)) if stamp else ""
        return [
            f"{ctx.name}: up to date (nothing it depends on changed since it succeeded {when})",
            *environment,
        ]
    return [f"{ctx.name}: will run because", *(f"  - {reason}" for reason in reasons), *environment]


def _environment(pipeline: Pipeline, ctx: CheckTask | PhaseTask) -> list[str]:
    """Which variables the task's process gets (names only, never values), and its sandbox."""
    from engine.agents.presets import get_preset
    from engine.run import environment

    if isinstance(ctx, CheckTask):
        names = environment.for_check(pipeline, ctx.check.env, ctx.check.env_values)
        sandbox = ""
    elif ctx.phase.agent:
        agent = pipeline.agents[ctx.phase.agent]
        preset = get_preset(agent, check_binary=False)
        names = environment.for_agent(pipeline, agent, preset.env)
        isolation = agent.isolation or pipeline.isolation
        sandbox = " (in a bwrap sandbox)" if isolation == "bwrap" else ""
    elif ctx.phase.command:
        names = environment.for_check(pipeline)
        sandbox = ""
    else:
        return []
    shown = ", ".join(sorted(names)) or "none"
    return [f"  environment{sandbox}: {shown}, and the engine's MARATHON_* variables"]


def _reasons(pipeline: Pipeline, ctx: CheckTask | PhaseTask) -> list[str]:
    """Why the task would run, for people; [] when it is up to date."""
    rt = runtime_for(pipeline)
    stamp = rt.records.stamp(ctx.name)
    if isinstance(ctx, CheckTask):
        changed = changed_components(stamp, check_inputs(ctx))
        reads = ctx.check.reads
        root = pipeline.root
    else:
        changed = changed_inputs(ctx, rt, stamp)
        reads = ctx.reads
        root = rt.reading_dir(ctx.issue.id)
    reasons = []
    for component in changed:
        if component.startswith("after:"):
            reasons.append(
                f"the result of {component[6:]} (an earlier phase) changed or is missing"
            )
        elif component == "files" and stamp is not None:
            touched = changed_files(root, reads, stamp.finished)
            shown = ", ".join(touched[:10]) + (" ..." if len(touched) > 10 else "")
            detail = f": {shown}" if touched else " (a file was removed or renamed)"
            reasons.append(f"{LABELS['files']}{detail}")
        else:
            reasons.append(LABELS.get(component, component + " changed"))
    return reasons


def _members(
    name: str, contexts: dict[str, CheckTask | PhaseTask], groups: dict[str, list[str]]
) -> list[str]:
    """The tasks a group stands for: its own sub-tasks (`issue:PROJ-3:*`) and the groups it
    lists (`marathon` -> its issues), in order, each once."""
    found: dict[str, None] = {}
    todo, seen = [name], set()
    while todo:
        group = todo.pop(0)
        if group in seen:
            continue
        seen.add(group)
        if group in contexts:
            found[group] = None
            continue
        found.update(dict.fromkeys(t for t in contexts if t.startswith(f"{group}:")))
        todo.extend(groups.get(group, ()))
    return list(found)


def _suggest(name: str, known: list[str]) -> str:
    """A close name, or where to look; never a dump of every task name."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else "; `doit list --all` shows them"


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


def _contexts(
    pipeline: Pipeline, issues: Sequence[Issue]
) -> tuple[dict[str, CheckTask | PhaseTask], dict[str, list[str]]]:
    """Task name -> the context its actions get, from the same compiler doit uses; and each
    group (a task without actions) -> the tasks it lists."""
    found: dict[str, CheckTask | PhaseTask] = {}
    groups: dict[str, list[str]] = {}
    for task in compile_tasks(pipeline, issues, READ_ONLY_RUNNERS):
        actions = task.get("actions") or []
        if actions:
            ctx = actions[0][1][0]
            if isinstance(ctx, CheckTask | PhaseTask):
                found[ctx.name] = ctx
        else:
            groups[task_name(task)] = list(task.get("task_dep") or ())
    return found, groups
