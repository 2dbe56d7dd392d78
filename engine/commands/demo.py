"""`doit -n 4 demo`: the example todo spec built end to end, no model and no API key.

A fresh git repository is made, `examples/todo/app_spec.xml` is imported, and the whole
marathon runs with the replay agent. Its cassettes are hand-made from
`examples/todo/solution/<issue key>/<phase>/` (the files an agent would write in that phase),
with the seed's phase durations; VERIFY runs the real checks (ruff, pytest) between issues.
The same marathon then runs with `-n 1` in a second repository, for comparison.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import engine
from engine.agents.base import AgentResult
from engine.agents.cassette import save_cassette
from engine.config.load import load_pipeline
from engine.errors import MarathonError
from engine.spec.importer import import_spec
from engine.trackers.open import open_snapshot
from engine.workspace import scaffold

# The seed's measured phase durations, in seconds; marathon.yaml's `speed` divides them.
PHASE_SECONDS = {"plan": 60.0, "code": 180.0, "test": 120.0, "qa": 120.0}


def example_dir() -> Path:
    found = Path(engine.__file__).resolve().parents[1] / "examples" / "todo"
    if not (found / "app_spec.xml").is_file():
        raise MarathonError(
            "the demo needs a clone of marathon-engine: examples/todo is not installed with the "
            "package (git clone the repository, then pip install -e '.[demo]')"
        )
    return found


def prepare(workspace: Path, example: Path) -> Path:
    """A new repository with the demo pipeline, the spec's issues and their cassettes."""
    if workspace.exists() and any(workspace.iterdir()):
        raise MarathonError(f"{workspace} is not empty; give --dir a new folder")
    scaffold(workspace, pipeline_text=(example / "marathon.yaml").read_text())
    pipeline = load_pipeline(workspace)
    tracker = open_snapshot(pipeline)
    import_spec(tracker, example / "app_spec.xml", dry_run=False)
    cassettes = pipeline.state_dir / "cassettes"
    for issue in tracker.snapshot():
        if issue.kind != "meta":
            record_issue(cassettes, example / "solution" / issue.key, issue.id, issue.title)
    return workspace


def record_issue(cassettes: Path, solution: Path, issue_id: str, title: str) -> None:
    """One cassette per agent phase of one issue, from the solution folder of its key."""
    if not solution.is_dir():
        raise MarathonError(f"no solution folder {solution} for {issue_id} ({title})")
    code_files = sorted(_files(solution / "code"))
    plan = (
        f"# Plan for {issue_id}: {title}\n\n"
        + "".join(f"- write `{path}`\n" for path in code_files)
        + "- cover each acceptance criterion with a unit test\n"
    )
    outputs = {
        "plan": {f".marathon/plans/{issue_id}.md": plan.encode()},
        "code": _files(solution / "code"),
        "test": _files(solution / "test"),
        "qa": _files(solution / "qa"),
    }
    for phase, files in outputs.items():
        transcript = f"replay of a hand-made cassette for {issue_id} {phase}: {title}\n" + "".join(
            f"wrote {path}\n" for path in sorted(files)
        )
        result = AgentResult(ok=True, summary=f"{phase} done: {len(files)} file(s)")
        save_cassette(cassettes, issue_id, phase, transcript, files, PHASE_SECONDS[phase], result)


def _files(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def run_marathon(workspace: Path, jobs: int, *, quiet: bool) -> tuple[float, int]:
    """`doit -n JOBS marathon` in `workspace`; returns (seconds, exit code)."""
    env = dict(os.environ)
    # The checks run `python -m ruff` / `python -m pytest`: the interpreter running the engine.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("MARATHON_REPORTER", "plain")
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "doit", "-n", str(jobs), "marathon"],
        cwd=workspace,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.DEVNULL if quiet else None,
    )
    return time.perf_counter() - started, result.returncode


def with_baseline(state_dir: Path, sequential_state: Path) -> None:
    """Rewrite the latest report of `state_dir` with the wall time of the sequential run
    recorded in `sequential_state`, measured the same way (first start to last end)."""
    from engine.records import Records
    from engine.report.session import report_latest_session
    from engine.report.timeline import PREFIX, layout, totals

    runs = Records(sequential_state / "records.db").runs()
    if not runs:
        return
    last = [run for run in runs if run.session == runs[-1].session]
    wall = totals(layout(last)[0]).wall
    reports = sorted(
        (state_dir / "reports").glob(f"{PREFIX}*.html"), key=lambda p: p.stat().st_mtime
    )
    if reports:
        report_latest_session(state_dir, baseline=wall, path=reports[-1])


def run_demo(*, directory: str, jobs: int, compare: bool, out: TextIO) -> int:
    if jobs < 1:
        raise MarathonError(f"--jobs {jobs}: give 1 or more")
    example = example_dir()
    base = (
        Path(directory).resolve() if directory else Path(tempfile.mkdtemp(prefix="marathon-demo-"))
    )
    parallel = prepare(base / "parallel", example)
    print(f"demo: building the todo app from {example / 'app_spec.xml'} in {parallel}", file=out)
    out.flush()
    seconds, code = run_marathon(parallel, jobs, quiet=False)
    if code != 0:
        raise MarathonError(
            f"the demo marathon failed (exit {code}); see {parallel}/.marathon/logs", exit_code=1
        )
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=parallel,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    summary = (tests.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"\ndemo: -n {jobs}: every issue done in {seconds:.1f} s", file=out)
    if compare:
        sequential = prepare(base / "sequential", example)
        print("demo: the same marathon with -n 1, for comparison ...", file=out)
        out.flush()
        seq_seconds, seq_code = run_marathon(sequential, 1, quiet=True)
        if seq_code != 0:
            raise MarathonError(
                f"the sequential demo run failed (exit {seq_code}); see "
                f"{sequential}/.marathon/logs",
                exit_code=1,
            )
        print(
            f"demo: -n 1: {seq_seconds:.1f} s, so -n {jobs} was "
            f"{seq_seconds / seconds:.2f}x faster",
            file=out,
        )
        # The -n JOBS report now has a measured sequential run to count its time saved against.
        with_baseline(parallel / ".marathon", sequential / ".marathon")
    print(f"demo: the app's own tests: {summary} (cd {parallel} && python -m pytest -q)", file=out)
    report = parallel / ".marathon" / "reports" / "latest.html"
    print(f"demo: timeline report: {report if report.exists() else 'not written'}", file=out)
    return 0 if tests.returncode == 0 else 1
