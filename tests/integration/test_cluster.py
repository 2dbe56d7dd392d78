"""The Dask executor on a real cluster: a `dask scheduler` process and `dask worker` processes
started here, each worker under a root folder of its own, a bare repository as the git remote
(issue 19). The durability assertions are the kill -9 tests': nothing redone, no duplicate
commit, nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from engine.git import repo
from engine.issue import Edge, IssueDraft
from engine.records import Records
from engine.run import process
from engine.trackers.local import LocalTracker
from engine.workspace import scaffold
from tests.cluster import SECRET, Cluster, free_port, running_cluster
from tests.conftest import doit_env, run_doit

pytest.importorskip("distributed")
pytestmark = pytest.mark.integration

# Templates without the workspace path: the same issue gives the same prompt in any folder, so
# a local run and a cluster run of the same marathon write the same bytes.
TEMPLATES = {
    "plan.md.j2": "Plan {{ issue.id }}: {{ issue.title }}\n{{ issue.description }}\n",
    "code.md.j2": "Code {{ issue.id }} by the plan:\n{{ plan }}\n",
    "test.md.j2": "Unit tests for {{ issue.id }}\n",
    "qa.md.j2": "End-to-end tests for {{ issue.id }}\n",
}


def pipeline_text(executor: str = "", sleep: str = "0.05") -> str:
    return f"""\
key_prefix: PROJ
agents:
  bot: {{preset: standin, sleep: {sleep}}}
checks:
  unit: {{command: ["true"], reads: ["src/**"]}}
  where: {{command: ["sh", "-c", 'test -z "$CHECK_LOG" || pwd >> "$CHECK_LOG"'],
           reads: ["src/**"], env: [CHECK_LOG]}}
