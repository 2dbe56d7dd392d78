"""The issue graph: levels, critical path, cycles, and Mermaid / Graphviz text.

Pure functions over nodes (id, title) and edges (blocker -> blocked, with a reason), so the same
code serves tracker issues and the drafts of a dry run. Rendering to svg/png shells out to
Graphviz's `dot` with an argument list; graph text only ever reaches it on stdin.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from engine.config.model import PhaseConfig
from engine.errors import MarathonError
from engine.issue import Edge, Issue, IssueDraft

TEXT_FORMATS = ("mermaid", "dot")
IMAGE_FORMATS = ("svg", "png")
RENDER_TIMEOUT = 60.0

H = TypeVar("H", bound=Hashable)


class Node(NamedTuple):
    id: str
    title: str
    done: bool = False
    state: str = ""  # done, running, failed, interrupted, skipped, blocked ... ("" = open)

    @property
    def shown_state(self) -> str:
        return self.state or ("done" if self.done else "")


# Fill and border per state, the same in DOT and Mermaid; open issues stay white.
STATE_COLOURS = {
    "done": ("#d4edda", "#28a745"),
    "running": ("#cce5ff", "#0d6efd"),
    "failed": ("#f8d7da", "#dc3545"),
    "interrupted": ("#fde2c4", "#fd7e14"),
    "skipped": ("#e2e3e5", "#6c757d"),
    "blocked": ("#fff3cd", "#b58900"),
}
CRITICAL_COLOUR = "#d63384"
LABEL_WIDTH = 28  # characters per line of a node's title
LABEL_LINES = 2  # lines of title at most; longer titles end with "…" (the tooltip has it all)


@dataclass(frozen=True)
class Graph:
    """Nodes in a stable order (it breaks every tie) and the edges between them."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


@dataclass(frozen=True)
class Summary:
    issues: int
    levels: tuple[tuple[str, ...], ...]
    critical_path: tuple[str, ...]

    @property
    def widest(self) -> int:
        return max((len(level) for level in self.levels), default=0)


# -- building --------------------------------------------------------------------------------


def graph_from_issues(
    issues: Sequence[Issue],
    edges: Sequence[Edge] = (),
    states: Mapping[str, str] | None = None,
) -> Graph:
    """Tracker issues (META left out); edges from `Issue.dependencies`, reasons from `edges`,
    and each issue's state (from the records: `doit status`) when `states` has it."""
    work = [issue for issue in issues if issue.kind != "meta"]
    ids = {issue.id for issue in work}
    reasons = {(edge.blocker, edge.blocked): edge.reason for edge in edges}
    found = [
        Edge(dep, issue.id, reasons.get((dep, issue.id), ""))
        for issue in work
        for dep in issue.dependencies
        if dep in ids
    ]
    states = states or {}
    nodes = tuple(
        Node(
            i.id,
            i.title,
            i.state in ("completed", "canceled"),
            states.get(i.id, "") if states.get(i.id) in STATE_COLOURS else "",
        )
        for i in work
    )
    return Graph(nodes, tuple(found))


def graph_from_drafts(drafts: Sequence[IssueDraft], edges: Sequence[Edge]) -> Graph:
    """A dry run's drafts (META left out); draft keys stand in for ids."""
    work = [draft for draft in drafts if draft.kind != "meta"]
    keys = {draft.key for draft in work}
    kept = tuple(edge for edge in edges if edge.blocker in keys and edge.blocked in keys)
    return Graph(tuple(Node(draft.key, draft.title) for draft in work), kept)


def graph_from_phases(phases: Mapping[str, PhaseConfig]) -> Graph:
    """One issue's workflow: phases as nodes, `after:` as edges."""
    nodes = tuple(Node(name, phase.doc or phase.kind) for name, phase in phases.items())
    edges = tuple(
        Edge(dep, name, f"{name} after {dep}")
        for name, phase in phases.items()
        for dep in phase.after
    )
    return Graph(nodes, edges)


