"""The timeline report: lanes, critical path, totals, a standalone HTML file, `doit report`."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest

from engine.commands.report import run_report
from engine.errors import MarathonError
from engine.records import Records, RunRecord
from engine.report.critical import critical_path
from engine.report.lanes import Span, assign_lanes
from engine.report.session import report_latest_session
from engine.report.timeline import LATEST, layout, totals, write_timeline

BAR = re.compile(
    r'<g class="bar( critical)?(?: nested)?" data-task="([^"]+)" data-run="(\d+)" '
    r'data-lane="(\d+)" data-status="([^"]+)">'
)


def chart(text: str, css: str = "gantt") -> str:
    """One of the report's two charts: "gantt" (by lane) or "by-issue"."""
    start = text.index(f'<svg class="{css}"')
    return text[start : text.index("</svg>", start)]


def run(
    run_id: int,
    task: str,
    start: float,
    end: float | None,
    status: str = "success",
    cost: float | None = None,
    error: str = "",
) -> RunRecord:
    issue = task.split(":")[1] if task.startswith("issue:") else ""
    return RunRecord(
        id=run_id,
        session="s1",
        task=task,
        issue=issue,
        phase=task.rsplit(":", 1)[-1],
        attempt=1,
        started=1000.0 + start,
        ended=None if end is None else 1000.0 + end,
        status=status,
        exit_code=0 if status == "success" else 1,
        log_path=f".marathon/logs/{issue or 'verify'}/{task.rsplit(':', 1)[-1]}.log",
        error=error,
        signature="",
        cost_usd=cost,
        input_tokens=None,
        output_tokens=None,
        turns=None,
        session_id="",
    )


def one_issue() -> list[RunRecord]:
    """The default pipeline for one issue: checks || , plan, code, test || qa, exit."""
    return [
        run(1, "verify:lint", 0, 1),
        run(2, "verify:unit", 0, 3),
        run(3, "verify:types", 0, 2),
        run(4, "issue:P-1:plan", 3.01, 5, cost=0.25),
        run(5, "issue:P-1:code", 5.02, 9, cost=1.5),
        run(6, "issue:P-1:test", 9.01, 11, status="failed", error="2 tests <failed>"),
        run(7, "issue:P-1:qa", 9.02, 12, cost=0.5),
        run(8, "issue:P-1:exit", 12.01, 12.2),
    ]


