"""The compiler: a pure function from (pipeline, issues) to doit task dicts.

Nothing here touches the disk, the tracker or a process. Actions and up-to-date checks are
(callable, args) pairs whose arguments are the small frozen `CheckTask` / `PhaseTask` values
below, so a test can compile a pipeline and inspect every name, edge and doc line without
running anything.

Task names:
  verify:<check>          a VERIFY check (group `verify`)
  issue:<ID>:<phase>      one phase of one issue (group `issue:<ID>`; group `issue` holds all)

Each phase task carries `meta["rank"]`: when several tasks are ready, the one with the lowest
rank starts first (engine/doit_run.py): bug issues, then priority, then the task heading the
most remaining work (the critical path first); a task of an issue that has not started waits
behind the started issues' tasks unless its chain is urgent (engine/schedule.py: ReadyTasks,
which reads `meta["seconds"]` and `meta["chain"]` too).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.config.load import concurrent_pairs, phase_ancestors, phase_order
from engine.config.model import CheckConfig, PhaseConfig, Pipeline
from engine.graph import chain_lengths, graph_from_issues, heaviest_chains
from engine.issue import Issue

TaskDict = dict[str, Any]


@dataclass(frozen=True)
class CheckTask:
    pipeline: Pipeline
    check: CheckConfig

    @property
    def name(self) -> str:
        return f"verify:{self.check.name}"


@dataclass(frozen=True)
class PhaseTask:
    pipeline: Pipeline
    issue: Issue
    phase: PhaseConfig
    # Write globs of this issue's phases that may run at the same time as this one: their
    # files changing during this phase are theirs, not a write outside this phase's set.
    concurrent_writes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return phase_task_name(self.issue.id, self.phase.name)

    def globs(self, patterns: Sequence[str]) -> tuple[str, ...]:
        return tuple(p.replace("{id}", self.issue.id) for p in patterns)

    @property
    def reads(self) -> tuple[str, ...]:
        return self.globs(self.phase.reads)

    @property
    def writes(self) -> tuple[str, ...]:
        return self.globs(self.phase.writes)


@dataclass(frozen=True)
class Runners:
    """The callables tasks execute; injected so the compiler stays free of side effects."""

    run_check: Callable[[CheckTask], Any]
    check_up_to_date: Callable[[CheckTask], bool]
    run_phase: Callable[[PhaseTask], Any]
    phase_up_to_date: Callable[[PhaseTask], bool]
    clean_issue: Callable[[Pipeline, str], Any]  # `doit clean issue:<ID>`


def _never(*args: object) -> bool:
    raise AssertionError("a read-only compile must not run anything")


# For compiling only to look at the tasks (`doit why`, `doit status`).
READ_ONLY_RUNNERS = Runners(_never, _never, _never, _never, _never)


def task_name(task: Mapping[str, Any]) -> str:
    """The name doit gives a compiled task dict: `basename:name`, or the basename alone."""
    name = task.get("name")
    return f"{task['basename']}:{name}" if name else str(task["basename"])


def typical_seconds(durations: Mapping[str, float]) -> Callable[[str], float]:
    """A phase's typical seconds: its measured median, else the median over the phases that
    have been measured, else 1 (every phase counts the same until something has run)."""
    fallback = statistics.median(durations.values()) if durations else 1.0
    return lambda phase: durations.get(phase, fallback)


def phase_task_name(issue_id: str, phase: str) -> str:
    return f"issue:{issue_id}:{phase}"


def final_phases(pipeline: Pipeline) -> list[str]:
    """Phases no other phase waits for: an issue is finished when these are."""
    waited_for = {dep for phase in pipeline.phases.values() for dep in phase.after}
    return [name for name in pipeline.phases if name not in waited_for]


def compiled_issues(issues: Sequence[Issue]) -> list[Issue]:
    """Issues that get a pipeline: not the META issue, not canceled ones."""
    return [issue for issue in issues if issue.kind != "meta" and issue.state != "canceled"]


def compile_tasks(
    pipeline: Pipeline,
    issues: Sequence[Issue],
    runners: Runners,
    settled: frozenset[str] = frozenset(),
    durations: Mapping[str, float] | None = None,
) -> list[TaskDict]:
    """`settled` names phase tasks already known to be up to date (finished issues whose text
    has not changed): doit then skips them without calling anything. `durations` are typical
    seconds per phase (measured), used only to rank ready tasks; without them every phase
    counts the same."""
    tasks: list[TaskDict] = []
    tasks += _check_tasks(pipeline, runners)
    order = phase_order(pipeline.phases)
    ancestors = phase_ancestors(pipeline.phases, order)
    concurrent: dict[str, set[str]] = {name: set() for name in pipeline.phases}
    for a, b in concurrent_pairs(pipeline.phases, ancestors):
        concurrent[a].add(b)
        concurrent[b].add(a)
    selected = compiled_issues(issues)
    by_id = {issue.id: issue for issue in selected}
    finals = final_phases(pipeline)
    # What is the same for every issue, worked out once: a compile runs per doit command, over
    # thousands of issues (issue 18).
    shapes = [_phase_shape(pipeline, name, concurrent[name]) for name in order]
    logs = _logs_dir(pipeline)
    phase_tasks: list[TaskDict] = []
    for issue in selected:
        phase_tasks += _issue_tasks(pipeline, issue, shapes, by_id, finals, runners, settled, logs)
    _rank(phase_tasks, by_id, order, settled, durations or {})
    tasks += phase_tasks
    tasks.append(_marathon_task(selected))
    tasks.append(
        {
            "basename": "issue",
            "doc": f"every issue's workflow ({len(selected)} issues)",
            "actions": None,
            "task_dep": [f"issue:{issue.id}" for issue in selected],
            "meta": {"kind": "group", "issue": "", "phase": "", "log": ""},
        }
    )
    return tasks


def _check_tasks(pipeline: Pipeline, runners: Runners) -> list[TaskDict]:
    checks = list(pipeline.checks.values())
    tasks: list[TaskDict] = [
        {
            "basename": "verify",
            "name": None,
            "doc": f"run every check at once: {', '.join(c.name for c in checks) or '(none)'}",
            "meta": {"kind": "group", "issue": "", "phase": "", "log": ""},
        }
    ]
    for check in checks:
        ctx = CheckTask(pipeline, check)
        reads = f" (reads {', '.join(check.reads)})" if check.reads else ""
        tasks.append(
            {
                "basename": "verify",
                "name": check.name,
                "doc": f"{check.doc or 'check'}: {' '.join(check.command)}{reads}",
                "actions": [(runners.run_check, [ctx])],
                "uptodate": [(runners.check_up_to_date, [ctx])],
                "verbosity": 0,
                "meta": {
                    "kind": "check",
                    "issue": "",
                    "phase": check.name,
                    "log": str(pipeline.log_path("verify", check.name)),
                },
            }
        )
    return tasks


@dataclass(frozen=True)
class _PhaseShape:
    """One phase's part of every issue's task: the same text and globs with `{id}` left in."""

    phase: PhaseConfig
    after: tuple[str, ...]
    concurrent_writes: tuple[str, ...]  # globs of the phases that may run beside it
    summary: str


def _phase_shape(pipeline: Pipeline, name: str, concurrent: set[str]) -> _PhaseShape:
    phase = pipeline.phases[name]
    writes = tuple(glob for other in sorted(concurrent) for glob in pipeline.phases[other].writes)
    return _PhaseShape(phase, tuple(phase.after), writes, _phase_summary(phase))


def _issue_tasks(
    pipeline: Pipeline,
    issue: Issue,
    shapes: Sequence[_PhaseShape],
    by_id: Mapping[str, Issue],
    finals: list[str],
    runners: Runners,
    settled: frozenset[str],
    logs_dir: str,
) -> list[TaskDict]:
    # An issue starts after the final phases of the open issues it depends on.
    blockers = [dep for dep in issue.dependencies if dep in by_id and by_id[dep].is_open]
    after_issues = [phase_task_name(dep, final) for dep in blockers for final in finals]
    waits = f" (after {', '.join(blockers)})" if blockers else ""
    basename = f"issue:{issue.id}"
    logs = f"{logs_dir}/{issue.id}"
    tasks: list[TaskDict] = [
        {
            "basename": basename,
            "name": None,
            "doc": f"{issue.title}{waits}",
            "clean": [(runners.clean_issue, [pipeline, issue.id])],
            "meta": {"kind": "group", "issue": issue.id, "phase": "", "log": ""},
        }
    ]
    for shape in shapes:
        name = shape.phase.name
        concurrent_writes = tuple(
            glob.replace("{id}", issue.id) for glob in shape.concurrent_writes
        )
        ctx = PhaseTask(pipeline, issue, shape.phase, concurrent_writes)
        task_dep = [f"{basename}:{dep}" for dep in shape.after] if shape.after else [*after_issues]
        task: TaskDict = {
            "basename": basename,
            "name": name,
            "doc": f"{issue.id} {name}: {shape.summary}",
            "actions": [(runners.run_phase, [ctx])],
            "uptodate": [
                True if f"{basename}:{name}" in settled else (runners.phase_up_to_date, [ctx])
            ],
            "task_dep": task_dep,
            "verbosity": 0,
            "meta": {
                "kind": "phase",
                "issue": issue.id,
                "phase": name,
                "log": f"{logs}/{name}.log",
                # EXIT waits its turn at the merge lock: in a slot of its own (doit_run.py)
                "slot": "merge" if shape.phase.builtin == "exit" else "work",
            },
        }
        tasks.append(task)
    return tasks


def _logs_dir(pipeline: Pipeline) -> str:
    """The folder of every issue's log folder, from `Pipeline.log_path` (the one definition of
    the layout, `<logs>/<issue>/<phase>.log`) asked once: a Path per task was half the cost of
    compiling (issue 18)."""
    return str(pipeline.log_path("ISSUE", "phase").parent.parent)


def _phase_summary(phase: PhaseConfig) -> str:
    if phase.checks:
        what = f"checks {', '.join(phase.checks)}"
    elif phase.agent:
        what = f"agent {phase.agent} with {phase.prompt}"
    elif phase.command:
        what = " ".join(phase.command)
    else:
        what = f"builtin {phase.builtin}"
    return f"{phase.doc} [{what}]" if phase.doc else what


def _rank(
    tasks: list[TaskDict],
    by_id: Mapping[str, Issue],
    order: list[str],
    settled: frozenset[str],
    durations: Mapping[str, float],
) -> None:
    """Set meta["rank"] on each phase task: (bug first, priority, minus the seconds of the
    heaviest chain of tasks it heads, issue number, phase position)."""
    phases = {task_name(t): t for t in tasks if t["meta"]["kind"] == "phase"}
    typical = typical_seconds(durations)

    def seconds(name: str) -> float:
        return 0.0 if name in settled else typical(phases[name]["meta"]["phase"])

    # Only tasks with work behind them: the ones still to do and those they wait for. A
    # settled task heads nothing else (what waits for it is settled too, unless listed here),
    # and a no-op rerun is nothing but settled tasks.
    todo = [name for name in phases if name not in settled]
    weighed: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in weighed:
            weighed.add(name)
            todo += phases[name]["task_dep"]
    edges = [(dep, name) for name in weighed for dep in phases[name]["task_dep"]]
    remaining = heaviest_chains([name for name in phases if name in weighed], edges, seconds)
    keys = {issue_id: _issue_key(issue) for issue_id, issue in by_id.items()}
    position = {phase: index for index, phase in enumerate(order)}
    for name, task in phases.items():
        meta = task["meta"]
        bug, priority, number = keys[meta["issue"]]
        work = -round(remaining.get(name, 0.0), 3)
        meta["rank"] = (bug, priority, work, number, position[meta["phase"]])
        # What the ready set needs besides the rank (engine/schedule.py: ReadyTasks).
        meta["seconds"] = seconds(name)
        meta["chain"] = -work


def _issue_key(issue: Issue) -> tuple[int, int, int]:
    """Bug issues first, then urgent .. low, "no priority" last, then by number."""
    priority = issue.priority if issue.priority > 0 else 5
    return (0 if issue.kind == "bug" else 1, priority, int(issue.id.rsplit("-", 1)[1]))


def marathon_order(issues: Sequence[Issue]) -> list[Issue]:
    """Open issues in the order a marathon should start them when several are ready: bug
    issues first, then by priority (urgent first, "no priority" last), then the issues that
    head the longest chains (the critical path first), then by number."""
    open_issues = [issue for issue in issues if issue.is_open]
    chains = chain_lengths(graph_from_issues(open_issues))

    def key(issue: Issue) -> tuple[int, int, int, int]:
        bug, priority, number = _issue_key(issue)
        return (bug, priority, -chains[issue.id], number)

    return sorted(open_issues, key=key)


def _marathon_task(issues: Sequence[Issue]) -> TaskDict:
    ordered = marathon_order(issues)
    return {
        "basename": "marathon",
        "doc": f"every open issue in dependency order, independent ones at once "
        f"({len(ordered)} open)",
        "actions": None,
        # doit walks the graph from this list, so the first tasks start in this order (plain
        # doit keeps to it all run; the ranked run then goes by each task's rank).
        "task_dep": [f"issue:{issue.id}" for issue in ordered],
        "meta": {"kind": "group", "issue": "", "phase": "", "log": ""},
    }
