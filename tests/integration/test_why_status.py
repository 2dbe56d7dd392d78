"""`doit why` names the input that changed and changes nothing; `doit status` reads records."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from engine.commands.why import explain_task
from engine.config.load import load_pipeline
from engine.errors import MarathonError
from engine.records import Records
from engine.trackers.local import LocalTracker
from tests.conftest import run_doit

pytestmark = pytest.mark.integration


def explain(ws: Path, task: str) -> str:
    pipeline = load_pipeline(ws)
    issues = LocalTracker(pipeline.tracker_db, "PROJ").snapshot()
    return "\n".join(explain_task(pipeline, issues, task))


@pytest.fixture
def in_progress(workspace: Path) -> Path:
    assert run_doit(workspace, "add", "--title", "Add login").returncode == 0
    result = run_doit(workspace, "-n", "4", "issue:PROJ-1:test", "issue:PROJ-1:qa")
    assert result.returncode == 0, result.stdout + result.stderr
    return workspace


def test_up_to_date_says_so(in_progress: Path) -> None:
    assert explain(in_progress, "issue:PROJ-1:code").startswith("issue:PROJ-1:code: up to date")
    assert "has never succeeded" in explain(in_progress, "issue:PROJ-1:exit")


def test_each_kind_of_change_is_named(in_progress: Path) -> None:
    ws = in_progress
    worktree = ws / ".marathon" / "worktrees" / "PROJ-1"
    (worktree / "src" / "new.py").write_text("x = 1\n")
    code = explain(ws, "issue:PROJ-1:code")
    assert "files it reads changed: src/new.py" in code
    assert "earlier phase" not in code

    (ws / "templates").mkdir()
    (ws / "templates" / "qa.md.j2").write_text("Write e2e tests for {{ issue.title }}.\n")
    assert "the rendered prompt changed" in explain(ws, "issue:PROJ-1:qa")

    text = (ws / "marathon.yaml").read_text().replace("plan: 0.1,", "plan: 0.2,")
    (ws / "marathon.yaml").write_text(text)
    assert "the agent's settings changed" in explain(ws, "issue:PROJ-1:plan")

    tracker = LocalTracker(ws / ".marathon/tracker.db", "PROJ")
    with tracker._conn as conn:
        conn.execute("UPDATE issues SET description = 'and logout' WHERE id = 'PROJ-1'")
    assert "the issue's text" in explain(ws, "issue:PROJ-1:plan")

    Records(ws / ".marathon/records.db").forget("issue:PROJ-1:code")
    assert "the result of code (an earlier phase) changed or is missing" in explain(
        ws, "issue:PROJ-1:test"
    )


def test_asking_changes_nothing(in_progress: Path) -> None:
    ws = in_progress
    (ws / ".marathon" / "worktrees" / "PROJ-1" / "src" / "new.py").write_text("x = 1\n")

    def state() -> tuple[str, list[str]]:
        db = (ws / ".marathon" / "records.db").read_bytes()
        files = sorted(
            str(p.relative_to(ws))
            for p in ws.rglob("*")
            if ".git" not in p.parts and "reports" not in p.parts and "doit.db" not in p.name
        )
        return hashlib.sha256(db).hexdigest(), files

    before = state()
    asked = run_doit(ws, "why", "issue:PROJ-1:code", "issue:PROJ-1:test", "verify:unit")
    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert "files it reads changed: src/new.py" in asked.stdout
    assert state() == before
    # and the next run does exactly what it would have done: CODE and what follows it
    result = run_doit(ws, "-n", "4", "issue:PROJ-1")
    assert result.returncode == 0
    ran = [r.task for r in Records(ws / ".marathon/records.db").runs()]
    assert ran.count("issue:PROJ-1:code") == 2 and ran.count("issue:PROJ-1:plan") == 1


def test_why_refuses_unknown_tasks(in_progress: Path) -> None:
    result = run_doit(in_progress, "why", "issue:PROJ-1:cod")
    assert result.returncode == 2
    assert "no task 'issue:PROJ-1:cod' (did you mean 'issue:PROJ-1:code'?)" in result.stderr


def test_status_shows_states_and_estimate(in_progress: Path) -> None:
    ws = in_progress
    assert run_doit(ws, "add", "--title", "Logout", "--after", "PROJ-1").returncode == 0
    result = run_doit(ws, "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    first = next(line for line in lines if line.startswith("PROJ-1 "))
    second = next(line for line in lines if line.startswith("PROJ-2 "))
    assert "ready" in first and " exit " in first and "[5 runs]" in first
    assert "waiting" in second and "waits for PROJ-1" in second
    assert "1 waiting, 1 ready" in result.stdout
    assert "cost so far: $0.00" in result.stdout
    assert re.search(r"time left: about \S+ of agent work, about \S+ with -n 4", result.stdout)


def test_status_and_graph_show_interrupted_and_what_waits_behind_it(workspace: Path) -> None:
    import io

    from engine.commands.status import issue_rows, run_status
    from engine.graph import STATE_COLOURS, graph_from_issues, to_dot
    from engine.issue import Edge, IssueDraft

    pipeline = load_pipeline(workspace)
    tracker = LocalTracker(pipeline.tracker_db, "PROJ")
    for title in ("Login", "Logout", "Profile", "Docs"):
        tracker.create_issue(IssueDraft(key="", title=title))
    tracker.add_edge(Edge("PROJ-1", "PROJ-2", "r"))
    tracker.add_edge(Edge("PROJ-2", "PROJ-3", "r"))
    records = Records(pipeline.records_db)
    run_id = records.start_run("s", "issue:PROJ-1:code", "PROJ-1", "code", "code.log")
    records.finish_run(
        run_id,
        "interrupted",
        error="interrupted by SIGINT",
        cost_usd=0.5,
        input_tokens=10,
        output_tokens=5,
        turns=3,
        session_id="abc",
    )
    out = io.StringIO()
    issues = tracker.snapshot()
    assert run_status(pipeline, issues, out=out) == 0
    lines = out.getvalue().splitlines()
    assert re.match(
        r"PROJ-1  interrupted code .*Login \[1 runs, \$0\.50, 15 tokens, 3 turns, session abc\]"
        r"  \(interrupted by SIGINT\)",
        lines[0],
    )
    assert lines[1].startswith("PROJ-2  waiting")
    assert lines[1].endswith("(waits for PROJ-1; held back: PROJ-1 interrupted)")
    # held back through PROJ-2
    assert lines[2].endswith("(waits for PROJ-2; held back: PROJ-1 interrupted)")
    assert "1 interrupted, 2 waiting, 1 ready" in lines
    assert lines[-1].endswith(
        "not counted: 2 issue(s) skipped or held back behind a failed, interrupted or skipped issue"
    )
    states = {row.issue.id: row.graph_state for row in issue_rows(pipeline, issues)}
    assert states == {
        "PROJ-1": "interrupted",
        "PROJ-2": "blocked",
        "PROJ-3": "blocked",
        "PROJ-4": "ready",
    }
    dot = to_dot(graph_from_issues(issues, tracker.edges(), states))
    assert f'fillcolor="{STATE_COLOURS["interrupted"][0]}"' in dot
    assert dot.count(f'fillcolor="{STATE_COLOURS["blocked"][0]}"') == 2


def test_why_takes_groups_and_says_which_tasks_would_run(in_progress: Path) -> None:
    lines = explain(in_progress, "issue:PROJ-1").splitlines()
    assert lines[0] == "issue:PROJ-1: 1 of its 6 tasks would run"
    assert lines[1] == "  issue:PROJ-1:exit: it has never succeeded"
    assert lines[2].startswith("  up to date: issue:PROJ-1:verify, issue:PROJ-1:plan")
    assert (
        explain(in_progress, "marathon").splitlines()[0] == "marathon: 1 of its 6 tasks would run"
    )
    with pytest.raises(MarathonError, match=r"^no task 'marathn' \(did you mean 'marathon'\?\)$"):
        explain(in_progress, "marathn")
    with pytest.raises(MarathonError) as unknown:
        explain(in_progress, "zzz")
    assert str(unknown.value) == "no task 'zzz'; `doit list --all` shows them"
