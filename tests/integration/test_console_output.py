"""What people see: commands print their answer and nothing else, documents parse in their
real consumers, errors are one line, and exit codes tell the outcomes apart (README)."""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from engine.records import Records
from engine.trackers.local import LocalTracker
from tests.conftest import run_doit, start_doit, wait_for_run

pytestmark = pytest.mark.integration

CHROME = ("==", ".. ", "ok ", "ran ")  # the run chrome of plain mode


def one_issue(ws: Path) -> Path:
    assert run_doit(ws, "add", "--title", "Add login").returncode == 0
    return ws


def assert_one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "CmdOption" not in result.stderr
    return lines[0]


def test_question_commands_print_their_answer_and_nothing_else(workspace: Path) -> None:
    ws = one_issue(workspace)
    status = run_doit(ws, "status")
    assert status.returncode == 0 and status.stdout.startswith("PROJ-1 ")
    assert not any(line.startswith(CHROME) for line in status.stdout.splitlines())
    assert "time left:" in status.stdout
    document = json.loads(run_doit(ws, "status", "--json").stdout)
    assert document["issues"][0]["id"] == "PROJ-1" and document["counts"]["ready"] == 1
    graph = run_doit(ws, "graph", "--format", "json")
    assert json.loads(graph.stdout)["issues"][0]["title"] == "Add login"
    assert "issues: 1" in graph.stderr  # the summary, where JSON cannot hold it
    mermaid = run_doit(ws, "graph").stdout
    assert mermaid.startswith("%% issues: 1\n") and "\nflowchart TD\n" in mermaid
    hooks = run_doit(ws, "hooks")  # no action means status, never install
    assert hooks.stdout.startswith("not installed") and not (ws / ".git/hooks/pre-push").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_dot_output_is_read_by_graphviz(workspace: Path) -> None:
    ws = one_issue(workspace)
    assert run_doit(ws, "add", "--title", "Add logout", "--after", "PROJ-1").returncode == 0
    dot = run_doit(ws, "graph", "--format", "dot").stdout
    rendered = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True)
    assert rendered.returncode == 0, rendered.stderr
    assert "Add logout" in rendered.stdout and "</svg>" in rendered.stdout


def test_json_reporter_means_every_stdout_line_is_json(workspace: Path) -> None:
    ws = one_issue(workspace)
    for args in (("status",), ("-n", "2", "issue:PROJ-1:plan"), ("graph",)):
        result = run_doit(ws, *args, env={"MARATHON_REPORTER": "json"})
        assert result.returncode == 0, result.stderr
        events = [json.loads(line) for line in result.stdout.splitlines()]
        assert events[-1]["event"] == "complete"
    status = run_doit(ws, "status", env={"MARATHON_REPORTER": "json"}).stdout.splitlines()
    texts = [json.loads(line).get("text", "") for line in status]
    assert any(text.startswith("PROJ-1 ") for text in texts)


def test_user_errors_are_one_line_with_exit_code_2(workspace: Path) -> None:
    ws = one_issue(workspace)
    line = assert_one_error_line(run_doit(ws, "statu"), 2)
    assert "'statu'" in line and "did you mean 'status'" in line
    line = assert_one_error_line(run_doit(ws, "issue:PROJ-9"), 2)
    assert "doit list" in line
    line = assert_one_error_line(run_doit(ws, "add", "--titel", "x"), 2)
    assert "doit add: option --titel not recognized (did you mean '--title'?)" in line
    line = assert_one_error_line(run_doit(ws, "--bogus"), 2)
    assert "--bogus not recognized" in line
    line = assert_one_error_line(run_doit(ws, "add", "--priority", "9", "--title", "x"), 2)
    assert line.startswith("error: --priority 9")
    assert [issue.id for issue in LocalTracker(ws / ".marathon/tracker.db", "PROJ").snapshot()] == [
        "PROJ-1"
    ]


