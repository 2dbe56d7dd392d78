"""The issue graph: levels, critical path, cycles, and Mermaid / Graphviz text.

Pure functions over nodes (id, title) and edges (blocker -> blocked, with a reason), so the same
code serves tracker issues and the drafts of a dry run. Rendering to svg/png shells out to
Graphviz's `dot` with an argument list; graph text only ever reaches it on stdin.
"""

from __future__ import annotations

import re
import shutil
import subprocess
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


def graph_from_issues(issues: Sequence[Issue], edges: Sequence[Edge] = ()) -> Graph:
    """Tracker issues (META left out); edges from `Issue.dependencies`, reasons from `edges`."""
    work = [issue for issue in issues if issue.kind != "meta"]
    ids = {issue.id for issue in work}
    reasons = {(edge.blocker, edge.blocked): edge.reason for edge in edges}
    found = [
        Edge(dep, issue.id, reasons.get((dep, issue.id), ""))
        for issue in work
        for dep in issue.dependencies
        if dep in ids
    ]
    nodes = tuple(Node(i.id, i.title, i.state in ("completed", "canceled")) for i in work)
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


def to_mermaid(graph: Graph) -> str:
    """A Mermaid flowchart; edge reasons are the edge labels."""
    ids = _safe_ids(graph)
    lines = ["flowchart TD"]
    for node in graph.nodes:
        lines.append(f'    {ids[node.id]}["{_mermaid_text(f"{node.id}: {node.title}")}"]')
    for edge in graph.edges:
        label = f'|"{_mermaid_text(edge.reason)}"|' if edge.reason else ""
        lines.append(f"    {ids[edge.blocker]} -->{label} {ids[edge.blocked]}")
    done = [ids[node.id] for node in graph.nodes if node.done]
    if done:
        lines.append("    classDef done fill:#d4edda,stroke:#28a745")
        lines.append(f"    class {','.join(done)} done")
    return "\n".join(lines) + "\n"


def to_dot(graph: Graph) -> str:
    """Graphviz DOT; edge reasons are both label and tooltip."""
    lines = [
        "digraph issues {",
        "    rankdir=TB;",
        '    node [shape=box, style="rounded", fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    for node in graph.nodes:
        attrs = f"label={_dot_text(f'{node.id}: {node.title}')}, tooltip={_dot_text(node.title)}"
        if node.done:
            attrs += ', style="rounded,filled", fillcolor="#d4edda"'
        lines.append(f"    {_dot_text(node.id)} [{attrs}];")
    for edge in graph.edges:
        attrs = ""
        if edge.reason:
            text = _dot_text(edge.reason)
            attrs = f" [label={text}, tooltip={text}]"
        lines.append(f"    {_dot_text(edge.blocker)} -> {_dot_text(edge.blocked)}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"


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
