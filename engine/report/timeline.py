"""The timeline report: one self-contained HTML file per run with an SVG Gantt chart.

Everything is inline (CSS, SVG, no script, no fonts, no links), so the file opens offline and
can be attached to a CI run. Every string that came from a task, a log path or an error is
HTML-escaped: task names come from issue ids, errors from agents.

Lanes: overlapping runs are packed onto separate lanes (see lanes.py for why not one lane per
issue). Critical path: the caller may pass the task names (for example computed by
`critical.critical_path(runs, deps)` from the compiled dependency map); otherwise it is inferred
from the timestamps (critical.py explains how). Runs with status "skipped" did no work and are
not drawn; they are counted in the header.
"""

from __future__ import annotations

import html
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.records import RunRecord
from engine.report.critical import critical_path as infer_critical_path
from engine.report.events import format_duration
from engine.report.lanes import Span, assign_lanes

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

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class Totals:
    wall: float
    busy: float  # sum of the durations: the time running the same runs one after another takes
    cost: float | None
    costed: int  # runs that reported a cost
    lanes: int

    @property
    def saved(self) -> float:
        return max(0.0, self.busy - self.wall)

    @property
    def speedup(self) -> float | None:
        return self.busy / self.wall if self.wall > 0 else None


def write_timeline(
    runs: list[RunRecord], out_dir: Path, *, title: str, critical_path: list[str] | None = None
) -> Path:
    """Write `timeline-<UTC time>.html` and `latest.html` under out_dir; return the former."""
    bars, skipped = layout(runs, critical_path)
    document = render_html(bars, totals(bars), title=title, skipped=skipped)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = _unique_path(out_dir)
    _write_atomic(path, document)
    _write_atomic(out_dir / LATEST, document)
    _prune(out_dir)
    return path


def layout(
    runs: Sequence[RunRecord], critical_path: list[str] | None = None
) -> tuple[list[Bar], int]:
    """Bars (one per run that did work) with lanes and critical marks; and the skipped count."""
    drawn = [run for run in runs if run.status != "skipped"]
    skipped = len(runs) - len(drawn)
    if not drawn:
        return [], skipped
    origin = min(run.started for run in drawn)
    # A run still going (or killed without an end) is drawn up to the last moment we know of.
    horizon = max(max(run.ended or run.started, run.started) for run in drawn)
    names = infer_critical_path(drawn) if critical_path is None else critical_path
    critical_ids = _critical_run_ids(drawn, set(names))
    spans = [
        Span(run.id, run.started, run.ended if run.ended is not None else horizon) for run in drawn
    ]
    lanes = assign_lanes(spans)
    bars = [
        Bar(run, lanes[span.key], span.start - origin, span.end - origin, run.id in critical_ids)
        for run, span in zip(drawn, spans, strict=True)
    ]
    bars.sort(key=lambda bar: (bar.start, bar.lane))
    return bars, skipped


