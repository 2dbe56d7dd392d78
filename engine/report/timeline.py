"""The timeline report: one self-contained HTML file per run with an SVG Gantt chart.

Everything is inline (CSS, SVG, no script, no fonts, no links), so the file opens offline and
can be attached to a CI run. Every string that came from a task, a log path or an error is
HTML-escaped: task names come from issue ids, errors from agents.

Two views of the same runs: by lane (overlapping runs packed onto lanes, so the chart shows what
each worker slot was doing; lanes.py) and by issue (one swimlane per issue, checks on their own).
A gate's checks run inside the gate's own run: they are drawn as thin bars inside it and never
counted again, so "one after another" (the sum of the top-level runs) and the lanes (the peak
number of top-level runs at once) are what the run really did. "time saved" is measured against
a sequential run of the same work when the caller has one (`baseline`, e.g. the demo's `-n 1`),
otherwise against that sum; a `-n 1` run saves about nothing.

Critical path: the caller may pass the task names (for example computed by
`critical.critical_path(runs, deps)` from the compiled dependency map); otherwise it is inferred
from the timestamps (critical.py explains how). Runs with status "skipped" did no work and are
not drawn; they are listed with their reasons, with the tasks that never started because
something they need failed (`not_run`). Failures get a section with their error and log tail.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.files import write_atomic
from engine.records import RunRecord
from engine.report.critical import critical_path as infer_critical_path
from engine.report.events import format_duration, log_tail
from engine.report.lanes import Span, assign_lanes

_NEST_SLACK = 0.05  # seconds: a gate's check is recorded a moment after the gate started
FAILURE_TAIL_LINES = 20

LATEST = "latest.html"
PREFIX = "timeline-"
KEEP_REPORTS = 50  # older timestamped reports are pruned; latest.html always stays

COLOURS = {
    "success": "#2e7d32",
    "failed": "#c62828",
    "interrupted": "#ef6c00",
    "running": "#1565c0",
}
OTHER_COLOUR = "#757575"

WIDTH = 1100  # px of the plotting area
LANE_HEIGHT = 30
BAR_HEIGHT = 22
AXIS_HEIGHT = 28
LABEL_CHAR_PX = 6.6  # rough width of a character of the 11px label font
_TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


@dataclass(frozen=True)
class Bar:
    run: RunRecord
    lane: int
    start: float  # seconds from the start of the chart
    end: float
    critical: bool
    nested: bool = False  # a gate's check, inside the gate's run (drawn thin, not counted)

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class Totals:
    wall: float
    busy: float  # sum of the top-level runs' durations: the same runs one after another
    cost: float | None
    costed: int  # runs that reported a cost
    lanes: int  # the peak number of top-level runs at the same moment
    baseline: float | None = None  # wall time of a measured sequential run of the same work

    @property
    def sequential(self) -> float:
        return self.baseline if self.baseline is not None else self.busy

    @property
    def saved(self) -> float:
        return max(0.0, self.sequential - self.wall)

    @property
    def speedup(self) -> float | None:
        return self.sequential / self.wall if self.wall > 0 else None


def write_timeline(
    runs: list[RunRecord],
    out_dir: Path,
    *,
    title: str,
    critical_path: list[str] | None = None,
    gates: frozenset[str] | None = None,
    not_run: Sequence[tuple[str, str]] = (),
    baseline: float | None = None,
    path: Path | None = None,
) -> Path:
    """Write `timeline-<UTC time>.html` (or `path`) and `latest.html` under out_dir; return
    the former. `gates`: phase names whose runs contain check runs (None: any issue phase);
    `not_run`: (task, reason) for tasks that never started; `baseline`: seconds a measured
    sequential run of the same work took."""
    bars, skipped = layout(runs, critical_path, gates)
    document = render_html(
        bars,
        totals(bars, baseline),
        title=title,
        skipped=skipped,
        skipped_runs=[run for run in runs if run.status == "skipped"],
        not_run=not_run,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = path or _unique_path(out_dir)
    _write_atomic(path, document)
    _write_atomic(out_dir / LATEST, document)
    _prune(out_dir)
    return path


def layout(
    runs: Sequence[RunRecord],
    critical_path: list[str] | None = None,
    gates: frozenset[str] | None = None,
) -> tuple[list[Bar], int]:
    """Bars (one per run that did work) with lanes and critical marks; and the skipped count.

    Lanes are packed from the top-level runs only; a gate's check takes its gate's lane."""
    drawn = [run for run in runs if run.status != "skipped"]
    skipped = len(runs) - len(drawn)
    if not drawn:
        return [], skipped
    origin = min(run.started for run in drawn)
    # A run still going (or killed without an end) is drawn up to the last moment we know of.
    horizon = max(max(run.ended or run.started, run.started) for run in drawn)
    spans = {
        run.id: Span(run.id, run.started, run.ended if run.ended is not None else horizon)
        for run in drawn
    }
    container = _containers(drawn, spans, gates)
    top = [run for run in drawn if run.id not in container]
    names = infer_critical_path(top) if critical_path is None else critical_path
    critical_ids = _critical_run_ids(top, set(names))
    lanes = assign_lanes([spans[run.id] for run in top])
    for nested, gate in container.items():
        lanes[nested] = lanes[gate]
    bars = [
        Bar(
            run,
            lanes[run.id],
            spans[run.id].start - origin,
            spans[run.id].end - origin,
            run.id in critical_ids,
            nested=run.id in container,
        )
        for run in drawn
    ]
    bars.sort(key=lambda bar: (bar.start, bar.nested, bar.lane))
    return bars, skipped


def _containers(
    runs: Sequence[RunRecord], spans: dict[int, Span], gates: frozenset[str] | None
) -> dict[int, int]:
    """Check run id -> id of the gate run it ran inside (same session, within its interval)."""
    holders = [run for run in runs if run.issue and (gates is None or run.phase in gates)]
    found: dict[int, int] = {}
    for run in runs:
        if run.issue:
            continue
        span = spans[run.id]
        for gate in holders:
            outer = spans[gate.id]
            if (
                gate.session == run.session
                and outer.start - _NEST_SLACK <= span.start
                and span.end <= outer.end + _NEST_SLACK
            ):
                found[run.id] = gate.id
                break
    return found


def totals(bars: Sequence[Bar], baseline: float | None = None) -> Totals:
    if not bars:
        return Totals(0.0, 0.0, None, 0, 0, baseline)
    costs = [bar.run.cost_usd for bar in bars if bar.run.cost_usd is not None]
    top = [bar for bar in bars if not bar.nested]
    return Totals(
        wall=max(bar.end for bar in bars) - min(bar.start for bar in bars),
        busy=sum(bar.duration for bar in top),
        cost=sum(costs) if costs else None,
        costed=len(costs),
        lanes=max(bar.lane for bar in top) + 1,
        baseline=baseline,
    )


def _critical_run_ids(runs: Sequence[RunRecord], names: set[str]) -> set[int]:
    """The last run of each critical task (earlier failed attempts are not on the path)."""
    last: dict[str, RunRecord] = {}
    for run in runs:
        if run.task in names and (run.task not in last or run.started >= last[run.task].started):
            last[run.task] = run
    return {run.id for run in last.values()}


# -- HTML ----------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #212121; }
h1 { font-size: 20px; margin: 0 0 8px; }
.facts { display: flex; flex-wrap: wrap; gap: 8px 24px; margin: 8px 0 16px; }
.facts b { font-variant-numeric: tabular-nums; }
.legend span { display: inline-block; margin-right: 16px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
            vertical-align: -1px; border-radius: 2px; }
svg { display: block; margin: 12px 0 24px; overflow: visible; }
svg text { font: 11px system-ui, sans-serif; }
.bar text { fill: #fff; pointer-events: none; }
.axis text { fill: #616161; }
.axis line { stroke: #e0e0e0; }
.lane-label { fill: #616161; }
.critical rect { stroke: #111; stroke-width: 2.5; }
.nested rect { stroke: #fff; stroke-width: 1; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 2px 12px 2px 0; border-bottom: 1px solid #eee; }
td.num { text-align: right; }
h2 { font-size: 16px; margin: 20px 0 4px; }
.failure { border-left: 4px solid #c62828; padding: 4px 12px; margin: 8px 0; background: #fff5f5; }
.failure h3 { font-size: 14px; margin: 4px 0; }
.failure pre { background: #212121; color: #eee; padding: 8px; overflow-x: auto; font-size: 12px; }
"""


