"""marathon.yaml as typed, immutable data: what `load` produces and `compile` consumes."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.breaker import BreakerLimits, Budgets

DEFAULT_TIMEOUT = 1800.0


@dataclass(frozen=True)
class AgentConfig:
    """A named agent: a preset (how to run a CLI and read its output) plus its settings."""

    name: str
    preset: str  # command | standin | claude | codex | aider | gemini | replay
    model: str = ""
    max_turns: int | None = None
    command: tuple[str, ...] = ()  # the argv of the `command` preset
    options: Mapping[str, Any] = field(default_factory=dict)  # preset-specific settings
    env: tuple[str, ...] = ()  # more variables to pass (names or patterns)
    env_values: Mapping[str, str] = field(default_factory=dict)  # NAME: value to set
    isolation: str = ""  # none | bwrap; "" = the pipeline's default
    network: bool = True  # under isolation: bwrap

    def digest(self) -> str:
        """Changes whenever a setting that could change the agent's work changes."""
        data = {
            "preset": self.preset,
            "model": self.model,
            "max_turns": self.max_turns,
            "command": list(self.command),
            "options": self.options,
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class CheckConfig:
    """A VERIFY check: a command that reads files and passes or fails."""

    name: str
    command: tuple[str, ...]
    reads: tuple[str, ...] = ()
    timeout: float = 600.0
    rewrites: bool = False  # a formatter: never runs beside another check
    doc: str = ""
    ok_exit_codes: tuple[int, ...] = (0,)  # pytest's 5 ("no tests collected") where wanted
    env: tuple[str, ...] = ()  # more variables to pass (names or patterns)
    env_values: Mapping[str, str] = field(default_factory=dict)  # NAME: value to set


@dataclass(frozen=True)
class FixConfig:
    """A branch gate's fix loop: an agent gets the failing output, at most `attempts` times."""

    agent: str
    prompt: str
    attempts: int = 2
    writes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PhaseConfig:
    """One step of the per-issue workflow. Exactly one of checks / agent / command / builtin."""

    name: str
    after: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()  # a gate: these checks must pass (run only when the gate runs)
    agent: str = ""
    prompt: str = ""  # template file name, looked up in the workspace then the packaged defaults
    command: tuple[str, ...] = ()
    builtin: str = ""  # "exit": mark the issue done in the tracker
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    doc: str = ""
    # A gate's checks run in the workspace (VERIFY, shared verify:<check> tasks) or on the
    # issue's branch, rebased onto the target, in its worktree (nothing merges unless they pass).
    where: str = "workspace"
    fix: FixConfig | None = None
    must_produce: bool = False  # fail when nothing inside the write set changed

    @property
    def on_branch(self) -> bool:
        return bool(self.checks) and self.where == "branch"

    @property
    def kind(self) -> str:
        if self.checks:
            return "checks"
        if self.agent:
            return "agent"
        if self.command:
            return "command"
        return "builtin"


@dataclass(frozen=True)
class TrackerConfig:
    kind: str = "local"  # local | linear
    team: str = ""
    project: str = ""
    api_key_env: str = "LINEAR_API_KEY"
    api_key_file: str = ""
    url: str = "https://api.linear.app/graphql"


@dataclass(frozen=True)
class GitConfig:
    target: str = ""  # "" = the branch checked out in the workspace
    merge: str = "rebase"  # rebase | merge
    worktrees: bool = True


@dataclass(frozen=True)
class ExecutorConfig:
    """Where agent phases run (engine/run/executor.py): here, or on a Dask cluster."""

    kind: str = "local"  # local | dask
    # tcp://host:8786, or "local:N": a cluster of N worker processes started for the run
    scheduler: str = ""
    # The git remote every machine reaches (workers fetch the issue's branch and push their
    # commits there); "" with a local cluster: a bare repository in .marathon/cluster/.
    remote: str = ""
    agents_per_worker: int = 2  # a local cluster's `--resources agent=K`
    connect_timeout: float = 10.0

    @property
    def local_cluster(self) -> int:
        """The number of workers of a cluster started for the run; 0 for a real scheduler."""
        kind, _, count = self.scheduler.partition(":")
        return int(count) if kind == "local" and count.isdigit() else 0


@dataclass(frozen=True)
class Pipeline:
    """A loaded, validated marathon.yaml."""

    path: Path  # the marathon.yaml (or the packaged default) it came from
    root: Path  # the workspace: where .marathon/ lives and globs are matched
    key_prefix: str
    tracker: TrackerConfig
    agents: Mapping[str, AgentConfig]
    checks: Mapping[str, CheckConfig]
    phases: Mapping[str, PhaseConfig]  # in file order
    template_dirs: tuple[Path, ...] = ()
    on_write_outside: str = "fail"  # fail | warn
    isolation: str = "none"  # none | bwrap: the default for agents (engine/run/sandbox.py)
    breaker: BreakerLimits = field(default_factory=BreakerLimits)
    budgets: Budgets = field(default_factory=Budgets)
    git: GitConfig = field(default_factory=GitConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    @property
    def state_dir(self) -> Path:
        return self.root / ".marathon"

    @property
    def tracker_db(self) -> Path:
        return self.state_dir / "tracker.db"

    @property
    def records_db(self) -> Path:
        return self.state_dir / "records.db"

    @functools.cached_property
    def _logs_dir(self) -> str:
        return str(self.state_dir / "logs")

    def log_path(self, issue_id: str, phase: str) -> Path:
        # Built from a string: the compiler asks once per task, thousands of times.
        return Path(f"{self._logs_dir}/{issue_id}/{phase}.log")

    def plan_path(self, issue_id: str) -> str:
        """The issue's plan, relative to the workspace (as prompts name it, and as it travels
        to a cluster worker): PLAN writes it, the later phases read it."""
        return f"{self.state_dir.name}/plans/{issue_id}.md"

    def plan_file(self, issue_id: str) -> Path:
        return self.root / self.plan_path(issue_id)