def totals(bars: Sequence[Bar]) -> Totals:
    if not bars:
        return Totals(0.0, 0.0, None, 0, 0)
    costs = [bar.run.cost_usd for bar in bars if bar.run.cost_usd is not None]
    return Totals(
        wall=max(bar.end for bar in bars) - min(bar.start for bar in bars),
        busy=sum(bar.duration for bar in bars),
        cost=sum(costs) if costs else None,
        costed=len(costs),
        lanes=max(bar.lane for bar in bars) + 1,
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
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 2px 12px 2px 0; border-bottom: 1px solid #eee; }
td.num { text-align: right; }
"""


def render_html(bars: Sequence[Bar], sums: Totals, *, title: str, skipped: int = 0) -> str:
    esc = html.escape
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    speedup = f"{sums.speedup:.2f}×" if sums.speedup else "-"
    cost = (
        f"${sums.cost:.4f} ({sums.costed} of {len(bars)} runs reported a cost)"
        if sums.cost is not None
        else "not reported"
    )
    facts = [
        ("runs", str(len(bars)) + (f" (+{skipped} up to date, not drawn)" if skipped else "")),
        ("wall time", format_duration(sums.wall)),
        ("one after another", format_duration(sums.busy)),
        ("time saved", f"{format_duration(sums.saved)} ({speedup})"),
        ("lanes", str(sums.lanes)),
        ("cost", cost),
    ]
    legend = (
        "".join(
            f'<span><i style="background:{colour}"></i>{esc(status)}</span>'
            for status, colour in COLOURS.items()
        )
        + '<span><i style="background:#fff;border:2.5px solid #111"></i>critical path</span>'
    )
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
            render_svg(bars, sums),
            _render_table(bars),
            "</body>",
            "</html>",
            "",
        ]
    )


def render_svg(bars: Sequence[Bar], sums: Totals) -> str:
    if not bars:
        return "<p>No task ran.</p>"
    gutter = 56  # room for the lane labels on the left
    height = AXIS_HEIGHT + sums.lanes * LANE_HEIGHT
    span = max(sums.wall, 1e-6)
    scale = WIDTH / span
    parts = [
        f'<svg class="gantt" width="{WIDTH + gutter + 8}" height="{height}" '
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
    for lane in range(sums.lanes):
        y = AXIS_HEIGHT + lane * LANE_HEIGHT + LANE_HEIGHT / 2 + 4
        parts.append(f'<text class="lane-label" x="0" y="{y:.1f}">lane {lane + 1}</text>')
    for bar in bars:
        parts.append(_render_bar(bar, gutter, scale))
    parts.append("</svg>")
    return "\n".join(parts)


def _render_bar(bar: Bar, gutter: int, scale: float) -> str:
    run = bar.run
    x = gutter + bar.start * scale
    width = max(2.0, bar.duration * scale)
    y = AXIS_HEIGHT + bar.lane * LANE_HEIGHT + (LANE_HEIGHT - BAR_HEIGHT) / 2
    colour = COLOURS.get(run.status, OTHER_COLOUR)
    classes = "bar critical" if bar.critical else "bar"
    label = ""
    # The longest of these that fits: "PROJ-3 code", then "code".
    short = run.task.removeprefix("issue:").replace(":", " ")
    for text in (short, run.phase):
        if width > (len(text) + 1) * LABEL_CHAR_PX:
            label = (
                f'<text x="{x + 4:.1f}" y="{y + BAR_HEIGHT / 2 + 4:.1f}">{html.escape(text)}</text>'
            )
            break
    return (
        f'<g class="{classes}" data-task="{html.escape(run.task)}" data-run="{run.id}" '
        f'data-lane="{bar.lane}" data-status="{html.escape(run.status)}">'
        f"<title>{html.escape(_hover(bar))}</title>"
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{BAR_HEIGHT}" rx="3" '
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
    if run.cost_usd is not None:
        lines.append(f"cost ${run.cost_usd:.4f}")
    if run.input_tokens is not None or run.output_tokens is not None:
        lines.append(f"tokens in {run.input_tokens or 0}, out {run.output_tokens or 0}")
    if run.log_path:
        lines.append(f"log {run.log_path}")
    if run.error:
        lines.append(f"error: {run.error[:300]}")
    return "\n".join(lines)


def _render_table(bars: Sequence[Bar]) -> str:
    esc = html.escape
    rows = [
        "<tr>"
        f"<td>{esc(bar.run.task)}{' ★' if bar.critical else ''}</td>"
        f"<td>{esc(bar.run.status)}</td>"
        f'<td class="num">+{esc(format_duration(bar.start))}</td>'
        f'<td class="num">{esc(format_duration(bar.duration))}</td>'
        f'<td class="num">{bar.lane + 1}</td>'
        f'<td class="num">{"" if bar.run.cost_usd is None else f"${bar.run.cost_usd:.4f}"}</td>'
        f"<td>{esc(bar.run.log_path)}</td>"
        "</tr>"
        for bar in bars
    ]
    head = (
        "<tr><th>task</th><th>result</th><th>start</th><th>took</th><th>lane</th>"
        "<th>cost</th><th>log</th></tr>"
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
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".html")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _prune(out_dir: Path) -> None:
    reports = sorted(out_dir.glob(f"{PREFIX}*.html"), key=lambda p: p.stat().st_mtime)
    for old in reports[:-KEEP_REPORTS]:
        old.unlink(missing_ok=True)
