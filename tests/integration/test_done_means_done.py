"""Done means done: nothing merges, and no issue is marked done, unless its work exists and its
checks pass on its branch.

The agent is a plain command (tests/integration/test_done_means_done.py writes it into the
workspace as tools/agent.py) whose behaviour each test sets through the environment: CODE
writes a good or a broken `add`, TEST writes a real pytest test of it, the fix writes good or
broken code again, and any phase can be told to write nothing. The checks are real pytest runs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from engine.records import Records, RunRecord
from engine.trackers.local import LocalTracker
from engine.workspace import scaffold
from tests.conftest import run_doit
from tests.fakes.agents import FAKE_BIN

pytestmark = pytest.mark.integration

AGENT = '''\
"""A stand-in agent: what it writes is set by the test (CODE, FIX, NOTHING)."""
import os, pathlib, sys, uuid
phase = os.environ["MARATHON_PHASE"]
issue = os.environ["MARATHON_ISSUE"]
prompt = sys.stdin.read()
if os.environ.get("NOTHING") == phase:
    print(f"{phase}: done (but nothing written)")
    sys.exit(0)
good = "def add(a, b):\\n    return a + b\\n"
bad = "def add(a, b):\\n    return a - b\\n"
def write(rel, text):
    path = pathlib.Path(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + f"# {uuid.uuid4().hex}\\n")
if phase == "plan":
    write(f".marathon/plans/{issue}.md", "# plan\\n")
elif phase == "code":
    write("src/calc.py", good if os.environ.get("CODE", "good") == "good" else bad)
elif phase == "test":
    write("tests/test_calc.py", TEST)
elif phase == "gate":  # the fix loop runs under the gate's name
    assert "What fails" in prompt and "test_add" in prompt, prompt
    write("src/calc.py", good if os.environ.get("FIX") == "good" else bad)
'''
TEST = """\
import pathlib, sys
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "src"))
from calc import add
def test_add():
    assert add(2, 3) == 5
"""
PIPELINE = """\
key_prefix: PROJ
agents:
  bot: {{preset: command, command: [python, tools/agent.py], env: [CODE, FIX, NOTHING]}}
checks:
  tests: {{command: {check}, reads: ["src/**", "tests/**"]{ok}}}
breaker: {{attempts: {{gate: 1}}}}
phases:
  verify: {{checks: all}}
  plan:
    {{after: [verify], agent: bot, prompt: plan.md.j2, writes: [".marathon/plans/{{id}}.md"],
     must_produce: true}}
  code:
    {{after: [plan], agent: bot, prompt: code.md.j2, reads: ["src/**"], writes: ["src/**"],
     must_produce: true}}
  test:
    {{after: [code], agent: bot, prompt: test.md.j2, reads: ["src/**"], writes: ["tests/**"],
     must_produce: true}}
  gate:
    after: [test]
    checks: all
    where: branch
    fix: {{agent: bot, prompt: fix.md.j2, attempts: 1}}
  exit: {{after: [gate], builtin: exit}}