def render_html(
    bars: Sequence[Bar],
    sums: Totals,
    *,
    title: str,
    skipped: int = 0,
    skipped_runs: Sequence[RunRecord] = (),
    not_run: Sequence[tuple[str, str]] = (),
) -> str:
    esc = html.escape
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    speedup = f"{sums.speedup:.2f}×" if sums.speedup else "-"
    cost = (
        f"${sums.cost:.4f} ({sums.costed} of {len(bars)} runs reported a cost)"
        if sums.cost is not None
        else "not reported"
    )
    against = "the measured sequential run" if sums.baseline is not None else "one after another"
    facts = [
        ("runs", str(len(bars)) + (f" (+{skipped} skipped, not drawn)" if skipped else "")),
        ("wall time", format_duration(sums.wall)),
        ("one after another", format_duration(sums.busy)),
    ]
    if sums.baseline is not None:
        facts.append(("measured sequential run", format_duration(sums.baseline)))
    facts += [
        ("time saved", f"{format_duration(sums.saved)} ({speedup}, against {against})"),
        ("lanes", str(sums.lanes)),
        ("cost", cost),
    ]
    tokens = sum((b.run.input_tokens or 0) + (b.run.output_tokens or 0) for b in bars)
    turns = sum(b.run.turns or 0 for b in bars)
    if tokens or turns:
        facts.append(("tokens / turns", f"{tokens} / {turns}"))
    legend = (
        "".join(
            f'<span><i style="background:{colour}"></i>{esc(status)}</span>'
            for status, colour in COLOURS.items()
        )
        + '<span><i style="background:#fff;border:2.5px solid #111"></i>critical path</span>'
        + '<span><i style="background:#757575;height:5px"></i>a gate\'s check</span>'
    )
    by_issue, issue_labels = _issue_rows(bars)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{esc(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            f"<h1>{esc(title)}</h1>",
            f"<div>generated {esc(generated)}</div>",
            '<div class="facts">'
            + "".join(f"<div>{esc(k)}: <b>{esc(v)}</b></div>" for k, v in facts)
            + "</div>",
            f'<div class="legend">{legend}</div>',
            "<h2>By lane</h2>",
            render_svg(bars, sums),
            "<h2>By issue</h2>",
            _render_chart(by_issue, issue_labels, sums.wall, "by-issue", issue_view=True),
            _render_failures(bars),
            _render_not_run(skipped_runs, not_run),
            _render_issues(bars),
            "<h2>Runs</h2>",
            _render_table(bars),
            "</body>",
            "</html>",
            "",
        ]
    )


