"""Dependency heuristics, each with the reason it records, and the metadata JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from engine.errors import MarathonError
from engine.issue import Edge
from engine.spec.dependencies import creates, metadata_from_drafts, metadata_from_issues, names
from engine.spec.importer import import_spec, plan_spec
from engine.trackers.local import LocalTracker
from tests.specs import EXAMPLE, FIXTURES, spec_with, write

SCHEMA = Path(__file__).parent.parent.parent / "engine" / "spec" / "dependencies.schema.json"


def edges_of(path: Path) -> set[tuple[str, str, str]]:
    return {(e.blocker, e.blocked, e.reason) for e in plan_spec(path).edges}


def test_step_order_links_a_step_to_the_last_tasks_of_the_previous_step(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        spec_with(
            '<step number="1"><title>One</title>- Alpha\n- Beta</step>'
            '<step number="2"><title>Two</title>- Gamma\n- Delta</step>'
            '<step number="5"><title>Five</title>- Omega</step>'
        ),
    )
    assert edges_of(path) == {
        ("alpha", "gamma", "step 1 before step 2"),
        ("beta", "gamma", "step 1 before step 2"),
        ("alpha", "delta", "step 1 before step 2"),
        ("beta", "delta", "step 1 before step 2"),
        # numbers may skip: the previous step is the nearest lower number
        ("gamma", "omega", "step 2 before step 5"),
        ("delta", "omega", "step 2 before step 5"),
    }


def test_no_transitive_edges(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        spec_with(
            '<step number="1">First</step><step number="2">Second</step>'
            '<step number="3">Third</step>'
        ),
    )
    assert edges_of(path) == {
        ("step-first", "step-second", "step 1 before step 2"),
        ("step-second", "step-third", "step 2 before step 3"),
    }


def test_explicit_step_depends_replaces_step_order() -> None:
    edges = edges_of(FIXTURES / "explicit.xml")
    assert ("config", "write-operator-guide", "step 3 depends on step 1") in edges
    assert ("create-logger", "write-operator-guide", "step 3 depends on step 1") in edges
    assert not any(blocked == "write-operator-guide" and "step 2" in r for _, blocked, r in edges)
    # depends="" makes a root
    assert not any(blocked == "draw-logo" for _, blocked, _ in edges)


def test_after_marker_defines_the_task_incoming_edges() -> None:
    edges = edges_of(FIXTURES / "explicit.xml")
    incoming = {(a, r) for a, b, r in edges if b == "create-job-queue"}
    assert incoming == {("config", "after: config")}
    pool = {(a, r) for a, b, r in edges if b == "create-worker-pool"}
    assert pool == {("config", "step 1 before step 2"), ("create-logger", "step 1 before step 2")}


@pytest.mark.parametrize(
    ("ref", "blocker"),
    [("step 1", {"make-base", "make-paint"}), ("1", {"make-base", "make-paint"}),
     ("make-paint", {"make-paint"}), ("the paint", {"make-paint"})],
)  # fmt: skip
def test_after_marker_names_a_step_a_key_or_words(tmp_path: Path, ref: str, blocker: set) -> None:
    path = write(
        tmp_path,
        spec_with(
            '<step number="1"><title>A</title>- Make the base\n- Make the paint</step>'
            '<step number="2" depends=""><title>B</title>- Sell it'
            f" (after: {ref})</step>"
        ),
    )
    assert {a for a, b, _ in edges_of(path) if b == "sell-it"} == blocker


def test_layers_database_before_api_before_ui_within_a_step(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        spec_with(
            '<step number="1"><title>Everything</title>'
            "- Build the settings page\n- Add the orders endpoint\n- Create the orders table\n"
            "- Initialize the repository</step>"
        ),
    )
    assert edges_of(path) == {
        ("initialize-repository", "create-orders-table", "setup before database work"),
        ("create-orders-table", "add-orders-endpoint", "database work before API work"),
        ("add-orders-endpoint", "build-settings-page", "API work before UI work"),
    }


def test_names_a_task_uses_what_another_creates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        spec_with(
            '<step number="1"><title>Storage</title>'
            "- Create TodoStore in storage.py using TodoItem and db.py\n"
            "- Create the TodoItem dataclass in models.py\n"
            "- Create the schema in db.py</step>"
        ),
    )
    edges = edges_of(path)
    assert ("create-todoitem-dataclass-in-models-py",
            "create-todostore-in-storage-py-using", "uses TodoItem") in edges  # fmt: skip
    assert ("create-schema-in-db-py", "create-todostore-in-storage-py-using", "uses db.py") in edges
    assert len(edges) == 2


def test_todolist_is_built_from_todoitem_and_wiring_comes_last() -> None:
    edges = edges_of(FIXTURES / "ralph_todo.txt")
    assert ("create-todoitem-component", "create-todolist-component",
            "TodoList is built from TodoItem") in edges  # fmt: skip
    wiring = {(a, r) for a, b, r in edges if b == "wire-up-all-mutations"}
    # TodoItem is implied through TodoList, so its direct edge is reduced away
    assert wiring == {
        ("create-todolist-component", "wires up step 3"),
        ("add-input-form-for-new-todos", "wires up step 3"),
    }
    assert ("set-up-api-client-and-query-cache", "create-todoitem-component",
            "API work before UI work") in edges  # fmt: skip


def test_a_guess_that_would_close_a_cycle_is_dropped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        spec_with(
            '<step number="1"><title>UI</title>'
            "- Create FooPanel using BarWidget\n- Create BarWidget using FooPanel</step>"
        ),
    )
    edges = plan_spec(path).edges
    assert len(edges) == 1 and edges[0].reason.startswith("uses ")


def test_names_and_creates() -> None:
    text = "Create `serve()` in src/todo/server.py using ThreadingHTTPServer and TodoHandler"
    assert names(text) == {"serve", "server.py", "threadinghttpserver", "todohandler"}
    assert creates(text) == {"serve", "server.py"}
    assert names("Call todo.getAll from the page") == {"todo.getall"}


def test_every_edge_has_a_reason_and_no_meta_edges() -> None:
    for name in ("shapes.xml", "ralph_todo.txt", "todo.md", "explicit.xml"):
        plan = plan_spec(FIXTURES / name)
        assert all(edge.reason for edge in plan.edges)
        assert all("meta" not in (edge.blocker, edge.blocked) for edge in plan.edges)


def test_example_graph_levels() -> None:
    from engine.graph import graph_from_drafts, summarize

    plan = plan_spec(EXAMPLE)
    summary = summarize(graph_from_drafts(plan.drafts, plan.edges))
    assert [len(level) for level in summary.levels] == [1, 2, 1, 4, 2, 1, 2]
    assert summary.levels[3] == ("http-json", "cli-add", "cli-list", "cli-edit")
    assert summary.critical_path == ("skeleton", "models", "storage", "http-json", "api",
                                     "server", "e2e")  # fmt: skip


# -- metadata schema ---------------------------------------------------------------------------


def test_dry_run_metadata_validates_against_the_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    plan = plan_spec(EXAMPLE)
    data = metadata_from_drafts(plan.drafts, plan.edges)
    jsonschema.validate(data, schema)
    storage = next(item for item in data["issues"] if item["id"] == "storage")
    assert storage["dependencies"] == ["models", "db"]
    assert storage["blocks"] == ["http-json", "cli-add", "cli-list", "cli-edit"]
    assert all(item["id"] != "meta" for item in data["issues"])


def test_tracker_metadata_validates_against_the_schema(tmp_path: Path) -> None:
    tracker = LocalTracker(tmp_path / "tracker.db", "PROJ")
    import_spec(tracker, EXAMPLE, dry_run=False)
    data = metadata_from_issues(tracker.snapshot(), tracker.edges())
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    first = data["issues"][0]
    assert (first["id"], first["identifier"], first["key"]) == ("PROJ-1", "PROJ-1", "skeleton")
    assert first["blocks"] == ["PROJ-2", "PROJ-3"]
    assert {"blocker": "PROJ-1", "blocked": "PROJ-2", "reason": "step 1 before step 2"} in data[
        "edges"
    ]


def test_schema_rejects_an_edge_without_reason() -> None:
    schema = json.loads(SCHEMA.read_text())
    data = metadata_from_drafts([], [Edge("a", "b")])
    data["edges"] = [{"blocker": "a", "blocked": "b"}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


# -- explicit errors ---------------------------------------------------------------------------


def test_after_marker_naming_nothing_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        spec_with(
            '<step number="1"><title>A</title>\n- Make base\n- Sell it (after: make bsae)</step>'
        ),
    )
    with pytest.raises(MarathonError) as err:
        plan_spec(path)
    assert err.value.where == f"{path}:3"
    assert (
        "(after: make bsae) names no task or step (did you mean 'make-base'?)" in err.value.message
    )


def test_ambiguous_after_marker_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        spec_with(
            '<step number="1"><title>A</title>- Make red paint\n- Make blue paint\n'
            "- Sell (after: paint)</step>"
        ),
    )
    with pytest.raises(MarathonError, match="matches 2 tasks"):
        plan_spec(path)


def test_real_world_shape_three_spec() -> None:
    path = FIXTURES / "recipe_box.txt"
    plan = plan_spec(path)
    assert len(plan.tasks) == 16
    edges = edges_of(path)
    assert ("build-recipecard-component", "build-recipelist-component-with-tag",
            "RecipeList is built from RecipeCard") in edges  # fmt: skip
    # "Connect ... to the API" is wiring: after the components it connects, not before them
    wiring = {a for a, b, _ in edges if b == "connect-recipeeditor-and-recipelist-to"}
    assert wiring == {
        "build-recipelist-component-with-tag",
        "build-recipeeditor-form-with-ingredient",
    }
    assert ("initialize-vite-express-monorepo-with", "seed-database-with-5-sample-recipes",
            "setup before database work") in edges  # fmt: skip
    spec = plan.spec
    assert "Node.js >= 20" in spec.sections["prerequisites"]
    assert "GET /api/recipes?tag=a&tag=b" in spec.sections["api_endpoints_summary"]
    assert "< 2s" in spec.overview
