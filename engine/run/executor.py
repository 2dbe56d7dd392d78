"""Where a phase's or a check's process runs: the one seam between the scheduler and the work.

doit, the records, the up-to-date rules and the merge stay where they are; an executor gets a
description of the work (`Work`: the argv, where, its environment, its input, its timeout, its
log, and the sandbox it runs in) and returns how it ended. `LocalExecutor` runs it here, in its
own process group behind the gate (engine/run/process.py), inside bubblewrap when the work
carries a sandbox. `executor_for` picks the one a run uses: marathon.yaml's `executor:`, or
MARATHON_EXECUTOR (`doit marathon --executor ...`) for one run. A remote executor
(engine/cluster/client.py: Dask) also runs whole agent phases elsewhere (`run_phase`), in a
checkout of the issue's branch of its own (engine/run/remote_phase.py is the coordinator's side).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from engine.config.model import ExecutorConfig, Pipeline
from engine.errors import EXIT_BAD_INPUT, MarathonError
from engine.run import process, sandbox
from engine.run.process import ProcessOutcome

if TYPE_CHECKING:
    from engine.cluster.job import PhaseJob, PhaseResult

OVERRIDE_ENV = "MARATHON_EXECUTOR"  # local | dask | dask-local:N | tcp://host:8786


@dataclass(frozen=True)
class Work:
    argv: tuple[str, ...]
    cwd: Path
    log: Path
    timeout: float
    env: Mapping[str, str]
    stdin_text: str | None = None
    sandbox: sandbox.Sandbox | None = None


class Executor(Protocol):
    remote: bool  # runs agent phases elsewhere (`run_phase`), not in the worktree here

    def run(self, work: Work, on_start: Callable[[int], None] | None = None) -> ProcessOutcome:
        """Run `work`; `on_start(pgid)` before it runs anything (to record it)."""
        ...


class RemoteExecutor(Executor, Protocol):
    remote_url: str  # the git remote the workers fetch from and push to

    def connect(self) -> None:
        """Reach the cluster, or raise a MarathonError saying what to do."""
        ...

    def run_phase(
        self,
        job: PhaseJob,
        *,
        agent: bool,
        on_output: Callable[[dict[str, Any]], None] | None = None,
    ) -> PhaseResult: ...

    def close(self) -> None: ...


class LocalExecutor:
    remote = False

    def run(self, work: Work, on_start: Callable[[int], None] | None = None) -> ProcessOutcome:
        argv = sandbox.wrap(work.sandbox, work.argv) if work.sandbox else list(work.argv)
        return process.run_process(
            argv,
            cwd=work.cwd,
            log_path=work.log,
            timeout=work.timeout,
            env=work.env,
            stdin_text=work.stdin_text,
            on_start=on_start,
        )


LOCAL = LocalExecutor()


def executor_for(pipeline: Pipeline) -> Executor:
    """The executor of a run: marathon.yaml's, unless MARATHON_EXECUTOR names another."""
    config = chosen_config(pipeline.executor, os.environ.get(OVERRIDE_ENV, ""))
    if config.kind == "local":
        return LOCAL
    from engine.agents.presets import get_preset
    from engine.cluster.client import DaskExecutor
    from engine.run.environment import secrets, worker_names

    presets = {name: get_preset(agent).env for name, agent in pipeline.agents.items()}
    return DaskExecutor(
        config, pipeline.state_dir, secrets(pipeline), worker_names(pipeline, presets)
    )


def chosen_config(configured: ExecutorConfig, override: str) -> ExecutorConfig:
    """`configured` with MARATHON_EXECUTOR applied: `local`, `dask` (the configured
    cluster), `dask-local:N` (a cluster of N workers here) or a scheduler address."""
    from engine.config.load import executor_config_problem

    value = override.strip()
    if not value:
        return configured
    if value == "local":
        return dataclasses.replace(configured, kind="local")
    if value == "dask":
        chosen = dataclasses.replace(configured, kind="dask")
    elif value.startswith("dask-local"):
        chosen = dataclasses.replace(configured, kind="dask", scheduler=value.removeprefix("dask-"))
    elif "://" in value:
        chosen = dataclasses.replace(configured, kind="dask", scheduler=value)
    else:
        raise MarathonError(
            f"executor {value!r} ({OVERRIDE_ENV} or --executor): give local, dask, "
            "dask-local:N or a scheduler address (tcp://host:8786)",
            exit_code=EXIT_BAD_INPUT,
        )
    problem = executor_config_problem(chosen)
    if problem:
        raise MarathonError(
            f"executor {value!r} ({OVERRIDE_ENV} or --executor): {problem[1]}",
            exit_code=EXIT_BAD_INPUT,
        )
    return chosen