phases:
  verify: {{checks: [unit]}}
  plan: {{after: [verify], agent: bot, prompt: plan.md.j2, writes: [".marathon/plans/{{id}}.md"],
          must_produce: true}}
  code: {{after: [plan], agent: bot, prompt: code.md.j2, reads: [".marathon/plans/{{id}}.md",
          "src/**"], writes: ["src/**"], must_produce: true}}
  test: {{after: [code], agent: bot, prompt: test.md.j2, writes: ["tests/unit/**"]}}
  qa: {{after: [code], agent: bot, prompt: qa.md.j2, writes: ["tests/e2e/**"]}}
  gate: {{after: [test, qa], checks: all, where: branch}}
  exit: {{after: [gate], builtin: exit}}
{executor}"""


def make_workspace(folder: Path, executor: str = "", sleep: str = "0.05", issues: int = 8) -> Path:
    root = scaffold(folder, pipeline_text=pipeline_text(executor, sleep))
    (root / "templates").mkdir(exist_ok=True)
    for name, text in TEMPLATES.items():
        (root / "templates" / name).write_text(text)
    tracker = LocalTracker(root / ".marathon" / "tracker.db", "PROJ")
    drafts = [IssueDraft(f"k{n}", f"issue {n}", f"work item {n}") for n in range(issues)]
    # Two chains and a fan-in: k0 -> k1 -> k2, k3 -> k4, k2 and k4 -> k5; k6, k7 alone.
    edges = [("k0", "k1"), ("k1", "k2"), ("k3", "k4"), ("k2", "k5"), ("k4", "k5")]
    tracker.import_issues(drafts, [Edge(a, b) for a, b in edges if int(b[1:]) < issues])
    return root


def commits(root: Path) -> list[tuple[str, str]]:
    """(subject, Marathon-Task) of every engine commit on the target."""
    out = repo.git(
        root, "log", "--format=%s%x00%(trailers:key=Marathon-Task,valueonly,separator=)"
    ).stdout
    return [tuple(line.split("\0")) for line in out.splitlines() if "\0" in line]  # type: ignore[misc]


def tree(root: Path) -> dict[str, str]:
    """path -> blob of the target's tree (what the marathon merged), the pipeline aside (its
    executor: differs)."""
    out = repo.git(root, "ls-tree", "-r", "HEAD").stdout
    blobs = {line.split("\t")[1]: line.split()[2] for line in out.splitlines()}
    return {path: blob for path, blob in blobs.items() if path != "marathon.yaml"}


def assert_durable(root: Path) -> None:
    """Each phase's work committed exactly once, every run recorded and finished, each
    phase task succeeded once, nothing left on the remote or in worktrees."""
    tasks = Counter(task for _, task in commits(root) if task)
    assert tasks and max(tasks.values()) == 1, f"duplicate commits: {tasks.most_common(3)}"
    runs = Records(root / ".marathon" / "records.db").runs()
    assert not [run for run in runs if run.status == "running"]
    # (checks run again on each branch's gate: only phases count)
    succeeded = Counter(run.task for run in runs if run.status == "success" and run.issue)
    assert max(succeeded.values()) == 1, f"a finished phase was redone: {succeeded.most_common(3)}"
    assert not (root / ".marathon" / "worktrees").exists() or not any(
        (root / ".marathon" / "worktrees").iterdir()
    )


def test_a_marathon_on_three_workers_merges_what_one_machine_merges(tmp_path: Path) -> None:
    local = make_workspace(tmp_path / "local")
    done = run_doit(local, "-n", "6", "marathon", timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    with running_cluster(tmp_path) as cluster:
        ws = make_workspace(tmp_path / "ws", cluster.executor())
        result = run_doit(ws, "-n", "6", "marathon", timeout=240, env={"LINEAR_API_KEY": SECRET})
        assert result.returncode == 0, result.stdout + result.stderr
        seen = cluster.seen()
        remote_refs = repo.git(cluster.remote, "for-each-ref").stdout
        checked = cluster.checked()

    # The same merged tree and the same commits as on one machine.
    assert tree(ws) == tree(local)
    assert sorted(commits(ws)) == sorted(commits(local))
    assert len([c for c in commits(ws) if c[1]]) == 8 * 3  # code, test, qa (a plan is state)
    for path in (ws, local):
        assert (path / ".marathon" / "plans" / "PROJ-1.md").read_text().startswith("# PROJ-1 plan")
    assert (ws / ".marathon" / "plans" / "PROJ-3.md").read_text() == (
        local / ".marathon" / "plans" / "PROJ-3.md"
    ).read_text()

    def outcomes(root: Path) -> Counter[tuple[str, str]]:
        runs = Records(root / ".marathon" / "records.db").runs()
        return Counter((run.task, run.status) for run in runs)

    assert outcomes(ws) == outcomes(local)
    assert_durable(ws)
    # Every agent ran on a worker, in the worker's own folder, and never saw the
    # coordinator's paths (in its working directory, its variables or its prompt) nor the
    # tracker's key, which is in the environment of both machines.
    assert len(seen) == 8 * 4
    roots = [str(r) for r in cluster.roots]
    for run in seen:
        assert str(run["cwd"]).startswith(tuple(roots)), run["cwd"]
        texts = [str(run["cwd"]), str(run["prompt"]), *dict(run["paths"]).values()]  # type: ignore[call-overload]
        assert not [t for t in texts if str(ws) in t], run["task"]
        assert "LINEAR_API_KEY" not in run["env"]  # type: ignore[operator]
    assert len({str(run["cwd"]).split("/runs/")[0] for run in seen}) >= 2  # spread over workers
    # The gates' checks ran on the workers too, at each branch's head (again for an issue
    # whose target moved before its merge).
    assert all(line.startswith(tuple(roots)) for line in checked)
    assert {line.split("/runs/issue_")[1].split("_")[0] for line in checked} == {
        f"PROJ-{n}" for n in range(1, 9)
    }
    # Nothing of the issues left on the remote after their merges.
    assert "refs/heads/marathon/" not in remote_refs and "refs/marathon/" not in remote_refs
    assert "ran on tcp://127.0.0.1" in (ws / ".marathon/logs/PROJ-1/code.log").read_text()


def test_a_worker_killed_mid_phase_the_phase_runs_again_elsewhere(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        ws = make_workspace(tmp_path / "ws", cluster.executor(), sleep="{code: 3, '*': 0.05}",
                            issues=3)  # fmt: skip
        doit = _start(ws, "-n", "3", "marathon")
        victim = _wait_for_agent(cluster, ws, "PROJ-1:code")
        worker = _worker_of(victim)
        os.kill(worker, signal.SIGKILL)
        process.kill_group(victim)  # the machine went down with it
        assert doit.wait(timeout=240) == 0, _said(ws)
        starts = [run for run in cluster.seen() if run["task"] == "PROJ-1:code"]
    assert len(starts) == 2, starts
    assert starts[0]["cwd"] != starts[1]["cwd"]
    assert_durable(ws)
    assert ("PROJ-1 code: issue 0", "issue:PROJ-1:code") in commits(ws)


def test_the_coordinator_killed_mid_run_resumes_and_cancels_what_ran(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        ws = make_workspace(tmp_path / "ws", cluster.executor(), sleep="{code: 4, '*': 0.05}",
                            issues=3)  # fmt: skip
        doit = _start(ws, "-n", "3", "marathon")
        victim = _wait_for_agent(cluster, ws, "PROJ-1:code")
        os.killpg(doit.pid, signal.SIGKILL)
        doit.wait()
        # The scheduler sees its client go and releases the phase: the worker stops the agent
        # rather than let it spend (and later push) for a run nobody records.
        deadline = time.monotonic() + 30
        while process.pid_alive(victim) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not process.pid_alive(victim), "the orphaned agent kept running on its worker"
        again = run_doit(ws, "-n", "3", "marathon", timeout=240)
        assert again.returncode == 0, again.stdout + again.stderr
    assert_durable(ws)
    assert ("PROJ-1 code: issue 0", "issue:PROJ-1:code") in commits(ws)


def test_an_unreachable_scheduler_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    executor = (
        f"executor: {{kind: dask, scheduler: 'tcp://127.0.0.1:{free_port()}', "
        f"remote: '{tmp_path / 'none.git'}', connect_timeout: 1}}\n"
    )
    ws = make_workspace(tmp_path / "ws", executor, issues=2)
    result = run_doit(ws, "-n", "2", "marathon", timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: cannot reach the Dask scheduler")
    assert "Traceback" not in result.stdout + result.stderr
    assert Records(ws / ".marathon" / "records.db").runs() == []


def on_run_pushed(cluster: Cluster, run: str, action: str) -> Path:
    """A post-receive hook on the remote running shell `action` when a ref of
    refs/marathon/runs/<run>/ arrives: the worst moment, placed exactly."""
    hook = cluster.remote / "hooks" / "post-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "while read old new ref; do\n"
        f'  case "$ref" in refs/marathon/runs/{run}/*)\n'
        f"    {action} ;;\n"
        "  esac\n"
        "done\n"
    )
    hook.chmod(0o755)
    return hook


def _start(ws: Path, *args: str) -> subprocess.Popen[str]:
    """doit in the background, leading its own process group, its output in doit.out."""
    out = open(ws.parent / "doit.out", "a")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "doit", *args], cwd=ws, env=doit_env(), stdout=out,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def _said(ws: Path) -> str:
    out = ws.parent / "doit.out"
    return out.read_text()[-3000:] if out.exists() else ""


def _wait_for_agent(cluster: Cluster, ws: Path, task: str, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in cluster.seen():
            if run["task"] == task:
                return int(run["pid"])  # type: ignore[call-overload]
        time.sleep(0.05)
    raise AssertionError(f"{task} never started on the cluster; doit said:\n{_said(ws)}")


def _worker_of(pid: int) -> int:
    """The worker process an agent runs under (its parent)."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(stat[1])


