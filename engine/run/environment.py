"""The environment a process gets: an allow-list, never the engine's whole environment.

Issue text comes from specs and trackers many people can write to, so an agent may be steered
by a prompt injection; what it cannot see it cannot leak. An agent gets the basics every
program needs (PATH, HOME, locale, terminal), the variables its CLI documents (its preset's
`env`: ANTHROPIC_* for claude ...), and what marathon.yaml lists under `agents.<name>.env`
(names or patterns to pass, or `NAME: value`). A check gets the basics, the variables build
tools read (virtualenvs, Node, Rust, Go, Java), and its own `checks.<name>.env`. The tracker's
key never reaches either, even when a pattern would match it.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping

from engine.config.model import AgentConfig, Pipeline

BASICS = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_*", "TERM",
    "COLORTERM", "NO_COLOR", "TZ", "TMPDIR",
)  # fmt: skip
# What test runners, linters and compilers read to find their toolchain.
TOOLCHAINS = (
    "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE",
    "UV_*", "PIP_*", "POETRY_*", "NODE_*", "NPM_CONFIG_*", "npm_config_*", "PNPM_HOME",
    "YARN_*", "BUN_INSTALL", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "GOPATH",
    "GOROOT", "GOFLAGS", "GOCACHE", "GOMODCACHE", "JAVA_HOME", "CI",
)  # fmt: skip


def allowed(
    patterns: Iterable[str],
    values: Mapping[str, str] | None = None,
    *,
    source: Mapping[str, str] | None = None,
    never: Iterable[str] = (),
) -> dict[str, str]:
    """The variables of `source` (the engine's environment) matching `patterns`, plus
    `values` set as given; names in `never` are dropped whatever matched them."""
    source = os.environ if source is None else source
    patterns = tuple(patterns)
    blocked = set(never)
    match = _matcher(patterns)
    env = {name: value for name, value in source.items() if name not in blocked and match(name)}
    env.update({k: v for k, v in (values or {}).items() if k not in blocked})
    return env


@functools.lru_cache(maxsize=256)
def _matcher(patterns: tuple[str, ...]) -> Callable[[str], object]:
    """One compiled regex for all of `patterns` (fnmatchcase's rules): every process start
    filters the whole environment through them, ~200 names against ~20 patterns."""
    if not patterns:
        return lambda name: None
    return re.compile("|".join(fnmatch.translate(p) for p in patterns)).match


def phase_variables(issue: str, phase: str, writes: Iterable[str]) -> dict[str, str]:
    """What the engine tells every phase's process about its work, wherever it runs."""
    return {
        "MARATHON_ISSUE": issue,
        "MARATHON_PHASE": phase,
        "MARATHON_WRITES": json.dumps(list(writes)),
    }


# What a worker process of a local Dask cluster needs for itself, beyond what its agents
# and checks are given: Dask's own settings and the worker's (engine/cluster/worker.py).
WORKER_OWN = ("DASK_*", "MARATHON_WORKER_*")


def worker_names(pipeline: Pipeline, preset_envs: Mapping[str, Iterable[str]]) -> tuple[str, ...]:
    """What the workers of a cluster started here (`local:N`) inherit: what any of the
    pipeline's agents (`preset_envs`: agent name -> its CLI's variables) or checks may be
    given, and what a worker needs itself. Nothing else of the engine's environment."""
    names = [*check_names(n for check in pipeline.checks.values() for n in check.env)]
    for name, agent in pipeline.agents.items():
        names += agent_names(agent, preset_envs.get(name, ()))
    return tuple(dict.fromkeys([*names, *WORKER_OWN]))


def secrets(pipeline: Pipeline) -> tuple[str, ...]:
    """Variables no agent or check is ever given: the tracker's key."""
    return (pipeline.tracker.api_key_env,) if pipeline.tracker.api_key_env else ()


def agent_names(agent: AgentConfig, preset_env: Iterable[str]) -> tuple[str, ...]:
    """What an agent is given from the environment: the basics, its CLI's own variables, the
    names of its `env:`. A cluster worker applies the same list to its own environment."""
    return (*BASICS, *preset_env, *agent.env)


def check_names(names: Iterable[str] = ()) -> tuple[str, ...]:
    """What a check (or a phase command) is given: the basics, the toolchains', its `env:`."""
    return (*BASICS, *TOOLCHAINS, *names)


def for_agent(pipeline: Pipeline, agent: AgentConfig, preset_env: Iterable[str]) -> dict[str, str]:
    """An agent's environment: the basics, its CLI's own variables, its `env:`."""
    return allowed(agent_names(agent, preset_env), agent.env_values, never=secrets(pipeline))


def for_check(
    pipeline: Pipeline, names: Iterable[str] = (), values: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A check's (or a phase command's) environment: the basics, the toolchains', its `env:`."""
    return allowed(check_names(names), values, never=secrets(pipeline))