"""
PYTEST = "[python, -m, pytest, -q, -p, no:cacheprovider, tests]"


def make(tmp_path: Path, check: str = PYTEST, ok: str = ", ok_exit_codes: [0, 5]") -> Path:
    ws = scaffold(tmp_path / "ws", pipeline_text=PIPELINE.format(check=check, ok=ok))
    (ws / "tools").mkdir()
    (ws / "tools" / "agent.py").write_text(AGENT.replace("TEST)", f"{TEST!r})"))
    (ws / "tests").mkdir()
    (ws / "tests" / "__init__.py").write_text("")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "the agent and an empty test folder")
    return ws


def git(ws: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost"}  # fmt: skip
    return subprocess.run(
        ["git", *args], cwd=ws, capture_output=True, text=True, check=True, env=env
    ).stdout


def add(ws: Path, title: str) -> None:
    result = run_doit(ws, "add", "--title", title)
    assert result.returncode == 0, result.stdout + result.stderr


def runs(ws: Path, task: str = "") -> list[RunRecord]:
    found = Records(ws / ".marathon" / "records.db").runs()
    return [r for r in found if not task or r.task == task]


def issues(ws: Path) -> dict[str, tuple[str, str, str]]:
    tracker = LocalTracker(ws / ".marathon" / "tracker.db", "PROJ")
    return {i.id: (i.state, i.kind, i.title) for i in tracker.snapshot()}


def main_files(ws: Path) -> list[str]:
    return git(ws, "ls-tree", "-r", "--name-only", "main").split()


def test_broken_work_is_not_merged_and_the_fix_loop_repairs_it(tmp_path: Path) -> None:
    ws = make(tmp_path)
    add(ws, "Add numbers")
    result = run_doit(ws, "-n", "2", "marathon", env={"CODE": "bad", "FIX": "good"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert issues(ws)["PROJ-1"][0] == "completed"
    gate_log = (ws / ".marathon" / "logs" / "PROJ-1" / "gate.log").read_text()
    assert "=== fix attempt 1 of 1: tests: tests/test_calc.py::test_add" in gate_log
    # main holds the repaired code, and its tests pass there
    assert "return a + b" in git(ws, "show", "main:src/calc.py")
    passed = subprocess.run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                            cwd=ws, capture_output=True, text=True)  # fmt: skip
    assert passed.returncode == 0, passed.stdout
    subjects = git(ws, "log", "--format=%s", "main").splitlines()
    assert sum(s.startswith("PROJ-1 gate:") for s in subjects) == 1  # the fix's commit


def test_broken_work_the_fix_cannot_repair_fails_with_the_reason(tmp_path: Path) -> None:
    ws = make(tmp_path)
    add(ws, "Add numbers")
    result = run_doit(ws, "-n", "2", "marathon", env={"CODE": "bad", "FIX": "bad"})
    assert result.returncode == 1, result.stdout + result.stderr
    (gate,) = runs(ws, "issue:PROJ-1:gate")
    assert gate.status == "failed"
    assert gate.error.startswith(
        "checks fail on the branch after 1 fix attempt(s): tests: tests/test_calc.py::test_add"
    ), gate.error
    assert issues(ws)["PROJ-1"][0] != "completed"
    assert "src/calc.py" not in main_files(ws)  # nothing merged
    assert not runs(ws, "issue:PROJ-1:exit")


@pytest.mark.parametrize("phase", ["plan", "code", "test"])
def test_an_agent_that_writes_nothing_fails_its_phase(tmp_path: Path, phase: str) -> None:
    ws = make(tmp_path)
    add(ws, "Add numbers")
    result = run_doit(ws, "-n", "2", "marathon", env={"NOTHING": phase})
    assert result.returncode == 1, result.stdout + result.stderr
    (run,) = runs(ws, f"issue:PROJ-1:{phase}")
    assert run.status == "failed"
    assert run.error.startswith("produced nothing: no file in its write set"), run.error
    assert issues(ws)["PROJ-1"][0] != "completed"
    assert "src/calc.py" not in main_files(ws)


@pytest.mark.parametrize(
    ("check", "ok", "said"),
    [
        ("[no-such-checker, tests]", "", "check tests cannot start 'no-such-checker'"),
        (PYTEST, "", "check tests collected no tests (pytest exit 5)"),
        (
            "[python, -m, pytest, -q, tests/nowhere]",
            "",
            "check tests cannot run (pytest exit 4: ERROR: file or directory not found",
        ),
    ],
    ids=["missing-binary", "no-tests", "no-such-folder"],
)
def test_a_check_that_cannot_run_stops_the_run_and_files_nothing(
    tmp_path: Path, check: str, ok: str, said: str
) -> None:
    ws = make(tmp_path, check=check, ok=ok)
    add(ws, "Add numbers")
    add(ws, "Multiply numbers")
    result = run_doit(ws, "-n", "1", "marathon")
    assert result.returncode == 1, result.stdout + result.stderr
    assert said in result.stdout + result.stderr
    assert [kind for _, kind, _ in issues(ws).values()] == ["task", "task"]  # no bug filed
    gates = [r for r in runs(ws) if r.phase == "verify"]
    assert gates[0].status == "failed" and gates[0].error.startswith(said)
    # the next issue does not start: the run stopped at the first gate
    assert all(r.status in ("failed", "skipped") for r in gates)
    assert not [r for r in runs(ws) if r.phase == "plan"]


def test_a_bug_issue_stays_open_until_its_check_passes_on_its_branch(tmp_path: Path) -> None:
    ws = make(tmp_path)
    # main is broken by hand: a failing test of a wrong `add`
    (ws / "src").mkdir()
    (ws / "src" / "calc.py").write_text("def add(a, b):\n    return a * b\n")
    (ws / "tests" / "test_calc.py").write_text(TEST)
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "broken add")
    add(ws, "Subtract numbers")
    broken = run_doit(ws, "-n", "1", "marathon", env={"CODE": "bad", "FIX": "bad"})
    assert broken.returncode == 1
    found = issues(ws)
    bugs = {key: value for key, value in found.items() if value[1] == "bug"}
    assert len(bugs) == 1, found
    ((bug_id, (_, _, title)),) = bugs.items()
    assert title.startswith("[Bug] verify:tests fails: tests/test_calc.py::test_add"), title
    # The next run does the bug first; its branch still fails the check: not done.
    again = run_doit(ws, "-n", "1", "marathon", env={"CODE": "bad", "FIX": "bad"})
    assert again.returncode == 1
    assert issues(ws)[bug_id][0] != "completed"
    bug_gate = runs(ws, f"issue:{bug_id}:gate")
    assert bug_gate and bug_gate[-1].status == "failed"

    fixed = run_doit(ws, "clean", f"issue:{bug_id}")
    assert "a fresh start" in fixed.stdout + fixed.stderr
    done = run_doit(ws, "-n", "1", "marathon", env={"CODE": "good", "FIX": "good"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert {key: value[0] for key, value in issues(ws).items()} == {
        "PROJ-1": "completed", bug_id: "completed"
    }  # fmt: skip


CLAUDE = """\
key_prefix: PROJ
agents:
  claude: {{preset: claude, model: haiku, retry_delay: 0, env: ["FAKE_AGENT_*"]{extra}}}
