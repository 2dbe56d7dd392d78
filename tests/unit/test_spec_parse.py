"""Parsing specs as people write them: three XML step shapes, Markdown, and text that is not XML."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.spec.parse import parse_spec
from tests.specs import FIXTURES, write


def test_step_shape_one_title_only_is_one_step_without_tasks() -> None:
    spec = parse_spec(FIXTURES / "shapes.xml")
    step = spec.steps[0]
    assert (step.number, step.title, step.tasks) == (1, "Setup and Database", ())
    assert step.line == 31


def test_step_shape_two_title_then_loose_bullets() -> None:
    step = parse_spec(FIXTURES / "shapes.xml").steps[1]
    assert step.title == "Notes API"
    assert [t.text for t in step.tasks] == [
        "Create notes endpoints (list, create, delete)",
        # a wrapped bullet continues on the next line; `<name>` inside backticks is not a tag
        "Add tag filtering with `?tag=<name>` query parameter that accepts several tags",
    ]
    assert [t.line for t in step.tasks] == [35, 36]


def test_step_shape_three_tasks_element_ignores_bullets_inside_code_fences() -> None:
    step = parse_spec(FIXTURES / "shapes.xml").steps[2]
    assert step.title == "Editor UI"
    assert [t.text for t in step.tasks] == [
        "Create NoteList component",
        "Create NoteCard component",
        "Add the markdown editor:",
        "Wire up saving and deleting",
    ]
    assert "<Editor value={note.body} onChange={save} />" in step.body
    assert "- this line is code, not a task" in step.body


def test_prose_with_ampersands_and_angle_brackets_survives() -> None:
    spec = parse_spec(FIXTURES / "shapes.xml")
    assert spec.name == "Notes & Tags"  # &amp; decoded
    assert "< 50 ms" in spec.overview
    assert "`make deps && make test`" in spec.overview
    assert "a<b or <5 items" in spec.overview
    assert "speed: Search answers in < 50 ms" in spec.sections["success_criteria"]


def test_nested_section_tags_become_labelled_lines() -> None:
    spec = parse_spec(FIXTURES / "shapes.xml")
    stack = spec.sections["technology_stack"]
    assert "backend:\n  framework: FastAPI\n  database: SQLite via SQLAlchemy" in stack
    assert "frontend: React + Vite" in stack
    api = spec.sections["api_endpoints_summary"]
    assert api.startswith("Notes:\n  GET /api/notes - list notes")


def test_real_world_shape_two_spec_with_fenced_shell_command() -> None:
    spec = parse_spec(FIXTURES / "ralph_todo.txt")
    assert spec.format == "xml"
    assert [s.title for s in spec.steps] == [
        "Setup and Database",
        "API Routes",
        "UI Implementation",
        "Polish",
    ]
    assert sum(len(s.tasks) for s in spec.steps) == 13
    assert "&& cd todo && bun install" in spec.sections["project_initialization"]
    assert "length < 200" in spec.sections["database_schema"]


def test_markdown_spec_steps_sections_and_depends() -> None:
    spec = parse_spec(FIXTURES / "todo.md")
    assert spec.format == "markdown"
    assert spec.name == "Todo Service"
    assert [(s.number, s.title) for s in spec.steps] == [
        (1, "Setup and storage"),
        (2, "API"),
        (3, "Docs"),
    ]
    assert spec.steps[2].depends == (1,)
    assert spec.steps[0].depends is None
    post = spec.steps[1].tasks[1]
    assert post.text == "Add POST /todos handler"
    assert post.details == ("rejects blank titles", "returns 201")
    # a heading and a bullet inside a code fence are neither a step nor a task
    assert len(spec.steps[1].tasks) == 2
    assert "## Step 9" in spec.steps[1].body
    assert spec.sections["technology_stack"] == "- Python 3.11, sqlite3, http.server"
    assert "Todos persist in SQLite" in spec.sections["success_criteria"]
    assert "pip install -e . && pytest" in spec.overview


def test_markdown_depends_line_in_body(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# P\n\n## Step 1: A\n- a\n\n## Step 2: B\n**Depends on:** none\n- b\n",
        "spec.md",
    )
    spec = parse_spec(path)
    assert spec.steps[1].depends == ()
    assert [t.text for t in spec.steps[1].tasks] == ["b"]


def test_explicit_markers_are_taken_out_of_task_text() -> None:
    spec = parse_spec(FIXTURES / "explicit.xml")
    config, _ = spec.steps[0].tasks
    assert (config.text, config.key) == ("Create the config loader", "config")
    queue = spec.steps[1].tasks[0]
    assert (queue.text, queue.after) == ("Create the job queue", ("config",))
    assert spec.steps[2].depends == (1,)
    assert spec.steps[3].depends == ()


def test_task_elements_phases_and_unnumbered_steps(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """<project_specification>
  <implementation_steps>
    <phase name="Auth">
      <task id="login">Build the login form</task>
      <task after="login">Add logout</task>
    </phase>
    <phase name="Tasks">Task CRUD endpoints</phase>
  </implementation_steps>