def render_svg(bars: Sequence[Bar], sums: Totals) -> str:
    """The view by lane: what each worker slot was doing."""
    labels = [f"lane {lane + 1}" for lane in range(sums.lanes)]
    return _render_chart(bars, labels, sums.wall, "gantt")


def _issue_rows(bars: Sequence[Bar]) -> tuple[list[Bar], list[str]]:
    """The same bars on one swimlane per issue (sub-lanes where its runs overlap, as TEST and
    QA do), in the order the issues started; checks outside any gate on a lane of their own."""
    from dataclasses import replace

    order: dict[str, list[Bar]] = {}
    for bar in sorted(bars, key=lambda b: b.start):
        if not bar.nested:
            order.setdefault(bar.run.issue or "checks", []).append(bar)
    placed: dict[int, int] = {}
    labels: list[str] = []
    for issue, mine in order.items():
        lanes = assign_lanes([Span(b.run.id, b.start, b.end) for b in mine])
        base = len(labels)
        count = max(lanes.values()) + 1
        labels += [issue] + [""] * (count - 1)
        for bar in mine:
            placed[bar.run.id] = base + lanes[bar.run.id]
    # a gate's check sits inside its gate, wherever the gate went
    gate_of = {b.run.id: b for b in bars if not b.nested}
    out = []
    for bar in bars:
        if bar.nested:
            holder = next(
                (
                    g
                    for g in gate_of.values()
                    if g.lane == bar.lane
                    and g.start - _NEST_SLACK <= bar.start
                    and bar.end <= g.end + _NEST_SLACK
                    and g.run.issue
                ),
                None,
            )
            lane = placed[holder.run.id] if holder else 0
        else:
            lane = placed[bar.run.id]
        out.append(replace(bar, lane=lane))
    return out, labels