phases:
  code: {{agent: claude, prompt: code.md.j2, writes: ["claude_output.txt"], timeout: 10}}
  exit: {{after: [code], builtin: exit}}
"""


def claude_ws(tmp_path: Path, extra: str = "") -> Path:
    ws = scaffold(tmp_path / "ws", pipeline_text=CLAUDE.format(extra=extra))
    add(ws, "Use the fake claude")
    return ws


def fake(**env: str) -> dict[str, str]:
    return {"PATH": f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}", **env}


def test_a_refused_tool_call_fails_the_phase_and_names_it(tmp_path: Path) -> None:
    ws = claude_ws(tmp_path)
    result = run_doit(ws, "issue:PROJ-1", env=fake(FAKE_AGENT_MODE="permission_denied"))
    assert result.returncode == 1
    (code,) = runs(ws, "issue:PROJ-1:code")
    assert code.status == "failed"
    assert code.error.startswith("the agent was refused 1 tool call(s): Write"), code.error
    assert issues(ws)["PROJ-1"][0] != "completed"


def test_a_refused_tool_call_only_warns_where_configured(tmp_path: Path) -> None:
    ws = claude_ws(tmp_path, extra=", on_denial: warn")
    result = run_doit(ws, "issue:PROJ-1", env=fake(FAKE_AGENT_MODE="permission_denied"))
    assert result.returncode == 0, result.stdout + result.stderr
    log = (ws / ".marathon" / "logs" / "PROJ-1" / "code.log").read_text()
    assert "=== warning: the agent was refused: Write" in log


def test_overloaded_then_success_is_one_run_and_trips_no_breaker(tmp_path: Path) -> None:
    ws = claude_ws(tmp_path)
    counter = tmp_path / "calls"
    env = fake(FAKE_AGENT_MODES="overloaded,overloaded,overloaded,success",
               FAKE_AGENT_COUNTER=str(counter))  # fmt: skip
    result = run_doit(ws, "issue:PROJ-1", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [r.status for r in runs(ws, "issue:PROJ-1:code")] == ["success"]
    assert counter.read_text() == "4"
    log = (ws / ".marathon" / "logs" / "PROJ-1" / "code.log").read_text()
    assert log.count("=== transient error, retry") == 3


def test_transient_failures_never_count_as_the_same_error(tmp_path: Path) -> None:
    ws = claude_ws(tmp_path, extra=", retries: 0")
    env = fake(FAKE_AGENT_MODE="overloaded")
    for _ in range(4):  # the same-error limit is 3
        assert run_doit(ws, "issue:PROJ-1", env=env).returncode == 1
    code = runs(ws, "issue:PROJ-1:code")
    assert [r.status for r in code] == ["failed"] * 3 + ["skipped"]  # attempts (3), not same-error
    assert "failed 3 times in a row" in code[-1].error, code[-1].error


def test_doit_clean_gives_a_fresh_start_to_an_issue_the_breaker_stopped(tmp_path: Path) -> None:
    ws = claude_ws(tmp_path)
    env = fake(FAKE_AGENT_MODE="error_result")
    for _ in range(3):
        run_doit(ws, "issue:PROJ-1", env=env)
    skipped = run_doit(ws, "issue:PROJ-1", env=fake())
    assert skipped.returncode == 1
    assert runs(ws, "issue:PROJ-1:code")[-1].status == "skipped"
    cleaned = run_doit(ws, "clean", "issue:PROJ-1")
    assert "its earlier failures no longer count" in cleaned.stdout + cleaned.stderr
    again = run_doit(ws, "issue:PROJ-1", env=fake())
    assert again.returncode == 0, again.stdout + again.stderr
    assert runs(ws, "issue:PROJ-1:code")[-1].status == "success"