def relabel(graph: Graph, ids: dict[str, str]) -> Graph:
    """The same graph with node ids renamed (draft keys -> issue ids); unknown ids stay."""
    nodes = tuple(node._replace(id=ids.get(node.id, node.id)) for node in graph.nodes)
    edges = tuple(
        Edge(ids.get(e.blocker, e.blocker), ids.get(e.blocked, e.blocked), e.reason)
        for e in graph.edges
    )
    return Graph(nodes, edges)


# -- analysis --------------------------------------------------------------------------------


def find_cycle(graph: Graph) -> list[str]:
    """One cycle as [a, b, ..., a], or [] for a DAG."""
    _children(graph)  # refuses edges to unknown issues
    return cycle_in(
        [node.id for node in graph.nodes], [(e.blocker, e.blocked) for e in graph.edges]
    )


def cycle_in(nodes: Sequence[Hashable], edges: Sequence[tuple[Hashable, Hashable]]) -> list[Any]:
    """One cycle as [a, b, ..., a], or [] when there is none (iterative depth-first search).

    Works on any hashable nodes (issue ids, spec step numbers, draft keys)."""
    children: dict[Hashable, list[Hashable]] = {node: [] for node in nodes}
    for blocker, blocked in edges:
        children.setdefault(blocker, []).append(blocked)
        children.setdefault(blocked, [])
    state: dict[Hashable, int] = {}  # 1 on the current path, 2 finished
    for root in children:
        if root in state:
            continue
        path, iters = [root], [iter(children[root])]
        state[root] = 1
        while path:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(children[nxt]))
    return []


def levels(graph: Graph) -> list[list[str]]:
    """Level 0 has no blockers; level k waits for something on level k-1. Raises on a cycle."""
    depth = _depths(graph)
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in graph.nodes:
        out[depth[node.id]].append(node.id)
    return out


def critical_path(graph: Graph) -> list[str]:
    """The longest chain of issues that must run one after another (earliest ids on ties)."""
    if not graph.nodes:
        return []
    depth = _depths(graph)
    position = {node.id: i for i, node in enumerate(graph.nodes)}
    parents: dict[str, list[str]] = {node.id: [] for node in graph.nodes}
    for edge in graph.edges:
        parents[edge.blocked].append(edge.blocker)
    end = min(depth, key=lambda n: (-depth[n], position[n]))
    path = [end]
    while parents[path[-1]]:
        candidates = [p for p in parents[path[-1]] if depth[p] == depth[path[-1]] - 1]
        path.append(min(candidates, key=position.__getitem__))
    return path[::-1]


def chain_lengths(graph: Graph) -> dict[str, int]:
    """For each issue, the longest chain of issues that starts with it (itself included):
    how much of the remaining critical path finishing it unblocks."""
    _children(graph)  # refuses edges to unknown issues
    edges = [(edge.blocker, edge.blocked) for edge in graph.edges]
    try:
        heaviest = heaviest_chains([node.id for node in graph.nodes], edges, lambda _: 1.0)
    except MarathonError:
        _depths(graph)  # raises the issue-graph wording of the cycle
        raise
    return {node: int(weight) for node, weight in heaviest.items()}


def heaviest_chains(
    nodes: Sequence[H], edges: Sequence[tuple[H, H]], weight: Callable[[H], float]
) -> dict[H, float]:
    """For each node, the summed weight of the heaviest chain that starts with it (itself
    included); edges run from a node to one that waits for it. Raises on a cycle."""
    children: dict[H, list[H]] = {node: [] for node in nodes}
    indegree = dict.fromkeys(nodes, 0)
    for before, after in edges:
        children[before].append(after)
        indegree[after] += 1
    order = [node for node in nodes if indegree[node] == 0]
    for node in order:  # Kahn's algorithm; `order` grows while it is walked
        for kid in children[node]:
            indegree[kid] -= 1
            if indegree[kid] == 0:
                order.append(kid)
    if len(order) != len(children):
        cycle = cycle_in(list(nodes), list(edges))
        raise MarathonError(f"cycle: {' → '.join(map(str, cycle))}")
    heaviest: dict[H, float] = {}
    for node in reversed(order):
        heaviest[node] = weight(node) + max((heaviest[kid] for kid in children[node]), default=0)
    return heaviest