def _render_chart(
    bars: Sequence[Bar], labels: Sequence[str], wall: float, css: str, *, issue_view: bool = False
) -> str:
    if not bars:
        return "<p>No task ran.</p>"
    gutter = max(56, int(max((len(label) for label in labels), default=0) * 7) + 10)
    rows = max(len(labels), 1)
    height = AXIS_HEIGHT + rows * LANE_HEIGHT
    span = max(wall, 1e-6)
    scale = WIDTH / span
    parts = [
        f'<svg class="{css}" width="{WIDTH + gutter + 8}" height="{height}" '
        f'viewBox="0 0 {WIDTH + gutter + 8} {height}" role="img" '
        f'aria-label="Gantt chart of {len(bars)} task runs">',
        '<g class="axis">',
    ]
    step = _tick_step(span)
    tick = 0.0
    while tick <= span + 1e-9:
        x = gutter + tick * scale
        parts.append(f'<line x1="{x:.1f}" y1="{AXIS_HEIGHT - 6}" x2="{x:.1f}" y2="{height}"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{AXIS_HEIGHT - 10}" text-anchor="middle">'
            f"{html.escape(format_duration(tick))}</text>"
        )
        tick += step
    parts.append("</g>")
    for lane, label in enumerate(labels):
        y = AXIS_HEIGHT + lane * LANE_HEIGHT + LANE_HEIGHT / 2 + 4
        parts.append(f'<text class="lane-label" x="0" y="{y:.1f}">{html.escape(label)}</text>')
    for bar in sorted(bars, key=lambda b: b.nested):  # checks drawn over their gate
        parts.append(_render_bar(bar, gutter, scale, issue_view=issue_view))
    parts.append("</svg>")
    return "\n".join(parts)


def _render_bar(bar: Bar, gutter: int, scale: float, *, issue_view: bool = False) -> str:
    run = bar.run
    x = gutter + bar.start * scale
    width = max(2.0, bar.duration * scale)
    y = AXIS_HEIGHT + bar.lane * LANE_HEIGHT + (LANE_HEIGHT - BAR_HEIGHT) / 2
    height = BAR_HEIGHT
    if bar.nested:  # a thin stripe along the bottom of its gate's bar
        y, height = y + BAR_HEIGHT - 6, 5
    colour = COLOURS.get(run.status, OTHER_COLOUR)
    classes = "bar critical" if bar.critical else "bar"
    if bar.nested:
        classes += " nested"
    label = ""
    # The longest of these that fits: "PROJ-3 code", then "PROJ-3" (in the view by issue,
    # where the swimlane names the issue, the phase); a gate's checks carry no label.
    issue = run.issue
    choices = (run.phase,) if issue_view else (f"{issue} {run.phase}" if issue else run.task, issue)
    for text in () if bar.nested else choices:
        if text and width > (len(text) + 1) * LABEL_CHAR_PX:
            label = (
                f'<text x="{x + 4:.1f}" y="{y + BAR_HEIGHT / 2 + 4:.1f}">{html.escape(text)}</text>'
            )
            break
    return (
        f'<g class="{classes}" data-task="{html.escape(run.task)}" data-run="{run.id}" '
        f'data-lane="{bar.lane}" data-status="{html.escape(run.status)}">'
        f"<title>{html.escape(_hover(bar))}</title>"
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height}" rx="3" '
        f'fill="{colour}"/>{label}</g>'
    )


def _hover(bar: Bar) -> str:
    run = bar.run
    lines = [
        run.task + ("  (critical path)" if bar.critical else ""),
        f"{run.status}, attempt {run.attempt}, exit code "
        f"{'-' if run.exit_code is None else run.exit_code}",
        f"started +{format_duration(bar.start)}, took {format_duration(bar.duration)}",
    ]
    if bar.nested:
        lines.append("ran inside its gate (not counted again)")
    if run.cost_usd is not None:
        lines.append(f"cost ${run.cost_usd:.4f}")
    if run.input_tokens is not None or run.output_tokens is not None:
        lines.append(f"tokens in {run.input_tokens or 0}, out {run.output_tokens or 0}")
    if run.turns:
        lines.append(f"turns {run.turns}")
    if run.session_id:
        lines.append(f"session {run.session_id}")
    if run.log_path:
        lines.append(f"log {run.log_path}")
    if run.error:
        lines.append(f"error: {run.error[:300]}")
    return "\n".join(lines)


def _render_failures(bars: Sequence[Bar]) -> str:
    esc = html.escape
    failed = [bar.run for bar in bars if bar.run.status in ("failed", "interrupted")]
    if not failed:
        return ""
    items = []
    for run in failed:
        tail = log_tail(run.log_path, FAILURE_TAIL_LINES, run_marker=f"=== {run.task} at ")
        items.append(
            f'<div class="failure" data-task="{esc(run.task)}">'
            f"<h3>{esc(run.task)}: {esc(run.status)}</h3>"
            f'<p class="error">{esc(run.error or "no error recorded")}</p>'
            + (f"<p>log: {esc(run.log_path)}</p>" if run.log_path else "")
            + (f"<pre>{esc(tail)}</pre>" if tail else "")
            + "</div>"
        )
    return f'<h2>Failures ({len(failed)})</h2><section class="failures">{"".join(items)}</section>'