def test_the_coordinator_killed_after_a_worker_pushed_adopts_the_pushed_run(
    tmp_path: Path,
) -> None:
    """The worst moment: the worker's commit is on the remote and the coordinator dies before
    it takes it (a post-receive hook on the remote kills doit as the run's ref arrives). The
    rerun finds the run's ref and records that run's work: the agent is not paid twice."""
    with running_cluster(tmp_path) as cluster:
        ws = make_workspace(tmp_path / "ws", cluster.executor(), issues=2)
        pid_file = tmp_path / "doit.pid"
        hook = on_run_pushed(cluster, "PROJ-1/code", f'kill -KILL -"$(cat {pid_file})"')
        doit = _start(ws, "-n", "2", "marathon")
        pid_file.write_text(str(doit.pid))
        assert doit.wait(timeout=240) == -signal.SIGKILL, _said(ws)
        hook.unlink()
        runs = Records(ws / ".marathon" / "records.db").runs(task="issue:PROJ-1:code")
        assert [run.status for run in runs] in (["running"], ["interrupted"])
        again = run_doit(ws, "-n", "2", "marathon", timeout=240)
        assert again.returncode == 0, again.stdout + again.stderr
        starts = [run for run in cluster.seen() if run["task"] == "PROJ-1:code"]
    assert len(starts) == 1, "the pushed run was redone"
    assert_durable(ws)
    runs = Records(ws / ".marathon" / "records.db").runs(task="issue:PROJ-1:code")
    assert [run.status for run in runs] == ["success"]
    assert "adopted" in (ws / ".marathon/logs/PROJ-1/code.log").read_text()