def summarize(graph: Graph) -> Summary:
    return Summary(
        issues=len(graph.nodes),
        levels=tuple(tuple(level) for level in levels(graph)),
        critical_path=tuple(critical_path(graph)),
    )


def _children(graph: Graph) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {node.id: [] for node in graph.nodes}
    for edge in graph.edges:
        if edge.blocker not in children or edge.blocked not in children:
            raise MarathonError(
                f"edge {edge.blocker} -> {edge.blocked} names an issue that is not in the graph"
            )
        children[edge.blocker].append(edge.blocked)
    return children


def _depths(graph: Graph) -> dict[str, int]:
    """Longest distance from a root, by Kahn's algorithm (which also finds cycles)."""
    children = _children(graph)
    indegree = {node: 0 for node in children}
    for kids in children.values():
        for kid in kids:
            indegree[kid] += 1
    depth = {node: 0 for node in children}
    ready = [node.id for node in graph.nodes if indegree[node.id] == 0]
    seen = 0
    while ready:
        node = ready.pop()
        seen += 1
        for kid in children[node]:
            depth[kid] = max(depth[kid], depth[node] + 1)
            indegree[kid] -= 1
            if indegree[kid] == 0:
                ready.append(kid)
    if seen != len(children):
        cycle = find_cycle(graph)
        raise MarathonError(
            f"dependency cycle between issues: {' → '.join(cycle)}; remove one of these edges"
        )
    return depth


# -- text formats ----------------------------------------------------------------------------


def to_mermaid(graph: Graph, comments: str = "") -> str:
    """A Mermaid flowchart; edge reasons are the edge labels, states are colours, and the
    critical path is drawn thick. `comments` go first as `%%` lines."""
    ids = _safe_ids(graph)
    lines = [f"%% {line}" for line in comments.splitlines() if line.strip()]
    lines.append("flowchart TD")
    for node in graph.nodes:
        label = "<br/>".join(_mermaid_text(part) for part in _label(node))
        lines.append(f'    {ids[node.id]}["{label}"]')
    on_path = _critical_edges(graph)
    thick = []
    for index, edge in enumerate(graph.edges):
        label = f'|"{_mermaid_text(_short(edge.reason, 40))}"|' if edge.reason else ""
        arrow = "==>" if (edge.blocker, edge.blocked) in on_path else "-->"
        if arrow == "==>":
            thick.append(str(index))
        lines.append(f"    {ids[edge.blocker]} {arrow}{label} {ids[edge.blocked]}")
    if thick:
        lines.append(f"    linkStyle {','.join(thick)} stroke:{CRITICAL_COLOUR},stroke-width:3px")
    for state, (fill, stroke) in STATE_COLOURS.items():
        members = [ids[node.id] for node in graph.nodes if node.shown_state == state]
        if members:
            lines.append(f"    classDef {state} fill:{fill},stroke:{stroke}")
            lines.append(f"    class {','.join(members)} {state}")
    critical = [ids[node] for node in critical_path(graph)] if graph.edges else []
    if critical:
        lines.append(f"    classDef critical stroke:{CRITICAL_COLOUR},stroke-width:3px")
        lines.append(f"    class {','.join(critical)} critical")
    return "\n".join(lines) + "\n"


