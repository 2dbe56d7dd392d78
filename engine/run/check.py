"""What a `verify:<check>` task does, and when it is up to date."""

from __future__ import annotations

import os
import time

from doit.exceptions import TaskFailed

from engine.compile import CheckTask
from engine.fingerprint import check_inputs, digest
from engine.run import process
from engine.run.runtime import SESSION, runtime_for

PASSED = digest({"check": "passed"})


def check_up_to_date(ctx: CheckTask) -> bool:
    """Up to date when it last passed with the same command and the same files."""
    stamp = runtime_for(ctx.pipeline).records.stamp(ctx.name)
    return stamp is not None and dict(stamp.inputs) == check_inputs(ctx)


def run_check(ctx: CheckTask) -> bool | TaskFailed:
    rt = runtime_for(ctx.pipeline)
    rt.reap_stale_runs()
    log = ctx.pipeline.log_path("verify", ctx.check.name)
    # The inputs are read before the check runs: a check must not change what it reads.
    inputs = check_inputs(ctx)
    run_id = rt.records.start_run(SESSION, ctx.name, "", ctx.check.name, str(log))
    _header(log, ctx)
    env = {**os.environ, "MARATHON_CHECK": ctx.check.name}
    outcome = process.run_process(
        ctx.check.command,
        cwd=ctx.pipeline.root,
        log_path=log,
        timeout=ctx.check.timeout,
        env=env,
        on_start=lambda pgid: rt.records.set_child(run_id, pgid),
    )
    if outcome.exit_code == 0:
        rt.records.save_stamp(ctx.name, inputs, PASSED)
        rt.records.finish_run(run_id, "success", exit_code=0)
        return True
    if outcome.interrupted:
        error = "interrupted"
    elif outcome.timed_out:
        error = f"timed out after {ctx.check.timeout:g}s"
    elif outcome.missing_binary:
        error = f"cannot start '{outcome.missing_binary}': not installed or not on PATH"
    else:
        error = f"exited with status {outcome.exit_code}"
    status = "interrupted" if outcome.interrupted else "failed"
    rt.records.finish_run(run_id, status, exit_code=outcome.exit_code, error=error)
    return TaskFailed(f"verify:{ctx.check.name} {error}; log: {log}")


def _header(log: os.PathLike[str], ctx: CheckTask) -> None:
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(
            f"=== {ctx.name} at {time.strftime('%Y-%m-%d %H:%M:%S')}: "
            f"{' '.join(ctx.check.command)}\n"
        )
