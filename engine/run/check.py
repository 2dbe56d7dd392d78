"""What a `verify:<check>` task does, and when it is up to date."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from doit.exceptions import TaskFailed

from engine.breaker import error_signature
from engine.compile import CheckTask
from engine.errors import MarathonError
from engine.fingerprint import check_inputs, digest
from engine.run import environment, process
from engine.run.runtime import JOBS, SESSION, runtime_for, stop_reason
from engine.run.verdict import judge

PASSED = digest({"check": "passed"})
SETUP_SIGNATURE = "setup"  # the signature of a check that cannot run as configured


def check_up_to_date(ctx: CheckTask) -> bool:
    """Up to date when it last passed with the same command and the same files."""
    stamp = runtime_for(ctx.pipeline).records.stamp(ctx.name)
    return stamp is not None and dict(stamp.inputs) == check_inputs(ctx)


def run_check(ctx: CheckTask) -> bool | TaskFailed:
    """Run the check unless another thread just made it up to date; True when it passes."""
    rt = runtime_for(ctx.pipeline)
    with rt.check_lock(ctx.check.name):
        if check_up_to_date(ctx):
            return True
        return _run(ctx)


def run_checks(ctxs: list[CheckTask]) -> list[tuple[CheckTask, TaskFailed]]:
    """Run the checks that are not up to date, as many at once as doit's `-n` allows;
    returns the failures."""
    if not ctxs:
        return []
    with ThreadPoolExecutor(max_workers=min(len(ctxs), JOBS)) as pool:
        results = list(pool.map(run_check, ctxs))
    return [(ctx, r) for ctx, r in zip(ctxs, results, strict=True) if isinstance(r, TaskFailed)]


def _run(ctx: CheckTask) -> bool | TaskFailed:
    rt = runtime_for(ctx.pipeline)
    try:
        rt.begin()
    except MarathonError as exc:
        return TaskFailed(exc.one_line())
    log = ctx.pipeline.log_path("verify", ctx.check.name)
    stop = stop_reason(rt, "", ctx.check.name)
    if stop:
        run_id = rt.records.start_run(SESSION, ctx.name, "", ctx.check.name, str(log))
        rt.records.finish_run(run_id, "skipped", error=stop)
        return TaskFailed(f"{ctx.name} skipped: {stop}")
    # The inputs are read before the check runs: a check must not change what it reads.
    inputs = check_inputs(ctx)
    run_id = rt.records.start_run(SESSION, ctx.name, "", ctx.check.name, str(log))
    offset = _header(log, ctx)
    outcome = process.run_process(
        ctx.check.command,
        cwd=ctx.pipeline.root,
        log_path=log,
        timeout=ctx.check.timeout,
        env={
            **environment.for_check(ctx.pipeline, ctx.check.env, ctx.check.env_values),
            "MARATHON_CHECK": ctx.check.name,
        },
        on_start=lambda pgid: rt.records.set_child(run_id, pgid),
    )
    verdict = judge(ctx.check, outcome, attempt_output(log, offset))
    if verdict.passed:
        rt.records.save_stamp(ctx.name, inputs, PASSED)
        rt.records.finish_run(run_id, "success", exit_code=outcome.exit_code)
        return True
    error = verdict.error
    status = "interrupted" if outcome.interrupted else "failed"
    rt.records.finish_run(
        run_id,
        status,
        exit_code=outcome.exit_code,
        error=error,
        # A setup error is the configuration's, never a bug to file (engine/run/verdict.py).
        signature=SETUP_SIGNATURE if verdict.setup_error else failure_signature(error, log, offset),
    )
    return TaskFailed(f"{ctx.name} {error}; log: {log}")


def attempt_output(log: Path, offset: int) -> str:
    """What one attempt wrote to a log that earlier attempts also wrote to."""
    with open(log, "rb") as handle:
        handle.seek(offset)
        return handle.read().decode("utf-8", "replace")


def failure_signature(error: str, log: Path, offset: int) -> str:
    """The breaker's signature of a failed attempt: its error and its last 30 lines of output."""
    tail = "\n".join(attempt_output(log, offset).splitlines()[-30:])
    return error_signature(f"{error}\n{tail}")


def _header(log: Path, ctx: CheckTask) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(
            f"=== {ctx.name} at {time.strftime('%Y-%m-%d %H:%M:%S')}: "
            f"{' '.join(ctx.check.command)}\n"
        )
        return handle.tell()