def _render_not_run(skipped_runs: Sequence[RunRecord], not_run: Sequence[tuple[str, str]]) -> str:
    esc = html.escape
    rows = [(run.task, "skipped", run.error or "") for run in skipped_runs]
    rows += [(task, "not run", reason) for task, reason in not_run]
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{esc(task)}</td><td>{esc(what)}</td><td>{esc(reason)}</td></tr>"
        for task, what, reason in rows
    )
    return (
        f"<h2>Skipped and not run ({len(rows)})</h2>"
        f'<table class="not-run"><tr><th>task</th><th></th><th>why</th></tr>{body}</table>'
    )


def _render_issues(bars: Sequence[Bar]) -> str:
    esc = html.escape
    by_issue: dict[str, list[RunRecord]] = {}
    for bar in bars:
        if bar.run.issue:
            by_issue.setdefault(bar.run.issue, []).append(bar.run)
    if not by_issue:
        return ""
    rows = []
    for issue, runs in by_issue.items():
        cost = sum(r.cost_usd or 0.0 for r in runs)
        costed = any(r.cost_usd is not None for r in runs)
        tokens = sum((r.input_tokens or 0) + (r.output_tokens or 0) for r in runs)
        turns = sum(r.turns or 0 for r in runs)
        sessions = ", ".join(dict.fromkeys(r.session_id for r in runs if r.session_id))
        failed = sum(1 for r in runs if r.status in ("failed", "interrupted"))
        took = sum((r.ended or r.started) - r.started for r in runs)
        rows.append(
            f"<tr><td>{esc(issue)}</td>"
            f'<td class="num">{len(runs)}</td><td class="num">{failed}</td>'
            f'<td class="num">{esc(format_duration(took))}</td>'
            f'<td class="num">{f"${cost:.4f}" if costed else ""}</td>'
            f'<td class="num">{tokens or ""}</td><td class="num">{turns or ""}</td>'
            f"<td>{esc(sessions)}</td></tr>"
        )
    head = (
        "<tr><th>issue</th><th>runs</th><th>failed</th><th>took</th><th>cost</th>"
        "<th>tokens</th><th>turns</th><th>agent sessions</th></tr>"
    )
    return f'<h2>Issues</h2><table class="issues">{head}{"".join(rows)}</table>'


def _render_table(bars: Sequence[Bar]) -> str:
    esc = html.escape
    rows = [
        "<tr>"
        f"<td>{esc(bar.run.task)}{' ★' if bar.critical else ''}"
        f"{' (in its gate)' if bar.nested else ''}</td>"
        f"<td>{esc(bar.run.status)}</td>"
        f'<td class="num">+{esc(format_duration(bar.start))}</td>'
        f'<td class="num">{esc(format_duration(bar.duration))}</td>'
        f'<td class="num">{bar.lane + 1}</td>'
        f'<td class="num">{"" if bar.run.cost_usd is None else f"${bar.run.cost_usd:.4f}"}</td>'
        f'<td class="num">{bar.run.turns or ""}</td>'
        f"<td>{esc(bar.run.session_id)}</td>"
        f"<td>{esc(bar.run.log_path)}</td>"
        "</tr>"
        for bar in bars
    ]
    head = (
        "<tr><th>task</th><th>result</th><th>start</th><th>took</th><th>lane</th>"
        "<th>cost</th><th>turns</th><th>session</th><th>log</th></tr>"
    )
    return f'<table class="runs">{head}{"".join(rows)}</table>'


def _tick_step(span: float) -> float:
    """A round step giving about eight ticks."""
    for step in _TICK_STEPS:
        if span / step <= 10:
            return float(step)
    return span / 8


# -- files ---------------------------------------------------------------------------------


def _unique_path(out_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = out_dir / f"{PREFIX}{stamp}.html"
    counter = 2
    while path.exists():  # two runs in the same second keep both reports
        path = out_dir / f"{PREFIX}{stamp}-{counter}.html"
        counter += 1
    return path


def _write_atomic(path: Path, text: str) -> None:
    # A browser or `doit report` reading latest.html mid-write must see the old or the new file.
    write_atomic(path, text, suffix=".html")


def _prune(out_dir: Path) -> None:
    reports = sorted(out_dir.glob(f"{PREFIX}*.html"), key=lambda p: p.stat().st_mtime)
    for old in reports[:-KEEP_REPORTS]:
        old.unlink(missing_ok=True)
