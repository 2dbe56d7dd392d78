"""`doit graph [--format mermaid|dot|json|svg|png] [--output FILE]`: the issue graph.

The graph document (Mermaid, DOT, JSON) is exactly what goes to stdout or `--output`, so it
pipes into its consumer (`dot`, `json.load`, a Markdown file). The parallelism summary (issues,
levels, widest level, critical path) rides inside it as comments (`%%` in Mermaid, `//` in
DOT); JSON has no comments, so there it goes to stderr. Images need `--output` and Graphviz.
Issues are coloured by their state in the records (the states `doit status` shows).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from engine.commands.init import summary_text
from engine.config.model import PhaseConfig
from engine.errors import MarathonError, did_you_mean
from engine.graph import (
    IMAGE_FORMATS,
    TEXT_FORMATS,
    graph_from_issues,
    graph_from_phases,
    levels,
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
    states: Mapping[str, str] | None = None,
    err: TextIO | None = None,
) -> int:
    """The graph of the tracker's issues (read locally; META left out) with its summary, or,
    with `phases`, the phase graph one issue goes through. `states`: issue id -> state."""
    err = err or sys.stderr
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
        steps = " → ".join(" ∥ ".join(level) for level in levels(graph))
        summary = f"phases: {len(graph.nodes)}, in order (∥ = side by side): {steps}"
        issues, edges = [], []
    else:
        issues = tracker.snapshot()
        edges = tracker.edges()
        graph = graph_from_issues(issues, edges, states)
        summary = (
            summary_text(graph)
            if graph.nodes
            else "no issues yet: run `doit init --spec app_spec.xml` first"
        )
    if fmt in IMAGE_FORMATS:
        assert output is not None
        render_image(to_dot(graph), fmt, output)
        out.write(f"{summary}\nwrote {output}\n")
        return 0
    if fmt == "json":
        text = json.dumps(metadata_from_issues(issues, edges), indent=2) + "\n"
        err.write(summary + "\n")
    elif fmt == "dot":
        text = to_dot(graph, comments=summary)
    else:
        text = to_mermaid(graph, comments=summary)
    if output is None:
        out.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        out.write(f"{summary}\nwrote {output}\n")
    return 0