def to_dot(graph: Graph, comments: str = "") -> str:
    """Graphviz DOT; edge reasons are both label and tooltip, states are fill colours, the
    critical path is drawn thick, and titles are wrapped and shortened (the tooltip keeps the
    whole title). `comments` go first as `//` lines."""
    lines = [f"// {line}" for line in comments.splitlines() if line.strip()]
    lines += [
        "digraph issues {",
        "    rankdir=TB;",
        '    node [shape=box, style="rounded", fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    critical = set(critical_path(graph)) if graph.edges else set()
    on_path = _critical_edges(graph)
    for node in graph.nodes:
        label = "\n".join(_label(node))
        attrs = f"label={_dot_text(label)}, tooltip={_dot_text(node.title)}"
        fill, border = STATE_COLOURS.get(node.shown_state, ("", ""))
        if fill:
            attrs += f', style="rounded,filled", fillcolor="{fill}"'
        if node.id in critical:  # the critical path's border wins over the state's
            attrs += f', penwidth=3, color="{CRITICAL_COLOUR}"'
        elif border:
            attrs += f', color="{border}"'
        lines.append(f"    {_dot_text(node.id)} [{attrs}];")
    for edge in graph.edges:
        parts = []
        if edge.reason:
            parts.append(f"label={_dot_text(_short(edge.reason, 40))}")
            parts.append(f"tooltip={_dot_text(edge.reason)}")
        if (edge.blocker, edge.blocked) in on_path:
            parts.append(f'penwidth=3, color="{CRITICAL_COLOUR}"')
        attrs = f" [{', '.join(parts)}]" if parts else ""
        lines.append(f"    {_dot_text(edge.blocker)} -> {_dot_text(edge.blocked)}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _critical_edges(graph: Graph) -> set[tuple[str, str]]:
    path = critical_path(graph) if graph.edges else []
    return set(itertools.pairwise(path))


def _label(node: Node) -> list[str]:
    """`PROJ-3 (failed)` and the title in at most LABEL_LINES lines of LABEL_WIDTH."""
    head = f"{node.id} ({node.shown_state})" if node.shown_state else node.id
    wrapped = textwrap.wrap(" ".join(node.title.split()), LABEL_WIDTH) or [""]
    if len(wrapped) > LABEL_LINES:
        wrapped = wrapped[:LABEL_LINES]
        wrapped[-1] = _short(wrapped[-1] + " …", LABEL_WIDTH)
    return [head, *[line for line in wrapped if line]]


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def render_image(dot_text: str, fmt: str, output: Path) -> None:
    """Write an svg/png of `dot_text` with Graphviz; a clear error when `dot` is missing."""
    if fmt not in IMAGE_FORMATS:
        raise MarathonError(f"cannot render {fmt!r}; images are svg or png")
    dot = shutil.which("dot")
    if dot is None:
        raise MarathonError(
            f"--format {fmt} needs Graphviz's `dot`, which is not installed: install graphviz "
            "(apt install graphviz, brew install graphviz) or use --format mermaid or --format dot"
        )
    try:
        result = subprocess.run(
            [dot, f"-T{fmt}", "-o", str(output)],
            input=dot_text.encode(),
            capture_output=True,
            timeout=RENDER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise MarathonError(
            f"graphviz took over {RENDER_TIMEOUT:.0f}s; use --format dot", exit_code=1
        ) from None
    if result.returncode != 0:
        reason = result.stderr.decode(errors="replace").strip().splitlines()
        raise MarathonError(
            f"graphviz failed: {reason[0] if reason else 'exit ' + str(result.returncode)}",
            exit_code=1,
        )


def _safe_ids(graph: Graph) -> dict[str, str]:
    """Mermaid node ids: letters, digits and _, unique, never a keyword such as `end`."""
    ids: dict[str, str] = {}
    used: set[str] = set()
    for node in graph.nodes:
        base = re.sub(r"[^A-Za-z0-9_]", "_", node.id) or "n"
        if base[0].isdigit() or base.lower() in ("end", "graph", "subgraph", "flowchart"):
            base = "n_" + base
        candidate, n = base, 1
        while candidate in used:
            n += 1
            candidate = f"{base}_{n}"
        used.add(candidate)
        ids[node.id] = candidate
    return ids


def _mermaid_text(text: str) -> str:
    """Quoted Mermaid text: entity codes for the characters that would end or break it."""
    replace = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "|": "#124;", "\n": " "}
    return "".join(replace.get(ch, ch) for ch in text)


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