def test_a_gate_failing_on_a_worker_is_fixed_by_an_agent_on_a_worker(tmp_path: Path) -> None:
    """The gate's check runs on a worker at the branch's head and fails; the fix agent runs
    on a worker from that head; its commit comes back; the check passes there; it merges."""
    pipeline = (
        pipeline_text()
        .replace(
            "  gate: {after: [test, qa], checks: all, where: branch}",
            "  gate: {after: [test, qa], checks: [fixed], where: branch,\n"
            "         fix: {agent: bot, prompt: fix.md.j2, attempts: 1, writes: [src/fixed.txt]}}",
        )
        .replace(
            "phases:",
            '  fixed: {command: ["test", "-f", "src/fixed.txt"], reads: ["src/**"]}\nphases:',
        )
    )
    with running_cluster(tmp_path) as cluster:
        root = scaffold(tmp_path / "ws", pipeline_text=pipeline + cluster.executor())
        tracker = LocalTracker(root / ".marathon" / "tracker.db", "PROJ")
        tracker.import_issues([IssueDraft("k0", "issue 0", "work item 0")], [])
        result = run_doit(root, "-n", "2", "marathon", timeout=240)
        assert result.returncode == 0, result.stdout + result.stderr
        fixes = [run for run in cluster.seen() if run["task"] == "PROJ-1:gate"]
    assert len(fixes) == 1 and str(fixes[0]["cwd"]).startswith(str(tmp_path / "cluster"))
    assert (root / "src" / "fixed.txt").exists()
    gate_log = (root / ".marathon/logs/PROJ-1/gate.log").read_text()
    assert "fix attempt 1 of 1" in gate_log
    assert ("PROJ-1 gate: issue 0", "issue:PROJ-1:gate") in commits(root)
    assert_durable(root)


