"""The Dask executor: phases run on the workers of a Dask distributed cluster.

doit stays the scheduler here (the graph, up to date, ranking, records, the merge); this
executor hands one phase at a time to the cluster as a `PhaseJob` and waits for its
`PhaseResult`. Agent phases ask for one `agent` resource, so a worker started with
`--resources agent=K` runs at most K agents at once; `-n` is how many tasks are in flight.
Dask reschedules a phase whose worker died on another worker (up to its `allowed-failures`,
then the phase fails and the breaker counts it). Checks run here, on the coordinator.

`local:N` starts a cluster of N worker processes on this machine for the run (they inherit
only what the pipeline's agents and checks may be given, never the tracker's key:
engine/run/environment.py, `worker_names`), with a bare repository in .marathon/cluster/ as
the remote unless one is configured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.cluster.job import PhaseJob, PhaseResult
from engine.config.model import ExecutorConfig
from engine.errors import EXIT_BAD_INPUT, EXIT_FAILED, MarathonError
from engine.git import remote
from engine.run import environment, process
from engine.run.executor import LOCAL, Work
from engine.run.process import ProcessOutcome

INSTALL_HINT = "the dask executor needs Dask distributed: pip install 'marathon-engine[cluster]'"
POLL_SECONDS = 0.25


class DaskExecutor:
    remote = True

    def __init__(
        self,
        config: ExecutorConfig,
        state_dir: Path,
        never: tuple[str, ...],
        inherit: tuple[str, ...] = environment.BASICS,
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        # What the workers of a local cluster inherit (patterns), and never.
        self.inherit, self.never = inherit, never
        # A local cluster's remote is a bare repository here, unless one is configured.
        local = str(state_dir / "cluster" / "remote.git") if config.local_cluster else ""
        self.remote_url = config.remote or local
        self._client: Any = None
        self._cluster: Any = None
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return self.config.scheduler

    def connect(self) -> None:
        """Reach the scheduler (or start the local cluster) and see an agent slot; raises a
        MarathonError saying what to do when that fails. Once per run."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()

    def _connect(self) -> Any:
        try:
            import distributed
        except ImportError:
            raise MarathonError(INSTALL_HINT, exit_code=EXIT_BAD_INPUT) from None
        timeout = self.config.connect_timeout
        if self.config.local_cluster:
            slots = self.config.agents_per_worker
            if not self.config.remote:
                remote.init_bare(Path(self.remote_url))
            with _environment_only(self.inherit, self.never):
                self._cluster = distributed.LocalCluster(
                    n_workers=self.config.local_cluster,
                    # Threads beyond the agent slots: commands (and Dask's own work) never
                    # wait behind agents for a thread.
                    threads_per_worker=slots + 2,
                    processes=True,
                    resources={"agent": slots},
                    dashboard_address=None,
                    local_directory=str(self.state_dir / "cluster" / "workers"),
                    silence_logs=logging.ERROR,
                )
            return distributed.Client(self._cluster, timeout=timeout, set_as_default=False)
        try:
            client = distributed.Client(self.address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise MarathonError(
                f"cannot reach the Dask scheduler at {self.address} ({_reason(exc)}); start it "
                "(`dask scheduler`) or fix executor.scheduler in marathon.yaml",
                exit_code=EXIT_FAILED,
            ) from None
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            client.close()
            raise MarathonError(
                f"the Dask scheduler at {self.address} has no worker after {timeout:g}s; start "
                f"one: `dask worker {self.address} --resources agent=2`",
                exit_code=EXIT_FAILED,
            ) from None
        workers = client.scheduler_info().get("workers", {}).values()
        if not any(worker.get("resources", {}).get("agent") for worker in workers):
            client.close()
            raise MarathonError(
                f"no worker of {self.address} offers agent slots; start workers with "
                "`--resources agent=K` (K agents at once per machine)",
                exit_code=EXIT_FAILED,
            )
        return client

    def run(self, work: Work, on_start: Callable[[int], None] | None = None) -> ProcessOutcome:
        """Checks run here, in the issue's worktree on the coordinator."""
        return LOCAL.run(work, on_start)

    def run_phase(
        self,
        job: PhaseJob,
        *,
        agent: bool,
        on_output: Callable[[dict[str, Any]], None] | None = None,
    ) -> PhaseResult:
        """Run `job` on a worker (one agent slot for an agent phase) and wait for it; Ctrl-C
        here cancels it there. `on_output` gets what it prints while it runs (whole lines:
        `{"at": byte, "end": byte, "text": ...}`), as Dask events."""
        from distributed import CancelledError, KilledWorker

        from engine.cluster.worker import run_phase_job

        self.connect()
        key = f"{job.task}@{job.run_key}#{uuid.uuid4().hex[:8]}"
        if on_output is not None:
            job = dataclasses.replace(job, stream=f"marathon-output {key}")
            self._client.subscribe_topic(job.stream, lambda event: on_output(event[1]))
        future = self._client.submit(
            run_phase_job,
            job,
            key=key,
            pure=False,
            resources={"agent": 1} if agent else None,
        )
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        try:
            # Waited for here, not with result(timeout=...): distributed's timed wait can lose
            # a result that arrives as the timeout expires (UnboundLocalError, seen under load).
            while not done.wait(POLL_SECONDS):
                if process.was_interrupted():
                    future.cancel()
                    return PhaseResult(exit_code=-1, interrupted=True)
            result: PhaseResult = future.result()
            return result
        except KilledWorker as exc:
            return PhaseResult(
                exit_code=-1,
                error=f"the cluster lost every worker it gave the phase to ({_reason(exc)})",
            )
        except CancelledError:
            return PhaseResult(exit_code=-1, interrupted=True, error="cancelled on the cluster")
        except Exception as exc:  # raised on the worker: its own error, one line
            return PhaseResult(exit_code=-1, error=f"failed on the worker: {_reason(exc)}")
        finally:
            future.release()
            if job.stream:
                with contextlib.suppress(Exception):
                    self._client.unsubscribe_topic(job.stream)

    def close(self) -> None:
        with self._lock:
            client, cluster = self._client, self._cluster
            self._client = self._cluster = None
        with contextlib.suppress(Exception):
            if client is not None:
                client.close()
        with contextlib.suppress(Exception):
            if cluster is not None:
                cluster.close()


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


@contextlib.contextmanager
def _environment_only(patterns: tuple[str, ...], never: tuple[str, ...]) -> Iterator[None]:
    """Worker processes started meanwhile (once, before any task runs) inherit only the
    variables `patterns` match, never `never`: what their agents and checks may be given, not
    every credential of the shell the run was started from."""
    saved = dict(os.environ)
    kept = environment.allowed(patterns, never=never)
    os.environ.clear()
    os.environ.update(kept)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