</project_specification>
""",
    )
    spec = parse_spec(path)
    assert [(s.number, s.title) for s in spec.steps] == [(1, "Auth"), (2, "Tasks")]
    login, logout = spec.steps[0].tasks
    assert (login.text, login.key, login.line) == ("Build the login form", "login", 4)
    assert logout.after == ("login",)
    assert spec.name == "app_spec"  # no <project_name>: the file name


def test_comments_cdata_entities_and_step_attributes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """<project_specification>
  <project_name>X</project_name>
  <implementation_steps>
    <!-- <step number="9">commented out</step> -->
    <step number="1" priority="low" title="Tidy &amp; lint">
      - Run ruff &amp;&amp; fix what it finds
      - Check that 1 &lt; 2
    </step>
  </implementation_steps>
</project_specification>
""",
    )
    spec = parse_spec(path)
    assert len(spec.steps) == 1
    step = spec.steps[0]
    assert (step.title, step.priority) == ("Tidy & lint", 4)
    assert [t.text for t in step.tasks] == ["Run ruff && fix what it finds", "Check that 1 < 2"]


def test_xml_without_project_specification_root(tmp_path: Path) -> None:
    path = write(
        tmp_path, "<implementation_steps><step number='1'>Only</step></implementation_steps>"
    )
    spec = parse_spec(path)
    assert [s.title for s in spec.steps] == ["Only"]


def test_crlf_and_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "win.xml"
    lines = [
        "<project_specification>",
        "<implementation_steps>",
        '<step number="1">',
        "<title>A</title>",
        "- one",
        "</step>",
        "</implementation_steps>",
        "</project_specification>",
    ]
    text = "\r\n".join(lines) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    spec = parse_spec(path)
    assert spec.steps[0].tasks[0].text == "one"
    assert spec.steps[0].tasks[0].line == 5


@pytest.mark.parametrize("name", ["shapes.xml", "ralph_todo.txt", "todo.md", "explicit.xml"])
def test_parsing_is_deterministic(name: str) -> None:
    assert parse_spec(FIXTURES / name) == parse_spec(FIXTURES / name)


def test_markdown_numbered_headings_under_an_implementation_plan(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# Shop\n\n## Features\n\n### 1. Not a step\n\n## Implementation plan\n\n"
        "### 1. Catalogue\n- Create the products table\n\n### 2) Checkout\n- Add the cart\n",
        "spec.md",
    )
    spec = parse_spec(path)
    assert [(s.number, s.title) for s in spec.steps] == [(1, "Catalogue"), (2, "Checkout")]
    assert "implementation_plan" not in spec.sections


def test_numbered_lines_inside_implementation_steps(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "<project_specification><implementation_steps>\n"
        "1. Auth\n   - Registration form\n   - Login with JWT\n2. Tasks CRUD endpoints\n"
        "</implementation_steps></project_specification>\n",
    )
    spec = parse_spec(path)
    assert [(s.number, s.title, len(s.tasks)) for s in spec.steps] == [
        (1, "Auth", 2),
        (2, "Tasks CRUD endpoints", 0),
    ]
    assert spec.steps[0].tasks[1].text == "Login with JWT"


def test_marker_needs_a_colon_and_depends_takes_ranges(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "<project_specification><implementation_steps>"
        '<step number="1">A</step><step number="2">B</step>'
        '<step number="3" depends="1-2"><title>C</title>\n'
        "- Refactor the parser (needs tests)\n- Ship it (needs: step 1)\n"
        "</step></implementation_steps></project_specification>\n",
    )
    step = parse_spec(path).steps[2]
    assert step.depends == (1, 2)
    assert [(t.text, t.after) for t in step.tasks] == [
        ("Refactor the parser (needs tests)", ()),
        ("Ship it", ("step 1",)),
    ]
