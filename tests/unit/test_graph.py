"""The issue graph: levels, widest level, critical path, cycles, Mermaid, DOT and images."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from engine.commands.graph import run_graph
from engine.errors import MarathonError
from engine.graph import (
    Graph,
    Node,
    chain_lengths,
    critical_path,
    find_cycle,
    graph_from_drafts,
    graph_from_issues,
    heaviest_chains,
    levels,
    render_image,
    summarize,
    to_dot,
    to_mermaid,
)
from engine.issue import Edge, Issue, IssueDraft
from engine.spec.importer import import_spec
from engine.trackers.local import LocalTracker
from tests.specs import EXAMPLE


def graph(nodes: str, edges: list[tuple[str, str]]) -> Graph:
    return Graph(
        tuple(Node(n, f"title {n}") for n in nodes.split()),
        tuple(Edge(a, b, f"{a} first") for a, b in edges),
    )


DIAMOND = graph("a b c d e", [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "e")])


def test_levels_and_widest() -> None:
    assert levels(DIAMOND) == [["a"], ["b", "c", "e"], ["d"]]
    summary = summarize(DIAMOND)
    assert (summary.issues, len(summary.levels), summary.widest) == (5, 3, 3)


def test_level_is_the_longest_distance_from_a_root() -> None:
    g = graph("a b c d", [("a", "b"), ("b", "c"), ("a", "c"), ("d", "c")])
    assert levels(g) == [["a", "d"], ["b"], ["c"]]


def test_critical_path_counts_issues_and_breaks_ties_by_order() -> None:
    assert critical_path(DIAMOND) == ["a", "b", "d"]
    chain = graph("x y z w", [("x", "y"), ("y", "z")])
    assert critical_path(chain) == ["x", "y", "z"]
    assert critical_path(graph("p q", [])) == ["p"]
    assert critical_path(Graph((), ())) == []


def test_cycle_detection() -> None:
    g = graph("a b c", [("a", "b"), ("b", "c"), ("c", "a")])
    assert find_cycle(g) == ["a", "b", "c", "a"]
    assert find_cycle(DIAMOND) == []
    with pytest.raises(MarathonError, match="dependency cycle between issues: a → b → c → a"):
        levels(g)


def test_edge_to_unknown_node_is_an_error() -> None:
    with pytest.raises(MarathonError, match="not in the graph"):
        levels(Graph((Node("a", "A"),), (Edge("a", "zz"),)))


def test_mermaid_has_nodes_labelled_edges_and_escapes_text() -> None:
    g = Graph(
        (Node("PROJ-1", 'Parse "quoted" <input>'), Node("end", "A | B"), Node("PROJ-3", "x", True)),
        (Edge("PROJ-1", "end", "step 1 before step 2"), Edge("end", "PROJ-3")),
    )
    text = to_mermaid(g, comments="issues: 3")
    assert text.startswith("%% issues: 3\nflowchart TD\n")
    assert '    PROJ_1["PROJ-1<br/>Parse #quot;quoted#quot; #lt;input#gt;"]' in text
    assert '    n_end["end<br/>A #124; B"]' in text  # `end` is a Mermaid keyword
    # the critical path (the whole chain here) is drawn thick
    assert '    PROJ_1 ==>|"step 1 before step 2"| n_end' in text
    assert "    n_end ==> PROJ_3" in text
    assert '    PROJ_3["PROJ-3 (done)<br/>x"]' in text
    assert "    class PROJ_3 done" in text
    assert "    class PROJ_1,n_end,PROJ_3 critical" in text


def test_dot_has_reasons_as_labels_and_tooltips() -> None:
    g = Graph((Node("A-1", 'say "hi"'), Node("A-2", "b\\c")), (Edge("A-1", "A-2", "uses X"),))
    text = to_dot(g)
    assert text.startswith("digraph issues {")
    assert '"A-1" [label="A-1\\nsay \\"hi\\"", tooltip="say \\"hi\\""' in text
    assert '"A-2" [label="A-2\\nb\\\\c"' in text
    assert '"A-1" -> "A-2" [label="uses X", tooltip="uses X", penwidth=3' in text
    assert text.rstrip().endswith("}")


def test_graph_from_drafts_leaves_meta_out() -> None:
    drafts = [IssueDraft("a", "A"), IssueDraft("b", "B"), IssueDraft("meta", "M", kind="meta")]
    g = graph_from_drafts(drafts, [Edge("a", "b", "r")])
    assert [n.id for n in g.nodes] == ["a", "b"]
    assert g.edges == (Edge("a", "b", "r"),)


def test_graph_from_issues_uses_dependencies_and_reasons() -> None:
    issues = [
        Issue("P-1", "one", blocks=("P-2",)),
        Issue("P-2", "two", dependencies=("P-1",), state="completed"),
        Issue("P-3", "meta", kind="meta"),
    ]
    g = graph_from_issues(issues, [Edge("P-1", "P-2", "step 1 before step 2")])
    assert g.nodes == (Node("P-1", "one"), Node("P-2", "two", True))
    assert g.edges == (Edge("P-1", "P-2", "step 1 before step 2"),)


def test_render_without_graphviz_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("engine.graph.shutil.which", lambda name: None)
    with pytest.raises(MarathonError) as err:
        render_image(to_dot(DIAMOND), "svg", tmp_path / "g.svg")
    assert "install graphviz" in err.value.message
    assert "--format mermaid or --format dot" in err.value.message


def test_render_passes_dot_text_on_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "dot"
    fake.write_text('#!/bin/sh\n# args: -Tsvg -o FILE\ncat > "$3"\n')
    fake.chmod(0o755)
    monkeypatch.setattr("engine.graph.shutil.which", lambda name: str(fake))
    target = tmp_path / "g.svg"
    render_image(to_dot(DIAMOND), "svg", target)
    assert target.read_text() == to_dot(DIAMOND)


# -- run_graph ---------------------------------------------------------------------------------


@pytest.fixture
def imported(tmp_path: Path) -> LocalTracker:
    tracker = LocalTracker(tmp_path / "tracker.db", "PROJ")
    import_spec(tracker, EXAMPLE, dry_run=False)
    return tracker


def test_run_graph_prints_summary_then_mermaid(imported: LocalTracker) -> None:
    out = io.StringIO()
    assert run_graph(imported, out=out) == 0
    text = out.getvalue()
    head, body = text.split("flowchart TD\n", 1)
    assert head == (
        "%% issues: 13\n%% levels: 7\n%% widest level: 4 issues at once\n"
        "%% critical path: 7 issues: PROJ-1 → PROJ-2 → PROJ-4 → PROJ-5 → PROJ-6 → PROJ-7 → "
        "PROJ-12\n"
    )
    assert '    PROJ_2 ==>|"uses TodoItem"| PROJ_4' in body  # on the critical path
    assert "PROJ_14" not in body  # META is not in the graph


def test_run_graph_dot_json_and_output_file(imported: LocalTracker, tmp_path: Path) -> None:
    out = io.StringIO()
    run_graph(imported, fmt="dot", out=out)
    assert '"PROJ-1" -> "PROJ-2" [label="step 1 before step 2"' in out.getvalue()
    target = tmp_path / "graph.json"
    out = io.StringIO()
    run_graph(imported, fmt="json", output=target, out=out)
    assert f"wrote {target}" in out.getvalue()
    data = json.loads(target.read_text())
    assert len(data["issues"]) == 13 and len(data["edges"]) == 17


def test_run_graph_bad_format_and_image_without_output(imported: LocalTracker) -> None:
    with pytest.raises(
        MarathonError, match="unknown graph format 'mermiad' \\(did you mean 'mermaid'\\?\\)"
    ):
        run_graph(imported, fmt="mermiad", out=io.StringIO())
    with pytest.raises(MarathonError, match="give it a file with --output"):
        run_graph(imported, fmt="png", out=io.StringIO())


def test_run_graph_on_an_empty_tracker(tmp_path: Path) -> None:
    out = io.StringIO()
    assert run_graph(LocalTracker(tmp_path / "t.db", "P"), out=out) == 0
    assert "no issues yet" in out.getvalue()
    assert not (tmp_path / "t.db").exists()


def test_phase_graph_of_the_default_pipeline(tmp_path) -> None:
    import io

    from engine.commands.graph import run_graph
    from engine.config.load import load_pipeline
    from engine.graph import graph_from_phases, levels
    from engine.trackers.local import LocalTracker

    pipeline = load_pipeline(tmp_path)  # the packaged default
    graph = graph_from_phases(pipeline.phases)
    assert levels(graph) == [["verify"], ["plan"], ["code"], ["test", "qa"], ["gate"], ["exit"]]
    out = io.StringIO()
    tracker = LocalTracker(tmp_path / "t.db", "PROJ")
    assert run_graph(tracker, fmt="dot", out=out, phases=pipeline.phases) == 0
    text = out.getvalue()
    assert text.startswith(
        "// phases: 7, in order (∥ = side by side): verify → plan → code → test ∥ qa → gate → exit"
    )
    assert '"code" -> "qa"' in text or "code -> qa" in text


def test_heaviest_chain_starting_at_each_node() -> None:
    # a -> b -> d and a -> c -> d; c is the heavy branch
    weight = {"a": 1.0, "b": 2.0, "c": 5.0, "d": 0.5, "lone": 3.0}
    edges = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
    heaviest = heaviest_chains(list(weight), edges, weight.__getitem__)
    assert heaviest == {"a": 6.5, "b": 2.5, "c": 5.5, "d": 0.5, "lone": 3.0}
    with pytest.raises(MarathonError, match=r"^cycle: a → [bc] → d → a$"):
        heaviest_chains(list(weight), [*edges, ("d", "a")], weight.__getitem__)


def test_chain_lengths_count_issues_and_name_a_cycle() -> None:
    chain = graph("x y z w", [("x", "y"), ("y", "z")])
    assert chain_lengths(chain) == {"x": 3, "y": 2, "z": 1, "w": 1}
    looped = graph("x y", [("x", "y"), ("y", "x")])
    with pytest.raises(MarathonError, match="dependency cycle between issues"):
        chain_lengths(looped)
