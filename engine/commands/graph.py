"""`doit graph [--format mermaid|dot|json|svg|png] [--output FILE]`: the issue graph.

Prints the parallelism summary (issues, levels, widest level, critical path) and then the
graph. Text formats go to `out` or to `--output`; images need `--output` and Graphviz.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from engine.commands.init import summary_text
from engine.config.model import PhaseConfig
from engine.errors import MarathonError, did_you_mean
from engine.graph import (
    IMAGE_FORMATS,
    TEXT_FORMATS,
    critical_path,
    graph_from_issues,
    graph_from_phases,
    render_image,
    to_dot,
    to_mermaid,
)
from engine.spec.dependencies import metadata_from_issues
from engine.trackers.base import Tracker

FORMATS = (*TEXT_FORMATS, "json", *IMAGE_FORMATS)


def run_graph(
    tracker: Tracker,
    *,
    fmt: str = "mermaid",
    output: Path | None = None,
    out: TextIO,
    phases: Mapping[str, PhaseConfig] | None = None,
) -> int:
    """Summary then graph of the tracker's issues (read locally; META left out), or, with
    `phases`, the phase graph one issue goes through."""
    if fmt not in FORMATS:
        raise MarathonError(f"unknown graph format {fmt!r}{did_you_mean(fmt, FORMATS)}")
    if fmt in IMAGE_FORMATS and output is None:
        raise MarathonError(f"--format {fmt} writes an image: give it a file with --output")
    if phases is not None:
        if fmt == "json":
            raise MarathonError(
                "--phases draws the workflow: use --format mermaid, dot, svg or png"
            )
        graph = graph_from_phases(phases)
        path = critical_path(graph)
        out.write(f"phases: {len(graph.nodes)}, one after another: {' → '.join(path)}\n\n")
        issues, edges = [], []
    else:
        issues = tracker.snapshot()
        edges = tracker.edges()
        graph = graph_from_issues(issues, edges)
        if not graph.nodes:
            out.write("no issues yet: run `doit init --spec app_spec.xml` first\n")
            return 0
        out.write(summary_text(graph) + "\n\n")
    if fmt in IMAGE_FORMATS:
        assert output is not None
        render_image(to_dot(graph), fmt, output)
        out.write(f"wrote {output}\n")
        return 0
    if fmt == "json":
        text = json.dumps(metadata_from_issues(issues, edges), indent=2) + "\n"
    elif fmt == "dot":
        text = to_dot(graph)
    else:
        text = to_mermaid(graph)
    if output is None:
        out.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        out.write(f"wrote {output}\n")
    return 0
