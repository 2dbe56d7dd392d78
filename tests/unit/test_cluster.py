"""The Dask executor's parts one by one: choosing it, what a job carries, what a worker does
with a job (engine/cluster/worker.py, run here without Dask on real git repositories and a
bare remote), and the coordinator's git transport (engine/git/remote.py)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from engine.cluster import worker
from engine.cluster.job import PhaseJob, run_ref
from engine.compile import PhaseTask
from engine.config.load import parse_pipeline
from engine.config.model import ExecutorConfig
from engine.doit_run import executor_option
from engine.errors import MarathonError
from engine.git import remote, repo
from engine.issue import Issue
from engine.run import process
from engine.run.executor import LOCAL, OVERRIDE_ENV, chosen_config, executor_for
from engine.run.remote_phase import job_for
from engine.run.runtime import Runtime

DASK = ExecutorConfig(kind="dask", scheduler="tcp://10.0.0.5:8786", remote="/srv/m.git")


@pytest.mark.parametrize(
    ("override", "kind", "scheduler"),
    [
        ("", "dask", "tcp://10.0.0.5:8786"),
        ("local", "local", "tcp://10.0.0.5:8786"),
        ("dask", "dask", "tcp://10.0.0.5:8786"),
        ("dask-local:3", "dask", "local:3"),
        ("tcp://127.0.0.1:9999", "dask", "tcp://127.0.0.1:9999"),
    ],
)
def test_one_run_can_choose_another_executor(override: str, kind: str, scheduler: str) -> None:
    chosen = chosen_config(DASK, override)
    assert (chosen.kind, chosen.scheduler) == (kind, scheduler)


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("kubernetes", "give local, dask, dask-local:N or a scheduler address"),
        ("dask-local", "give a worker count, e.g. local:3"),
        ("dask-local:x", "give a worker count"),
    ],
)
def test_a_bad_executor_override_is_one_line(override: str, says: str) -> None:
    with pytest.raises(MarathonError) as raised:
        chosen_config(ExecutorConfig(), override)
    assert raised.value.exit_code == 2
    assert raised.value.one_line().startswith(f"executor {override!r} ({OVERRIDE_ENV} or")
    assert says in raised.value.one_line()


def test_remotes_elsewhere_are_not_the_workspace(tmp_path: Path) -> None:
    for url in ("../shared.git", "/srv/marathon.git", "ssh://host/x.git", "host:x.git"):
        text = (
            "phases:\n  verify: {command: 'true'}\n"
            f"executor: {{kind: dask, scheduler: 'tcp://h:1', remote: '{url}'}}\n"
        )
        assert parse_pipeline(text, path=tmp_path / "m.yaml", root=tmp_path).executor.remote == url


def test_a_scheduler_elsewhere_needs_a_remote_every_machine_reaches() -> None:
    with pytest.raises(MarathonError, match="remote:"):
        chosen_config(ExecutorConfig(), "tcp://10.0.0.5:8786")
    assert chosen_config(ExecutorConfig(), "dask-local:2").remote == ""  # made for the run


@pytest.mark.parametrize(
    ("executor", "where", "says"),
    [
        ("{kind: dask}", "executor", "needs scheduler:"),
        ("{kind: dask, scheduler: 'local:0'}", "executor.scheduler", "give a worker count"),
        ("{kind: dask, scheduler: 'host:8786'}", "executor.scheduler", "not a scheduler address"),
        ("{kind: dask, scheduler: 'tcp://h:1'}", "executor", "need remote:"),
        ("{kind: swarm}", "executor.kind", "expected one of: dask, local"),
        ("{kind: dask, scheduler: 'tcp://h:1', remote: '--upload-pack=touch x'}",
         "executor.remote", "starts with '-'"),
        ("{kind: dask, scheduler: 'local:2', agents_per_worker: 0}", "executor.agents_per_worker",
         "minimum"),
        ("{kind: dask, scheduler: 'tcp://h:1', remote: '.'}", "executor.remote",
         "this workspace itself"),
        ("{kind: dask, scheduler: 'tcp://h:1', remote: 'sub/../.git'}", "executor.remote",
         "this workspace itself"),
        ("{kind: dask, scheduler: 'local:2', remote: 'file://WS'}", "executor.remote",
         "this workspace itself"),
    ],
)  # fmt: skip
def test_a_bad_executor_in_marathon_yaml_names_its_place(
    tmp_path: Path, executor: str, where: str, says: str
) -> None:
    executor = executor.replace("WS", str(tmp_path))
    text = f"phases:\n  verify: {{command: 'true'}}\nexecutor: {executor}\n"
    with pytest.raises(MarathonError) as raised:
        parse_pipeline(text, path=tmp_path / "marathon.yaml", root=tmp_path)
    line = raised.value.one_line()
    assert line.startswith("marathon.yaml:3:") and f"{where}:" in line and says in line, line


def test_the_executor_option_is_taken_out_for_doit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OVERRIDE_ENV, "")  # restored afterwards: executor_option sets it
    assert executor_option(["-n", "8", "marathon", "--executor", "dask-local:3"]) == [
        "-n", "8", "marathon",
    ]  # fmt: skip
    assert os.environ[OVERRIDE_ENV] == "dask-local:3"
    assert executor_option(["marathon", "--executor=local"]) == ["marathon"]
    assert os.environ[OVERRIDE_ENV] == "local"
    for missing in (["marathon", "--executor"], ["--executor", "-n", "4", "marathon"]):
        with pytest.raises(MarathonError, match="--executor needs a value"):
            executor_option(missing)


def test_the_local_executor_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OVERRIDE_ENV, raising=False)
    pipeline = parse_pipeline("phases:\n  verify: {command: 'true'}\n", path=tmp_path / "m.yaml",
                              root=tmp_path)  # fmt: skip
    assert executor_for(pipeline) is LOCAL
    monkeypatch.setenv(OVERRIDE_ENV, "dask-local:2")
    chosen = executor_for(pipeline)
    assert chosen.remote and chosen.config.local_cluster == 2  # type: ignore[attr-defined]


# --- what a job carries -----------------------------------------------------------------


class _Remote:
    remote = True
    remote_url = "/srv/marathon.git"


def test_a_job_carries_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent's key is taken by the worker from its own environment, by name; the
    tracker's key is never given at all. Neither travels through the scheduler."""
    from tests.fakes.agents import FAKE_BIN

    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-coordinator-only")
    monkeypatch.setenv("LINEAR_API_KEY", "lin_api_coordinator_only")
    text = (
        "agents:\n  claude: {preset: claude, env: {PLAIN: shown}}\n"
        "phases:\n  code: {agent: claude, prompt: code.md.j2, writes: ['src/**']}\n"
    )
    (tmp_path / ".git").mkdir()
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    pipeline = parse_pipeline(text, path=tmp_path / "marathon.yaml", root=tmp_path)
    issue = Issue(id="PROJ-1", title="t", description="d", state="started", priority=3)
    ctx = PhaseTask(pipeline, issue, pipeline.phases["code"])
    rt = Runtime(pipeline, records=None, executor=_Remote())  # type: ignore[arg-type]
    from engine.agents.presets import get_preset

    job = job_for(ctx, rt, 7, "the prompt", get_preset(pipeline.agents["claude"]), "abc123")
    wire = pickle.dumps(job)
    assert b"sk-ant-coordinator-only" not in wire and b"lin_api_coordinator_only" not in wire
    assert "ANTHROPIC_*" in job.env_names  # by name: the worker reads its own
    assert "LINEAR_API_KEY" in job.never
    assert job.env["PLAIN"] == "shown"
    assert job.run_ref == run_ref("PROJ-1", "code", job.run_key)
    assert job.placeholder == str(tmp_path / ".marathon" / "worktrees" / "PROJ-1")