def test_arguments_with_equals_signs_arrive_verbatim(workspace: Path) -> None:
    assert run_doit(workspace, "add", "--title", "a=b").returncode == 0
    added = run_doit(
        workspace, "add", "--title", "Set timeout = 30s", "--description", "default = 10s"
    )
    assert added.returncode == 0, added.stderr
    issues = LocalTracker(workspace / ".marathon/tracker.db", "PROJ").snapshot()
    assert [(i.title, i.description) for i in issues] == [
        ("a=b", ""),
        ("Set timeout = 30s", "default = 10s"),
    ]


def test_a_failed_phase_exits_1(workspace: Path) -> None:
    text = (workspace / "marathon.yaml").read_text()
    (workspace / "marathon.yaml").write_text(
        text.replace("preset: standin", "preset: standin\n    fail: [plan]")
    )
    one_issue(workspace)
    result = run_doit(workspace, "-n", "2", "issue:PROJ-1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL issue:PROJ-1:plan" in result.stdout
    report = (workspace / ".marathon/reports/latest.html").read_text()
    assert "<h2>Failures (1)</h2>" in report and "told to fail" in report
    assert "needs issue:PROJ-1:plan, which did not succeed" in report  # what never started


def test_a_refused_lock_exits_3_with_one_line(workspace: Path) -> None:
    one_issue(workspace)
    lock = workspace / ".marathon" / "run.lock"
    with open(lock, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write("4242")
        handle.flush()
        result = run_doit(workspace, "-n", "2", "issue:PROJ-1")
    assert result.returncode == 3, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "another doit (pid 4242)" in errors[0]
    assert "FAIL" not in result.stdout and "not run" not in result.stdout
    assert "refused: another doit holds the workspace lock" in result.stdout.splitlines()[-1]


def test_an_exception_in_an_action_is_one_line_and_a_log_exit_4(workspace: Path) -> None:
    dodo = workspace / "dodo.py"
    dodo.write_text(
        dodo.read_text()
        + "\n\ndef task_boom():\n"
        + "    def boom():\n"
        + "        from engine.config.load import load_pipeline\n"
        + "        from engine.run.runtime import SESSION, runtime_for\n"
        + "        rt = runtime_for(load_pipeline(Path(__file__).resolve().parent))\n"
        + "        rt.records.start_run(SESSION, 'boom', '', 'boom', '')\n"
        + "        return [][1]\n\n"
        + "    return {'actions': [boom], 'verbosity': 2}\n"
    )
    result = run_doit(workspace, "boom")
    assert result.returncode == 4, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: internal error in boom: IndexError: list index out of range; the traceback "
        "and versions are in .marathon/internal-error.log: please attach it to a bug report"
    ]
    assert "Traceback" not in result.stdout + result.stderr
    log = (workspace / ".marathon" / "internal-error.log").read_text()
    assert "Traceback (most recent call last)" in log and "return [][1]" in log
    assert "doit            0." in log and "python:" in log and "command:" in log
    # the run the exception cut short is recorded, not left `running`
    [boom] = Records(workspace / ".marathon" / "records.db").runs(task="boom")
    assert boom.status == "interrupted" and "internal error" in boom.error


def test_ctrl_c_is_counted_as_interrupted_and_shown_so(workspace: Path) -> None:
    one_issue(workspace)
    # Agents ten times slower: under a loaded machine TEST (0.6 s) once ended before the
    # signal was handled, and nothing was left to interrupt.
    slow = {"MARATHON_STANDIN_SLEEP_SCALE": "10"}
    proc = start_doit(workspace, "-n", "2", "issue:PROJ-1", capture=True, env=slow)
    wait_for_run(workspace, "issue:PROJ-1:test", "running", timeout=120)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    summary = [line for line in out.splitlines() if line.startswith("== ")]
    # TEST and QA were running: interrupted, each counted once, and no failure
    assert summary and re.search(r"failed 0, interrupted [12],", summary[-1]), out + err
    assert proc.returncode == 130 and "Traceback" not in err, err
    status = run_doit(workspace, "status").stdout
    assert status.startswith("PROJ-1  interrupted"), status
