"""A real Dask cluster for the tests and benchmarks: a `dask scheduler` process and `dask
worker` processes, each worker under a root folder of its own (MARATHON_WORKER_ROOT), and a
bare repository as the shared git remote. The stand-in agent's MARATHON_STANDIN_WHERE and
_LEDGER files sit beside them, so a test sees where every agent ran."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import doit_env

REPO = Path(__file__).resolve().parents[1]
SECRET = "lin_api_never_on_a_worker_0d1e"  # in every worker's environment, never an agent's


@dataclass
class Cluster:
    address: str
    remote: Path
    roots: list[Path]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    where: Path = Path()
    ledger: Path = Path()

    def executor(self, timeout: float = 20) -> str:
        return (
            f"executor: {{kind: dask, scheduler: '{self.address}', remote: '{self.remote}', "
            f"connect_timeout: {timeout}}}\n"
        )

    def checked(self) -> list[str]:
        """Where the `where` check of the cluster tests ran (its CHECK_LOG lines)."""
        path = self.where.with_name("checks.log")
        return path.read_text().splitlines() if path.exists() else []

    def seen(self) -> list[dict[str, object]]:
        if not self.where.exists():
            return []
        return [json.loads(line) for line in self.where.read_text().splitlines()]


def _worker_env(cluster_dir: Path, root: Path) -> dict[str, str]:
    env = {**doit_env(), "PYTHONPATH": str(REPO), "MARATHON_WORKER_ROOT": str(root)}
    env["MARATHON_STANDIN_WHERE"] = str(cluster_dir / "where.jsonl")
    env["MARATHON_STANDIN_LEDGER"] = str(cluster_dir / "ledger")
    env["CHECK_LOG"] = str(cluster_dir / "checks.log")
    env["LINEAR_API_KEY"] = SECRET  # on the machine, and still never given to an agent
    return env


def start_worker(
    cluster: Cluster, index: int, cluster_dir: Path, slots: int = 2
) -> subprocess.Popen[bytes]:
    root = cluster.roots[index]
    proc = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", cluster.address,
         # more threads than agent slots: commands never wait behind agents for a thread
         "--nthreads", str(slots + 2), "--resources", f"agent={slots}",
         "--no-nanny", "--no-dashboard",
         "--name", f"w{index}", "--local-directory", str(root / "dask"), "--host", "127.0.0.1"],
        env=_worker_env(cluster_dir, root),
        stdout=subprocess.DEVNULL,
        stderr=open(cluster_dir / f"w{index}.err", "ab"),  # noqa: SIM115
        start_new_session=True,
    )  # fmt: skip
    return proc


@contextlib.contextmanager
def running_cluster(tmp_path: Path, workers: int = 3, slots: int = 2) -> Iterator[Cluster]:
    from distributed import Client

    folder = tmp_path / "cluster"
    folder.mkdir()
    remote = folder / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    # Port 0: the scheduler takes a free port itself and says which in its file (a port
    # picked here could be taken by another test's scheduler before this one binds it).
    address_file = folder / "scheduler.json"
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--no-dashboard", "--scheduler-file", str(address_file)],
        env={**doit_env(), "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "scheduler.err", "ab"),  # noqa: SIM115
        start_new_session=True,
    )  # fmt: skip
    cluster = Cluster(
        address=_address(address_file, scheduler),
        remote=remote,
        roots=[folder / f"worker-{i}" for i in range(workers)],
        where=folder / "where.jsonl",
        ledger=folder / "ledger",
    )
    try:
        cluster.workers = [start_worker(cluster, i, folder, slots) for i in range(workers)]
        client = Client(cluster.address, timeout=60)
        client.wait_for_workers(workers, timeout=90)
        client.close()
        yield cluster
    finally:
        for proc in [*cluster.workers, scheduler]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _address(path: Path, scheduler: subprocess.Popen[bytes], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError):
            return str(json.loads(path.read_text())["address"])
        if scheduler.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with {scheduler.returncode}")
        time.sleep(0.05)
    raise RuntimeError("dask scheduler did not start")


def free_port() -> int:
    """A port nothing listens on now (for a scheduler that is never started)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
