"""Read marathon.yaml, check it completely, and build a Pipeline, or refuse with one line.

Structure (keys, types, enums) is checked by the JSON Schema shipped beside this module, the
same file editors use; the meaning (references, cycles, templates, write sets) is checked here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import shlex
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from engine import globs, prompts
from engine.breaker import BreakerLimits, Budgets
from engine.config import limits
from engine.config.model import (
    DEFAULT_TIMEOUT,
    AgentConfig,
    CheckConfig,
    ExecutorConfig,
    FixConfig,
    GitConfig,
    PhaseConfig,
    Pipeline,
    TrackerConfig,
)
from engine.config.yaml_positions import (
    MAX_BYTES,
    KeyPath,
    Positions,
    dotted,
    load_with_positions,
)
from engine.errors import MarathonError, did_you_mean
from engine.spec.text import NotARegularFile, read_limited

CONFIG_NAME = "marathon.yaml"
AGENT_FIELDS = ("preset", "model", "max_turns", "command", "env", "isolation", "network")


def default_config_path() -> Path:
    return Path(str(resources.files("engine.templates").joinpath(CONFIG_NAME)))


def load_pipeline(root: Path, path: Path | None = None) -> Pipeline:
    """The workspace's marathon.yaml, or the packaged default when the workspace has none."""
    root = root.resolve()
    if path is None:
        path = root / CONFIG_NAME
        if not path.exists():
            path = default_config_path()
    try:
        # Bounded, and never a FIFO or a device: every doit call reads this file.
        data = read_limited(path, MAX_BYTES)
        if len(data) > MAX_BYTES:
            raise MarathonError(
                f"is over {MAX_BYTES} bytes, too big for a pipeline; is it the right file?",
                where=str(path),
            )
        text = data.decode("utf-8")
    except (NotARegularFile, IsADirectoryError):
        raise MarathonError(
            "is not a regular file (a folder, pipe or device?); the pipeline must be a file",
            where=str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MarathonError(f"cannot read the pipeline: {exc}", where=str(path)) from None
    # Every doit call loads the pipeline; the schema check (and importing jsonschema) is
    # skipped when this exact text already passed it with this exact schema.
    # The prompt templates too (jinja2 and parsing them are most of a no-op's load): checked
    # again when a file in a template folder changed.
    stamp = root / ".marathon" / "pipeline.checked"
    key = hashlib.sha256((text + _schema_text() + _templates_seen(root)).encode()).hexdigest()
    checked = stamp.is_file() and stamp.read_text() == key
    pipeline = parse_pipeline(
        text, path=path, root=root, structure_checked=checked, templates_checked=checked
    )
    if not checked and stamp.parent.is_dir():
        stamp.write_text(key)
    return pipeline


def parse_pipeline(
    text: str,
    *,
    path: Path,
    root: Path,
    structure_checked: bool = False,
    templates_checked: bool = False,
) -> Pipeline:
    shown = _shown_name(path, root)
    data, positions = load_with_positions(text, shown)
    if data is None:
        data = {}
    problem = _Problems(shown, positions)
    # Before the schema: jsonschema lets nan through `exclusiveMinimum` and compares huge ints.
    limits.check_numbers(data, problem)
    if not structure_checked:
        _check_schema(data, problem)
    limits.check_values(data, problem)
    pipeline = _build(data, path=path, root=root)
    _check_meaning(pipeline, problem, templates=not templates_checked)
    return pipeline


def _templates_seen(root: Path) -> str:
    """Every file of the template folders with its size and time: what a template check saw."""
    seen = []
    for folder in (root / "templates", Path(str(resources.files("engine.templates")))):
        with contextlib.suppress(OSError):
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                with contextlib.suppress(OSError):
                    st = entry.stat()
                    seen.append(f"{folder}/{entry.name}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(seen)


@functools.cache
def _schema_text() -> str:
    return resources.files("engine.config").joinpath("marathon.schema.json").read_text()


class _Problems:
    """Raises a MarathonError located at a key path of the file."""

    def __init__(self, filename: str, positions: Positions) -> None:
        self.filename = filename
        self.positions = positions

    def __call__(self, path: KeyPath, message: str, *, key: bool = False) -> MarathonError:
        from engine.config.yaml_positions import position_of

        line, col = position_of(self.positions, path, key=key)
        label = dotted(path) or "(top level)"
        return MarathonError(f"{label}: {message}", where=f"{self.filename}:{line}:{col}")


@functools.cache
def _validator() -> Any:
    import jsonschema  # only when a pipeline text is new (see load_pipeline)

    return jsonschema.Draft202012Validator(schema())


def schema() -> dict[str, Any]:
    return dict(json.loads(_schema_text()))


def _check_schema(data: Any, problem: _Problems) -> None:
    errors = sorted(
        _validator().iter_errors(data), key=lambda e: (list(e.absolute_path), e.validator)
    )
    if not errors:
        return
    error = errors[0]
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extra = sorted(str(key) for key in set(error.instance) - set(allowed))[0]
        raise problem((*path, extra), f"unknown key{did_you_mean(extra, allowed)}", key=True)
    if error.validator == "enum":
        raise problem(
            path,
            f"{error.instance!r} is not allowed"
            f"{did_you_mean(str(error.instance), [str(v) for v in error.validator_value])}",
        )
    if error.validator == "type":
        raise problem(
            path, f"expected {_type_words(error.validator_value)}, got {_type_name(error.instance)}"
        )
    if error.validator == "required":
        raise problem(path, f"{error.message.split(' is a required')[0]} is required here")
    if error.validator == "oneOf":
        raise problem(
            path,
            f"{error.instance!r} does not fit: expected "
            + " or ".join(_describe(option) for option in error.validator_value),
        )
    if error.validator == "pattern":
        raise problem(path, f"{error.instance!r} must match {error.validator_value}")
    raise problem(path, error.message)


def _describe(option: Mapping[str, Any]) -> str:
    if "const" in option:
        return repr(option["const"])
    if option.get("type") == "array":
        return "a list"
    if "$ref" in option:
        return option["$ref"].rsplit("/", 1)[-1]
    return _type_words(option.get("type", "a value"))


def _type_words(kind: str | list[str]) -> str:
    words = {
        "object": "a mapping",
        "array": "a list",
        "string": "a string",
        "number": "a number",
        "integer": "a whole number",
        "boolean": "true or false",
    }
    kinds = [kind] if isinstance(kind, str) else kind
    return " or ".join(words.get(k, k) for k in kinds)


def _type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "true/false",
        int: "a number",
        float: "a number",
        type(None): "nothing",
    }.get(type(value), "a value")


def _argv(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        # Written by the workspace owner, so splitting like a shell is what they expect; the
        # result is still an argument list and never passes through a shell.
        return tuple(shlex.split(value))
    return tuple(value)


def _env(entries: Any) -> tuple[tuple[str, ...], dict[str, str]]:
    """`env:`: a list of names or patterns, or a mapping NAME: value (null passes the
    engine's own value, as a name in the list does)."""
    if not entries:
        return (), {}
    if isinstance(entries, Mapping):
        names = tuple(k for k, v in entries.items() if v is None)
        return names, {k: str(v) for k, v in entries.items() if v is not None}
    return tuple(entries), {}


def _build(data: Mapping[str, Any], *, path: Path, root: Path) -> Pipeline:
    agents = {}
    for name, spec in data.get("agents", {}).items():
        options = {k: v for k, v in spec.items() if k not in AGENT_FIELDS}
        agents[name] = AgentConfig(
            name=name,
            preset=spec["preset"],
            model=spec.get("model", ""),
            max_turns=spec.get("max_turns"),
            command=_argv(spec.get("command")),
            options=options,
            env=_env(spec.get("env"))[0],
            env_values=_env(spec.get("env"))[1],
            isolation=spec.get("isolation", ""),
            network=bool(spec.get("network", True)),
        )
    checks = {
        name: CheckConfig(
            name=name,
            command=_argv(spec["command"]),
            reads=tuple(spec.get("reads", ())),
            timeout=float(spec.get("timeout", 600)),
            rewrites=bool(spec.get("rewrites", False)),
            doc=spec.get("doc", ""),
            ok_exit_codes=tuple(spec.get("ok_exit_codes", (0,))),
            env=_env(spec.get("env"))[0],
            env_values=_env(spec.get("env"))[1],
        )
        for name, spec in data.get("checks", {}).items()
    }
    phases = {}
    for name, spec in data.get("phases", {}).items():
        gate = spec.get("checks", ())
        gate_checks = tuple(checks) if gate == "all" else tuple(gate)
        reads = tuple(spec.get("reads", ()))
        if spec.get("where") == "branch" and not reads:
            # A branch gate reads what its checks read, in the worktree: the files
            # the phases before it wrote.
            reads = tuple(
                dict.fromkeys(g for c in gate_checks if c in checks for g in checks[c].reads)
            )
        fix = spec.get("fix")
        phases[name] = PhaseConfig(
            name=name,
            after=tuple(spec.get("after", ())),
            checks=gate_checks,
            agent=spec.get("agent", ""),
            prompt=spec.get("prompt", ""),
            command=_argv(spec.get("command")),
            builtin=spec.get("builtin", ""),
            reads=reads,
            writes=tuple(spec.get("writes", ())),
            timeout=float(spec.get("timeout", DEFAULT_TIMEOUT)),
            doc=spec.get("doc", ""),
            where=spec.get("where", "workspace"),
            fix=FixConfig(
                agent=fix["agent"],
                prompt=fix["prompt"],
                attempts=int(fix.get("attempts", 2)),
                writes=tuple(fix.get("writes", ())),
            )
            if fix
            else None,
            must_produce=bool(spec.get("must_produce", False)),
        )
    phases = _default_fix_writes(phases)
    tracker = TrackerConfig(**data.get("tracker", {}))
    return Pipeline(
        path=path,
        root=root,
        key_prefix=data.get("key_prefix", "PROJ"),
        tracker=tracker,
        agents=agents,
        checks=checks,
        phases=phases,
        template_dirs=(root / "templates", Path(str(resources.files("engine.templates")))),
        on_write_outside=data.get("on_write_outside", "fail"),
        isolation=data.get("isolation", "none"),
        breaker=BreakerLimits.from_mapping(data.get("breaker", {})),
        budgets=Budgets.from_mapping(data.get("budgets", {})),
        git=GitConfig(**data.get("git", {})),
        executor=ExecutorConfig(**data.get("executor", {})),
    )


def _default_fix_writes(phases: dict[str, PhaseConfig]) -> dict[str, PhaseConfig]:
    """A fix loop without writes: may write what the phases before its gate may write."""
    out = dict(phases)
    for name, phase in phases.items():
        if phase.fix is None or phase.fix.writes:
            continue
        seen: set[str] = set()
        stack = [dep for dep in phase.after if dep in phases]
        while stack:
            dep = stack.pop()
            if dep not in seen:
                seen.add(dep)
                stack += [d for d in phases[dep].after if d in phases]
        writes = tuple(
            dict.fromkeys(g for dep in phases if dep in seen for g in phases[dep].writes)
        )
        out[name] = dataclasses.replace(phase, fix=dataclasses.replace(phase.fix, writes=writes))
    return out


def _check_meaning(pipeline: Pipeline, problem: _Problems, *, templates: bool = True) -> None:
    if pipeline.tracker.kind == "linear" and not pipeline.tracker.team:
        raise problem(("tracker",), "a linear tracker needs team: (the team key, e.g. ENG)")
    executor_problem = executor_config_problem(pipeline.executor, pipeline.root)
    if executor_problem:
        key, message = executor_problem
        raise problem(("executor", key) if key else ("executor",), message)
    for name, phase in pipeline.phases.items():
        _check_phase(pipeline, name, phase, problem, templates=templates)
    order = phase_order(pipeline.phases, problem)
    ancestors = phase_ancestors(pipeline.phases, order)
    for a, b in concurrent_pairs(pipeline.phases, ancestors):
        for glob_a in pipeline.phases[a].writes:
            for glob_b in pipeline.phases[b].writes:
                if globs.overlap(glob_a, glob_b):
                    raise problem(
                        ("phases", b, "writes"),
                        f"'{glob_b}' overlaps '{glob_a}' of phase '{a}', and the two can run at "
                        f"the same time; make the globs disjoint or add '{a}' to "
                        f"phases.{b}.after",
                    )
    _check_rewriting_checks(pipeline, problem)


SCHEDULER_SCHEMES = ("tcp://", "tls://", "ws://", "wss://", "inproc://", "ucx://")


def executor_config_problem(
    config: ExecutorConfig, root: Path | None = None
) -> tuple[str, str] | None:
    """(key, what is wrong) with an executor's settings, or None; marathon.yaml's and
    MARATHON_EXECUTOR's (engine/run/executor.py) share it. `root`: the workspace, which the
    remote must not be."""
    if config.kind != "dask":
        return None
    if config.remote.startswith("-"):
        # git would take it for an option (--upload-pack=... runs a command).
        return "remote", f"{config.remote!r} is not a git URL: it starts with '-'"
    if root is not None and _names_workspace(config.remote, root):
        # Workers would push their runs' refs into the repository the engine merges in.
        return "remote", (
            f"{config.remote!r} is this workspace itself; the branches travel through a "
            "repository of their own (git init --bare /srv/marathon.git, reached by every machine)"
        )
    if not config.scheduler:
        return "", "a dask executor needs scheduler: (tcp://host:8786, or local:3 here)"
    if config.scheduler.startswith("local"):
        if not config.local_cluster:
            return "scheduler", f"{config.scheduler!r}: give a worker count, e.g. local:3"
    elif not config.scheduler.startswith(SCHEDULER_SCHEMES):
        return "scheduler", (
            f"{config.scheduler!r} is not a scheduler address; give tcp://host:8786 or local:3"
        )
    elif not config.remote:
        return "", (
            "workers on other machines need remote: (a git URL every machine reaches, where "
            "the issues' branches travel)"
        )
    return None


def _names_workspace(remote: str, root: Path) -> bool:
    """Is `remote` a local path (or file:// URL), relative to the workspace as git takes it,
    of the workspace or its .git folder?"""
    if not remote:
        return False
    if remote.startswith("file://"):
        remote = remote[len("file://") :]
    elif "://" in remote or re.match(r"[^/]+:", remote):
        return False  # another machine's (ssh://, https://, host:path)
    named = (root / Path(remote).expanduser()).resolve()
    return named in (root.resolve(), (root / ".git").resolve())


def _check_phase(
    pipeline: Pipeline, name: str, phase: PhaseConfig, problem: _Problems, *, templates: bool
) -> None:
    at = ("phases", name)
    kinds = [k for k in ("checks", "agent", "command", "builtin") if getattr(phase, k)]
    if len(kinds) != 1:
        raise problem(
            at,
            "give exactly one of checks:, agent:, command: or builtin: "
            f"(found {', '.join(kinds) or 'none'})",
            key=True,
        )
    for index, dep in enumerate(phase.after):
        if dep not in pipeline.phases:
            raise problem(
                (*at, "after", index),
                f"unknown phase '{dep}'{did_you_mean(dep, list(pipeline.phases))}",
            )
        if dep == name:
            raise problem((*at, "after", index), "a phase cannot come after itself")
    if phase.where == "branch" and not phase.checks:
        raise problem((*at, "where"), "where: branch is for a gate: give checks: too", key=True)
    if phase.fix is not None:
        if phase.where != "branch":
            raise problem((*at, "fix"), "fix: needs where: branch (a gate on the issue's branch)")
        if phase.fix.agent not in pipeline.agents:
            raise problem(
                (*at, "fix", "agent"),
                f"unknown agent '{phase.fix.agent}'"
                f"{did_you_mean(phase.fix.agent, list(pipeline.agents))}",
            )
        try:
            if templates:
                prompts.check_template(pipeline.template_dirs, phase.fix.prompt, ("failures",))
        except MarathonError as exc:
            raise problem((*at, "fix", "prompt"), exc.message) from None
    for index, check in enumerate(phase.checks):
        if check not in pipeline.checks:
            raise problem(
                (*at, "checks", index),
                f"unknown check '{check}'{did_you_mean(check, list(pipeline.checks))}",
            )
    if phase.agent:
        if phase.agent not in pipeline.agents:
            raise problem(
                (*at, "agent"),
                f"unknown agent '{phase.agent}'{did_you_mean(phase.agent, list(pipeline.agents))}",
            )
        if not phase.prompt:
            raise problem((*at,), "an agent phase needs prompt: (a template file name)", key=True)
        try:
            if templates:
                prompts.check_template(pipeline.template_dirs, phase.prompt)
        except MarathonError as exc:
            raise problem((*at, "prompt"), exc.message) from None
    elif phase.prompt:
        raise problem(
            (*at, "prompt"), "prompt: only applies to agent phases; remove it or add agent:"
        )
    agent = pipeline.agents.get(phase.agent)
    if agent is not None and agent.preset == "command" and not agent.command:
        raise problem(
            ("agents", agent.name), "the command preset needs command: (an argv)", key=True
        )


def _check_rewriting_checks(pipeline: Pipeline, problem: _Problems) -> None:
    groups: list[tuple[KeyPath, tuple[str, ...]]] = [(("checks",), tuple(pipeline.checks))]
    groups += [(("phases", n, "checks"), p.checks) for n, p in pipeline.phases.items() if p.checks]
    for at, members in groups:
        if len(members) < 2:
            continue
        for check in members:
            if pipeline.checks[check].rewrites:
                raise problem(
                    ("checks", check, "rewrites"),
                    f"check '{check}' rewrites files but runs in parallel with "
                    f"{', '.join(m for m in members if m != check)} ({dotted(at)}); make it a "
                    "phase with command: so it runs on its own, or set rewrites: false",
                )


def phase_order(phases: Mapping[str, PhaseConfig], problem: _Problems | None = None) -> list[str]:
    """Phases in an order where each comes after everything in its `after:` (file order kept)."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "open":
            cycle = [*trail[trail.index(name) :], name]
            message = (
                f"cycle among phases: {' -> '.join(cycle)}; remove one of these after: entries"
            )
            if problem is None:
                raise MarathonError(message)
            raise problem(("phases", name, "after"), message)
        state[name] = "open"
        for dep in phases[name].after:
            visit(dep, [*trail, name])
        state[name] = "done"
        order.append(name)

    for name in phases:
        visit(name, [])
    return order


def phase_ancestors(phases: Mapping[str, PhaseConfig], order: list[str]) -> dict[str, set[str]]:
    ancestors: dict[str, set[str]] = {}
    for name in order:
        found: set[str] = set()
        for dep in phases[name].after:
            found |= {dep} | ancestors[dep]
        ancestors[name] = found
    return ancestors


def concurrent_pairs(
    phases: Mapping[str, PhaseConfig], ancestors: Mapping[str, set[str]]
) -> list[tuple[str, str]]:
    """Pairs of phases of one issue that doit may run at the same time."""
    names = list(phases)
    return [
        (a, b)
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        if a not in ancestors[b] and b not in ancestors[a]
    ]


def _shown_name(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)