class Checker(HTMLParser):
    """Counts tags and checks they nest properly (void elements excepted)."""

    VOID: ClassVar[set[str]] = {"meta", "br", "img", "hr", "input", "link", "rect", "line"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.seen: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def test_lanes_never_overlap_and_use_the_peak_count() -> None:
    spans = [
        Span(1, 0, 2),
        Span(2, 1, 3),
        Span(3, 2, 4),
        Span(4, 3.5, 5),
        Span(5, 0.5, 1),
        Span(6, 1.5, 2.5),
    ]
    lanes = assign_lanes(spans)
    # 5 overlaps 1; 2 starts as 5 ends and takes its lane; 6 overlaps 1 and 2; 3 starts as 1
    # ends; 4 starts after 2 ended at 3.0.
    assert lanes == {1: 0, 5: 1, 2: 1, 6: 2, 3: 0, 4: 1}
    assert max(lanes.values()) + 1 == 3  # three runs at once around t=1.7
    for a in spans:
        for b in spans:
            if a.key < b.key and lanes[a.key] == lanes[b.key]:
                assert a.end <= b.start or b.end <= a.start


def test_inferred_critical_path_follows_the_pipeline() -> None:
    assert critical_path(one_issue()) == [
        "verify:unit",
        "issue:P-1:plan",
        "issue:P-1:code",
        "issue:P-1:qa",
        "issue:P-1:exit",
    ]


def test_critical_path_from_a_dependency_map() -> None:
    deps = {
        "issue:P-1:plan": ["verify:lint", "verify:unit", "verify:types"],
        "issue:P-1:code": ["issue:P-1:plan"],
        "issue:P-1:test": ["issue:P-1:code"],
        "issue:P-1:qa": ["issue:P-1:code"],
        "issue:P-1:exit": ["issue:P-1:test", "issue:P-1:qa"],
    }
    assert critical_path(one_issue(), deps) == [
        "verify:unit",
        "issue:P-1:plan",
        "issue:P-1:code",
        "issue:P-1:qa",
        "issue:P-1:exit",
    ]
    # A long chain must not hit the recursion limit.
    chain = [run(i + 1, f"t{i}", i, i + 1) for i in range(3000)]
    path = critical_path(chain, {f"t{i}": [f"t{i - 1}"] for i in range(1, 3000)})
    assert len(path) == 3000 and path[0] == "t0"


def test_timeline_file_has_one_bar_per_run_on_the_right_lanes(tmp_path: Path) -> None:
    runs = [*one_issue(), run(9, "issue:P-1:code", 0, 0, status="skipped")]
    out_dir = tmp_path / ".marathon" / "reports"
    path = write_timeline(runs, out_dir, title="run <1> & co")
    assert path.parent == out_dir and path.name.startswith("timeline-")
    assert (out_dir / LATEST).read_text() == path.read_text()
    text = path.read_text()

    bars = BAR.findall(chart(text))
    assert sorted(int(b[2]) for b in bars) == [1, 2, 3, 4, 5, 6, 7, 8]  # skipped not drawn
    lane_of = {int(run_id): int(lane) for _, _, run_id, lane, _ in bars}
    expected, _ = layout(runs)
    assert lane_of == {bar.run.id: bar.lane for bar in expected}
    assert max(lane_of.values()) + 1 == 3  # three checks at once
    for a in one_issue():
        for b in one_issue():
            if a.id < b.id and lane_of[a.id] == lane_of[b.id]:
                assert (a.ended or 0) <= b.started or (b.ended or 0) <= a.started
    assert {b[4] for b in bars if int(b[2]) == 6} == {"failed"}
    critical = {b[1] for b in bars if b[0]}
    assert critical == {
        "verify:unit",
        "issue:P-1:plan",
        "issue:P-1:code",
        "issue:P-1:qa",
        "issue:P-1:exit",
    }
    # Hover text per bar in both views, escaped.
    assert text.count("<title>") == 1 + 2 * 8
    assert "2 tests &lt;failed&gt;" in text and "<failed>" not in text
    assert "run &lt;1&gt; &amp; co" in text


def test_timeline_is_standalone_html(tmp_path: Path) -> None:
    path = write_timeline(one_issue(), tmp_path, title="t")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    checker = Checker()
    checker.feed(text)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert {"html", "head", "body", "style", "svg", "rect", "title"} <= set(checker.seen)
    lowered = text.lower()
    for outside in ("http://", "https://", "//cdn", "<script", "<link", "src=", "url(", "@import"):
        assert outside not in lowered


def test_totals_time_saved_and_cost(tmp_path: Path) -> None:
    bars, _ = layout(one_issue())
    sums = totals(bars)
    assert sums.wall == pytest.approx(12.2)
    assert sums.busy == pytest.approx(1 + 3 + 2 + 1.99 + 3.98 + 1.99 + 2.98 + 0.19)
    assert sums.saved == pytest.approx(sums.busy - 12.2)
    assert sums.cost == pytest.approx(2.25) and sums.costed == 3
    text = write_timeline(one_issue(), tmp_path, title="t").read_text()
    assert "wall time: <b>12.2s</b>" in text
    assert "one after another: <b>17.1s</b>" in text
    assert "time saved: <b>4.9s (1.40×, against one after another)</b>" in text
    assert "$2.2500 (3 of 8 runs reported a cost)" in text


def test_given_critical_path_and_running_runs(tmp_path: Path) -> None:
    runs = [run(1, "a", 0, 2), run(2, "b", 1, None, status="running"), run(3, "c", 2, 4)]
    text = write_timeline(runs, tmp_path, title="t", critical_path=["a"]).read_text()
    bars = BAR.findall(chart(text))
    assert {b[1] for b in bars if b[0]} == {"a"}
    assert len(bars) == 3
    assert "cost: <b>not reported</b>" in text


def test_empty_and_repeated_reports(tmp_path: Path) -> None:
    first = write_timeline([], tmp_path, title="nothing")
    second = write_timeline([], tmp_path, title="nothing")
    assert first != second and first.exists() and second.exists()
    assert "No task ran." in (tmp_path / LATEST).read_text()


def test_run_report_prints_the_latest_path(tmp_path: Path) -> None:
    state = tmp_path / ".marathon"
    with pytest.raises(MarathonError, match="no timeline report yet"):
        run_report(state, out=io.StringIO())
    write_timeline(one_issue(), state / "reports", title="t")
    out = io.StringIO()
    assert run_report(state, out=out) == 0
    assert out.getvalue().strip() == str((state / "reports" / LATEST).resolve())


def test_report_latest_session_from_records(tmp_path: Path) -> None:
    state = tmp_path / ".marathon"
    assert report_latest_session(state) is None
    records = Records(state / "records.db")
    old = records.start_run("old", "verify:lint", "", "lint", "")
    records.finish_run(old, "success", exit_code=0)
    for task in ("verify:lint", "verify:unit"):
        run_id = records.start_run("new", task, "", task[7:], "")
        records.finish_run(run_id, "failed" if task.endswith("unit") else "success")
    path = report_latest_session(state)
    assert path is not None and path.parent == state / "reports"
    bars = BAR.findall(chart(path.read_text()))
    assert sorted(b[1] for b in bars) == ["verify:lint", "verify:unit"]  # only session "new"
    assert "marathon run new" in path.read_text()


def test_reporter_for_writes_the_timeline_when_a_run_ends(tmp_path: Path) -> None:
    from doit.task import Task

    from engine.report.session import reporter_for
    from engine.run.runtime import SESSION

    state = tmp_path / ".marathon"
    records = Records(state / "records.db")
    # the runs of this process (its session), as the tasks a doit run executes would record
    run_id = records.start_run(SESSION, "verify:lint", "", "lint", "")
    records.finish_run(run_id, "success", exit_code=0)

    out = io.StringIO()
    reporter = reporter_for(state)(out, {"mode": "plain", "heartbeat": 0})
    task = Task("verify:lint", [lambda: True])
    reporter.initialize({}, [])
    reporter.execute_task(task)
    reporter.add_success(task)
    reporter.complete_run()
    match = re.search(r"^   timeline: (\S+)$", out.getvalue(), re.M)
    assert match is not None
    written = Path(match.group(1))
    assert written.is_file() and written.parent.resolve() == (state / "reports").resolve()
    assert len(BAR.findall(chart(written.read_text()))) == 1

    # A run where nothing ran writes nothing new.
    before = sorted((state / "reports").iterdir())
    quiet = reporter_for(state)(io.StringIO(), {"mode": "json"})
    quiet.initialize({}, [])
    quiet.skip_uptodate(task)
    quiet.complete_run()
    assert sorted((state / "reports").iterdir()) == before


# -- an honest report ---------------------------------------------------------------------


def gated_issue(tmp_path: Path) -> list[RunRecord]:
    """A gate (issue:P-1:verify) running two checks inside it, then the issue's phases; the
    test phase failed with a log."""
    log = tmp_path / "test.log"
    log.write_text("=== issue:P-1:test at 10:00\nE   assert 1 == 2\n1 failed in 0.1s\n")
    runs = [
        run(1, "issue:P-1:verify", 0, 3),
        run(2, "verify:lint", 0.01, 1),
        run(3, "verify:unit", 0.02, 2.99),
        run(4, "issue:P-1:plan", 3, 4),
        run(5, "issue:P-1:code", 4, 6),
        run(6, "issue:P-1:test", 6, 7, status="failed", error="2 tests <failed>"),
        run(7, "issue:P-1:qa", 6, 7.5),
    ]
    runs[5] = RunRecord(**{**runs[5].__dict__, "log_path": str(log)})
    runs[3] = RunRecord(
        **{**runs[3].__dict__, "turns": 7, "session_id": "sess-42", "input_tokens": 100}
    )
    return runs


def test_a_gates_checks_are_not_counted_twice(tmp_path: Path) -> None:
    bars, _ = layout(gated_issue(tmp_path), gates=frozenset({"verify"}))
    nested = {bar.run.task for bar in bars if bar.nested}
    assert nested == {"verify:lint", "verify:unit"}
    sums = totals(bars)
    assert sums.busy == pytest.approx(3 + 1 + 2 + 1 + 1.5)  # the gate, not its checks again
    assert sums.lanes == 2  # TEST beside QA; the checks ran inside the gate's slot
    assert {bar.lane for bar in bars if bar.nested} == {bar.lane for bar in bars if bar.run.id == 1}


def test_a_sequential_run_saves_nothing(tmp_path: Path) -> None:
    # one task after another, as -n 1 runs them, with a little bookkeeping between them
    runs = [run(i + 1, f"issue:P-1:p{i}", i * 1.01, i * 1.01 + 1) for i in range(6)]
    sums = totals(layout(runs)[0])
    assert sums.lanes == 1
    assert sums.saved <= 0.05 * sums.wall
    text = write_timeline(runs, tmp_path, title="t").read_text()
    assert "time saved: <b>0.0s" in text and "lanes: <b>1</b>" in text


def test_time_saved_against_a_measured_sequential_run(tmp_path: Path) -> None:
    bars, _ = layout(one_issue())
    sums = totals(bars, baseline=14.0)
    assert sums.saved == pytest.approx(14.0 - 12.2)
    text = write_timeline(one_issue(), tmp_path, title="t", baseline=14.0).read_text()
    assert "measured sequential run: <b>14.0s</b>" in text
    assert "(1.15×, against the measured sequential run)" in text


def test_failures_not_run_labels_and_usage_are_shown(tmp_path: Path) -> None:
    runs = [*gated_issue(tmp_path), run(8, "issue:P-2:plan", 0, 0, status="skipped", error="x")]
    text = write_timeline(
        runs,
        tmp_path / "reports",
        title="t",
        gates=frozenset({"verify"}),
        not_run=[("issue:P-1:exit", "UnmetDependency")],
    ).read_text()
    failures = text[text.index("<h2>Failures (1)</h2>") :]
    assert "issue:P-1:test: failed" in failures and "2 tests &lt;failed&gt;" in failures
    assert "E   assert 1 == 2" in failures  # the log tail
    assert "<h2>Skipped and not run (2)</h2>" in text
    assert "<td>issue:P-1:exit</td><td>not run</td><td>UnmetDependency</td>" in text
    assert "<td>issue:P-2:plan</td><td>skipped</td><td>x</td>" in text
    gantt = chart(text)
    assert ">P-1 code</text>" in gantt  # bars name their issue in the view by lane
    lanes = chart(text, "by-issue")
    assert '<text class="lane-label" x="0" y="47.0">P-1</text>' in lanes and ">code</text>" in lanes
    issues = text[text.index('<table class="issues">') :]
    assert "<td>P-1</td>" in issues and ">7</td>" in issues and "sess-42" in issues
