"""What travels between the coordinator and a cluster worker: plain, picklable data.

A `PhaseJob` says everything a worker needs to run one agent or command phase away from the
workspace: where to fetch the issue's branch (`remote`, `branch`, `base`), what to run (the
agent's settings, built into an argv on the worker with the worker's own paths, or a command),
the prompt rendered on the coordinator, the phase's write set, and where to push the commit
(`run_ref`, one ref per run, so a run's work is found again after any crash). A `PhaseResult`
says how it ended. Neither holds a secret: the worker takes the variables an agent needs from
its own environment by name (`env_names`), never from the job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.config.model import AgentConfig
from engine.run.process import ProcessOutcome

RUN_REFS = "refs/marathon/runs"  # a run's pushed commit: refs/marathon/runs/<ID>/<phase>/<run>


def run_ref(issue: str, phase: str, run_key: str) -> str:
    return f"{RUN_REFS}/{issue}/{phase}/{run_key}"


@dataclass(frozen=True)
class PhaseJob:
    task: str  # issue:PROJ-1:code
    issue: str
    phase: str
    run_key: str  # the run's `Marathon-Run` trailer: <session>-<run id>
    remote: str  # the git URL every machine reaches
    branch: str  # marathon/PROJ-1
    base: str  # the commit the phase starts from (the branch's head when it was sent)
    run_ref: str  # where the worker pushes its commit
    message: str  # the commit's message, trailers included by the worker
    writes: tuple[str, ...]  # the phase's write set, `{id}` already filled in
    timeout: float
    # A ref on the remote that `base` is reachable from: the branch, or the run ref of the
    # phase before (its commit, taken as it is, is the branch's head: no push was needed).
    fetch: str = ""
    prompt: str = ""
    agent: AgentConfig | None = None  # an agent phase; else `command`
    command: tuple[str, ...] = ()
    # The coordinator's path of the issue's worktree as the prompt and environment name it:
    # the worker puts its own checkout's path in its place.
    placeholder: str = ""
    state_files: Mapping[str, str] = field(default_factory=dict)  # `.marathon/...` -> text
    env: Mapping[str, str] = field(default_factory=dict)  # values the engine sets
    env_names: tuple[str, ...] = ()  # names and patterns taken from the worker's environment
    never: tuple[str, ...] = ()  # never given, whatever matched (the tracker's key)
    scratch: tuple[str, ...] = ()  # the tool's own state files (not work)
    must_produce: bool = False
    identity: tuple[str, str] = ("", "")  # (name, email) the engine commits as
    stream: str = ""  # the Dask event topic its output goes to while it runs ("" for none)


@dataclass(frozen=True)
class PhaseResult:
    exit_code: int
    duration: float = 0.0
    timed_out: bool = False
    interrupted: bool = False
    missing_binary: str = ""
    timeout: float = 0.0
    output: str = ""  # everything it printed
    commit: str = ""  # the pushed commit: run_ref points at it ("" when nothing was committed)
    base: str = ""  # the commit it was made on
    # The commit's new objects as a pack (what `base` lacks): taken here without a fetch. The
    # run ref on the remote holds the same commit, for a coordinator that died meanwhile.
    pack: bytes = b""
    committed: tuple[str, ...] = ()  # the paths of the commit
    outside: tuple[str, ...] = ()  # what it changed outside its write set (not committed)
    produced: bool = True  # did anything in its write set change
    agent_committed: bool = False  # the agent made commits itself (turned back into changes)
    state_files: Mapping[str, str] = field(default_factory=dict)  # written under .marathon
    earlier: bool = False  # run_ref was pushed by an earlier attempt of this same run
    worker: str = ""  # which worker ran it, for the log
    spent: float = 0.0  # seconds the worker spent on the job, checkout and push included
    steps: Mapping[str, float] = field(default_factory=dict)  # seconds of each step, for the log
    error: str = ""  # the worker could not even start the phase (a git fetch failed ...)

    @property
    def process(self) -> ProcessOutcome:
        return ProcessOutcome(**{name: getattr(self, name) for name in PROCESS_FIELDS})


# How the agent's process ended: the fields a PhaseResult shares with a ProcessOutcome.
PROCESS_FIELDS = ("exit_code", "duration", "timed_out", "interrupted", "missing_binary", "timeout")


def process_fields(outcome: ProcessOutcome) -> dict[str, object]:
    return {name: getattr(outcome, name) for name in PROCESS_FIELDS}