# --- what a worker does with a job --------------------------------------------------------


def _git(root: Path, *args: str) -> str:
    return repo.git(root, *args).stdout.strip()


@pytest.fixture
def origin(tmp_path: Path) -> tuple[str, str]:
    """A bare remote with branch marathon/PROJ-1 at a first commit: (url, sha)."""
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    seed = tmp_path / "seed"
    seed.mkdir()
    _git(seed, "init", "-q")
    (seed / "README").write_text("hello\n")
    _git(seed, "add", "README")
    _git(seed, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", "first")
    sha = _git(seed, "rev-parse", "HEAD")
    _git(seed, "push", "-q", str(bare), f"{sha}:refs/heads/marathon/PROJ-1")
    return str(bare), sha


def _job(origin: tuple[str, str], script: str, **changes: object) -> PhaseJob:
    url, sha = origin
    job = PhaseJob(
        task="issue:PROJ-1:code",
        issue="PROJ-1",
        phase="code",
        run_key="s1-7",
        remote=url,
        branch="marathon/PROJ-1",
        base=sha,
        run_ref=run_ref("PROJ-1", "code", "s1-7"),
        message="PROJ-1 code: the title",
        writes=("src/**", ".marathon/plans/PROJ-1.md"),
        timeout=30,
        command=(sys.executable, "-c", script),
        env_names=("PATH", "HOME"),
        identity=("Ann Coder", "ann@example.com"),
    )
    return replace(job, **changes)  # type: ignore[arg-type]


WRITE = (
    "import os, pathlib; pathlib.Path('src').mkdir(); pathlib.Path('src/a.py').write_text('x=1')"
)


def test_a_worker_commits_the_write_set_and_pushes_it_to_the_runs_ref(
    tmp_path: Path, origin: tuple[str, str]
) -> None:
    job = _job(origin, WRITE + "; pathlib.Path('notes.txt').write_text('stray'); print('done')")
    result = worker.run_phase_job(job, root=tmp_path / "w")
    assert result.exit_code == 0 and not result.error
    assert result.committed == ("src/a.py",) and result.outside == ("notes.txt",)
    assert "done" in result.output and result.produced
    assert remote.listed(tmp_path, job.remote, job.run_ref) == {job.run_ref: result.commit}
    message = _git(Path(job.remote), "log", "-1", "--format=%an <%ae>%n%B", result.commit)
    assert message.startswith("Ann Coder <ann@example.com>\nPROJ-1 code: the title")
    assert "Marathon-Task: issue:PROJ-1:code" in message and "Marathon-Run: s1-7" in message
    files = _git(Path(job.remote), "show", "--name-only", "--format=", result.commit)
    assert files.split() == ["src/a.py"]  # the stray file is not committed
    assert not list((tmp_path / "w" / "runs").iterdir())  # its checkout is gone


def test_the_same_run_sent_twice_is_done_once(tmp_path: Path, origin: tuple[str, str]) -> None:
    """Dask runs a task again when its worker died after the work was done: the pushed ref
    says it is done, and nothing runs or commits twice."""
    job = _job(origin, WRITE + "; open('ran', 'a').write('x')")
    first = worker.run_phase_job(job, root=tmp_path / "w1")
    again = worker.run_phase_job(job, root=tmp_path / "w2")
    assert again.earlier and again.commit == first.commit
    assert not (tmp_path / "w2" / "runs").exists() or not list((tmp_path / "w2" / "runs").iterdir())


def test_an_agent_that_commits_gets_its_commit_turned_into_changes(
    tmp_path: Path, origin: tuple[str, str]
) -> None:
    script = WRITE + (
        "; import subprocess as s; s.run(['git', 'add', '-A']);"
        " s.run(['git', '-c', 'user.name=a', '-c', 'user.email=a@x', 'commit', '-qm', 'mine'])"
    )
    result = worker.run_phase_job(_job(origin, script), root=tmp_path / "w")
    assert result.agent_committed and result.committed == ("src/a.py",)
    parent = _git(Path(origin[0]), "rev-parse", f"{result.commit}^")
    assert parent == origin[1]  # the engine's one commit, straight on the base


def test_state_files_travel_both_ways(tmp_path: Path, origin: tuple[str, str]) -> None:
    script = (
        "import pathlib; p = pathlib.Path('.marathon/plans/PROJ-1.md');"
        " p.write_text(p.read_text() + 'step 2\\n');"
        " pathlib.Path('.marathon/other').write_text('x')"
    )
    job = _job(origin, script, state_files={".marathon/plans/PROJ-1.md": "step 1\n"})
    result = worker.run_phase_job(job, root=tmp_path / "w")
    assert result.state_files == {".marathon/plans/PROJ-1.md": "step 1\nstep 2\n"}
    assert result.commit == "" and result.outside == ()  # .marathon is never work in git


def test_the_prompt_and_paths_name_the_workers_checkout(
    tmp_path: Path, origin: tuple[str, str]
) -> None:
    script = (
        "import os, sys, pathlib; pathlib.Path('src').mkdir();"
        " pathlib.Path('src/seen').write_text(sys.stdin.read() + '|' + os.environ['WHERE'])"
    )
    job = _job(origin, script, command=(), env={"WHERE": "/coordinator/wt/PROJ-1"})
    job = replace(job, command=(sys.executable, "-c", script), placeholder="/coordinator/wt/PROJ-1")
    # A command phase gets no prompt on stdin: the env is where the path shows.
    result = worker.run_phase_job(job, root=tmp_path / "w")
    seen = _git(Path(origin[0]), "show", f"{result.commit}:src/seen")
    assert "/coordinator" not in seen and str(tmp_path / "w" / "runs") in seen


def test_a_base_the_remote_does_not_have_is_one_line(
    tmp_path: Path, origin: tuple[str, str]
) -> None:
    result = worker.run_phase_job(_job(origin, WRITE, base="0" * 40), root=tmp_path / "w")
    assert result.exit_code == -1
    assert result.error.startswith("commit 000000000000 is not on marathon/PROJ-1 at ")


def test_an_orphaned_agent_of_a_dead_worker_is_killed(tmp_path: Path) -> None:
    """A worker SIGKILLed leaves its agent running; the next job on that root stops it."""
    state = tmp_path / "runs" / "x.state"
    state.mkdir(parents=True)
    agent = subprocess.Popen(["sleep", "60"], start_new_session=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (state / "agent.pgid").write_text(
        f"{agent.pid} {process.start_token(agent.pid)} {dead.pid} gone"
    )
    assert worker.reap_orphans(tmp_path) == [agent.pid]
    assert agent.wait(timeout=5) == -9
    # A live worker's agent is left alone.
    alive = subprocess.Popen(["sleep", "60"], start_new_session=True)
    me = f"{os.getpid()} {process.start_token(os.getpid())}"
    (state / "agent.pgid").write_text(f"{alive.pid} {process.start_token(alive.pid)} {me}")
    assert worker.reap_orphans(tmp_path) == []
    alive.kill()
    alive.wait()


# --- the coordinator's transport ----------------------------------------------------------


def test_a_siblings_commit_is_replayed_on_top(tmp_path: Path, origin: tuple[str, str]) -> None:
    """TEST and QA start from the same head; the second to finish lands on the first."""
    url, base = origin
    test = worker.run_phase_job(
        _job(origin, "import pathlib; pathlib.Path('t.py').write_text('t')", writes=("t.py",),
             run_ref=run_ref("PROJ-1", "test", "s1-8"), run_key="s1-8"), root=tmp_path / "w1",
    )  # fmt: skip
    qa = worker.run_phase_job(
        _job(origin, "import pathlib; pathlib.Path('e.py').write_text('e')", writes=("e.py",),
             run_ref=run_ref("PROJ-1", "qa", "s1-9"), run_key="s1-9"), root=tmp_path / "w2",
    )  # fmt: skip
    here = tmp_path / "here"
    subprocess.run(["git", "clone", "-q", "-b", "marathon/PROJ-1", url, str(here)], check=True)
    for result, ref in (
        (test, run_ref("PROJ-1", "test", "s1-8")),
        (qa, run_ref("PROJ-1", "qa", "s1-9")),
    ):
        remote.fetch(here, url, ref)
        head = remote.integrate(here, result.commit)
    assert _git(here, "rev-parse", "HEAD~1") == test.commit  # fast-forward: the same commit
    assert head != qa.commit and _git(here, "rev-parse", "HEAD~2") == base
    assert sorted(_git(here, "ls-files").split()) == ["README", "e.py", "t.py"]
    # Taken again (a coordinator killed before recording it): still once.
    assert remote.integrate(here, qa.commit) == head
    assert remote.integrate(here, test.commit) == head


def test_a_result_carries_its_commit_so_no_fetch_is_needed(
    tmp_path: Path, origin: tuple[str, str]
) -> None:
    url = origin[0]
    result = worker.run_phase_job(_job(origin, WRITE), root=tmp_path / "w")
    here = tmp_path / "here"
    # --no-local: a local clone would copy every object, the worker's commit included.
    subprocess.run(
        ["git", "clone", "-q", "--no-local", "-b", "marathon/PROJ-1", url, str(here)], check=True
    )
    assert not remote.receive(here, b"", result.commit)  # not here yet
    assert remote.receive(here, result.pack, result.commit)
    assert remote.integrate(here, result.commit, result.base) == result.commit
    assert (here / "src" / "a.py").read_text() == "x=1"


def test_forgetting_an_issue_removes_its_refs_from_the_remote(
    tmp_path: Path, origin: tuple[str, str]
) -> None:
    """EXIT and `doit clean issue:ID` leave nothing of the issue on the remote; other issues'
    refs stay."""
    from engine.run import remote_phase

    url, sha = origin
    seed = tmp_path / "seed"
    for ref in (run_ref("PROJ-1", "code", "s-1"), run_ref("PROJ-10", "code", "s-2"),
                "refs/heads/marathon/PROJ-10"):  # fmt: skip
        _git(seed, "push", "-q", url, f"{sha}:{ref}")
    subprocess.run(["git", "init", "-q", str(tmp_path / "ws")], check=True)
    pipeline = parse_pipeline(
        "phases:\n  verify: {command: 'true'}\n", path=tmp_path / "ws" / "m.yaml",
        root=tmp_path / "ws",
    )  # fmt: skip
    remote_url = type("Remote", (), {"remote": True, "remote_url": url})()
    rt = Runtime(pipeline, records=None, executor=remote_url)  # type: ignore[arg-type]
    remote_phase.forget(rt, "PROJ-1")
    left = sorted(remote.listed(tmp_path, url, "refs/*"))
    assert left == [
        "refs/heads/marathon/PROJ-10", run_ref("PROJ-10", "code", "s-2")
    ]  # fmt: skip