def test_trying_it_is_one_command_with_a_cluster_started_for_the_run(tmp_path: Path) -> None:
    """`--executor dask-local:2`: two worker processes started for the run, a bare repository
    in .marathon/cluster/ as the remote, all gone when the run ends."""
    ws = make_workspace(tmp_path / "ws", issues=2)
    where = tmp_path / "where.jsonl"
    env = {
        "MARATHON_STANDIN_WHERE": str(where),
        "LINEAR_API_KEY": SECRET,
        "UNRELATED_TOKEN": "no agent or check names it",
    }
    result = run_doit(ws, "-n", "4", "marathon", "--executor", "dask-local:2", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    seen = [json.loads(line) for line in where.read_text().splitlines()]
    assert len(seen) == 2 * 4
    for run in seen:
        assert "/.marathon/cluster/workers/" in str(run["cwd"]), run["cwd"]
        assert "LINEAR_API_KEY" not in run["env"]  # type: ignore[operator]
        # The worker process itself inherited only what its agents and checks may be given.
        worker_env = run["parent_env"]
        assert isinstance(worker_env, list) and "MARATHON_STANDIN_WHERE" in worker_env
        assert "UNRELATED_TOKEN" not in worker_env and "LINEAR_API_KEY" not in worker_env
    assert "ran on tcp://127.0.0.1" in (ws / ".marathon/logs/PROJ-2/qa.log").read_text()
    bare = ws / ".marathon" / "cluster" / "remote.git"
    assert repo.git(bare, "for-each-ref").stdout == ""  # nothing of the issues left there
    assert_durable(ws)
    assert not list((ws / ".marathon" / "cluster" / "workers").glob("dask-scratch-space/w*"))


def test_what_an_agent_prints_reaches_the_log_while_it_runs(tmp_path: Path) -> None:
    """Streamed as the worker's agent prints it, each line once, the rest at the end."""
    agent = "sh -c 'echo begun; sleep 4; mkdir -p src; echo x > src/a.txt; echo finished'"
    pipeline = (
        f'agents:\n  slow: {{preset: command, command: "{agent}"}}\n'
        "phases:\n  code: {agent: slow, prompt: code.md.j2, writes: ['src/**']}\n"
        "  exit: {after: [code], builtin: exit}\n"
    )
    with running_cluster(tmp_path, workers=1) as cluster:
        root = scaffold(tmp_path / "ws", pipeline_text=pipeline + cluster.executor())
        tracker = LocalTracker(root / ".marathon" / "tracker.db", "PROJ")
        tracker.import_issues([IssueDraft("k0", "issue 0", "work item 0")], [])
        doit = _start(root, "-n", "2", "marathon")
        log = root / ".marathon/logs/PROJ-1/code.log"
        deadline = time.monotonic() + 60
        while "begun" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline and doit.poll() is None, _said(root)
            time.sleep(0.1)
        assert "finished" not in log.read_text()  # the agent still runs
        assert doit.wait(timeout=120) == 0, _said(root)
    text = log.read_text()
    assert text.count("begun") == 1 and text.count("finished") == 1
    assert text.index("begun") < text.index("finished") < text.index("=== ran on tcp://")


def test_a_worker_killed_after_it_pushed_is_not_paid_for_twice(tmp_path: Path) -> None:
    """The worker's worst moment: its commit is on the remote and it dies before answering (a
    post-receive hook on the remote kills the worker process that pushed). Dask gives the
    phase to another worker, which finds the run's ref and answers with that commit: the agent
    does not run again and the work lands once."""
    with running_cluster(tmp_path) as cluster:
        ws = make_workspace(tmp_path / "ws", cluster.executor(), issues=2)
        flag = tmp_path / "fired"
        # The worker that pushed is an ancestor of the hook: its first dask_worker process.
        on_run_pushed(
            cluster,
            "PROJ-1/code",
            f"[ -e {flag} ] && exit 0; touch {flag}; pid=$$\n"
            '    while [ "$pid" -gt 1 ]; do\n'
            "      if tr '\\0' ' ' < /proc/$pid/cmdline | grep -q dask_worker; then\n"
            '        kill -KILL "$pid"; break\n'
            "      fi\n"
            "      pid=$(awk '{print $4}' /proc/$pid/stat)\n"
            "    done",
        )
        result = run_doit(ws, "-n", "2", "marathon", timeout=240)
        assert result.returncode == 0, result.stdout + result.stderr
        assert flag.exists()
        alive = [proc.poll() is None for proc in cluster.workers]
        starts = [run for run in cluster.seen() if run["task"] == "PROJ-1:code"]
    assert alive.count(False) == 1  # the hook did kill a worker
    assert len(starts) == 1, "the agent ran again"
    assert (
        "an earlier attempt of this run pushed"
        in (ws / ".marathon/logs/PROJ-1/code.log").read_text()
    )
    assert_durable(ws)


def test_ctrl_c_on_the_coordinator_stops_the_agents_on_the_workers(tmp_path: Path) -> None:
    with running_cluster(tmp_path, workers=1) as cluster:
        ws = make_workspace(tmp_path / "ws", cluster.executor(), sleep="{code: 30, '*': 0.05}",
                            issues=1)  # fmt: skip
        doit = _start(ws, "-n", "2", "marathon")
        victim = _wait_for_agent(cluster, ws, "PROJ-1:code")
        doit.send_signal(signal.SIGINT)
        assert doit.wait(timeout=60) == 130, _said(ws)
        deadline = time.monotonic() + 30
        while process.pid_alive(victim) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not process.pid_alive(victim), "the agent kept running on its worker"
    [run] = Records(ws / ".marathon" / "records.db").runs(task="issue:PROJ-1:code")
    assert run.status == "interrupted"
