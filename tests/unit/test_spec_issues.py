"""Spec -> issue drafts: keys, titles, categories, priorities, descriptions, criteria, META."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import MarathonError
from engine.spec.importer import plan_spec
from engine.spec.issues import categorize, plan_tasks, slug
from engine.spec.parse import parse_spec
from tests.specs import EXAMPLE, FIXTURES, spec_with, write


def by_key(path: Path) -> dict[str, object]:
    return {draft.key: draft for draft in plan_spec(path).drafts}


def test_one_draft_per_bullet_one_per_bare_step_and_meta_last() -> None:
    plan = plan_spec(FIXTURES / "shapes.xml")
    keys = [draft.key for draft in plan.drafts]
    assert keys[0] == "step-setup-and-database"  # a step without bullets is one issue
    assert len(keys) == 1 + 2 + 4 + 1
    assert keys[-1] == "meta"
    assert [d.kind for d in plan.drafts].count("meta") == 1


def test_titles_have_a_category() -> None:
    titles = [d.title for d in plan_spec(FIXTURES / "ralph_todo.txt").drafts]
    assert titles[:4] == [
        "[Setup] Initialize with the stack CLI",
        "[Database] Create todos table schema in packages/db",
        "[Database] Run migration",
        "[API] Create todo router with all CRUD endpoints",
    ]
    assert "[UI] Create TodoList component" in titles
    assert "[Polish] Add loading states" in titles
    assert titles[-1] == "[META] Simple Todo: project progress"


@pytest.mark.parametrize(
    ("task", "step", "category"),
    [
        ("Initialize with the stack CLI", "Setup and Database", "Setup"),
        ("Create the package skeleton: src layout", "Project setup", "Setup"),
        ("Create the project skeleton", "Setup and storage", "Setup"),
        ("Create TodoStore using TodoItem", "Setup and storage", "Database"),
        ("Set up the API client", "UI Implementation", "API"),
        ("Add input validation", "API Routes", "API"),
        ("Create the TodoItem dataclass", "Storage", "Model"),
        ("Create the `todo add` command", "Front end", "CLI"),
        ("Write the README", "Wrap-up", "Docs"),
        ("Add loading states", "Polish", "Polish"),
        ("Write end-to-end tests", "QA", "Testing"),
        ("Create the stripe account", "Billing and payments", "Billing"),
        ("", "Setup and Database", "Setup"),
    ],
)
def test_categories(task: str, step: str, category: str) -> None:
    assert categorize(task, step) == category


def test_priorities_follow_linear_numbers() -> None:
    drafts = by_key(FIXTURES / "ralph_todo.txt")
    assert drafts["initialize-with-stack-cli"].priority == 1  # setup in the first step
    assert drafts["create-todos-table-schema-in-packages-db"].priority == 2  # core
    assert drafts["create-todolist-component"].priority == 2
    assert drafts["add-toast-notifications"].priority == 4  # polish
    assert drafts["meta"].priority == 0


def test_secondary_testing_and_explicit_priorities(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        spec_with(
            '<step number="1"><title>Core</title>- Create the notes page\n'
            "- Add search over notes\n- Write unit tests for notes\n"
            '- Configure the linter</step><step number="2" priority="urgent">'
            "<title>Hotfix</title>- Patch the login bug</step>"
        ),
    )
    drafts = by_key(path)
    assert drafts["create-notes-page"].priority == 2
    assert drafts["add-search-over-notes"].priority == 3  # secondary feature
    assert drafts["write-unit-tests-for-notes"].priority == 3  # testing
    assert drafts["configure-linter"].priority == 4  # polish (lint)
    assert drafts["patch-login-bug"].priority == 1  # priority="urgent" on the step


def test_description_gives_context_from_the_spec() -> None:
    drafts = by_key(EXAMPLE)
    storage = drafts["storage"].description
    assert storage.startswith(
        "Create TodoStore in src/todo/storage.py for TodoItem on top of db.py"
    )
    assert 'Step 2 of 5, "Data model and storage", of Todo (stdlib Python).' in storage
    assert "### Database schema" in storage and "CREATE TABLE IF NOT EXISTS todos" in storage
    assert "### Technology stack" in storage
    api = drafts["api"].description
    assert "### API endpoints" in api and "PATCH /todos/{id}" in api
    cli = drafts["cli-add"].description
    assert "The CLI talks to TodoStore directly" in cli  # the step's prose
    assert "### CLI commands" in cli


def test_acceptance_criteria_from_sub_bullets_and_success_criteria() -> None:
    drafts = by_key(EXAMPLE)
    storage = drafts["storage"].acceptance
    assert storage[:3] == (
        "add, get, list (all, done or open), update and delete",
        "A title that is blank or 200 characters or longer raises ValueError",
        "Missing ids raise KeyError; every write is committed",
    )
    assert "Blank titles and titles of 200 characters or more are rejected everywhere" in storage
    assert storage[-1] == "Existing tests and checks still pass"
    # a task without sub-bullets is its own first criterion
    assert drafts["cli-add"].acceptance[0] == "Create the `todo add` command in src/todo/cli/add.py"
    assert all(not item.startswith("- [ ]") for d in drafts.values() for item in d.acceptance)


def test_meta_issue_tracks_the_project() -> None:
    meta = by_key(EXAMPLE)["meta"]
    assert meta.kind == "meta"
    assert meta.title == "[META] Todo (stdlib Python): project progress"
    assert "4. Command-line front end (4 issues)" in meta.description
    assert "13 issues in all" in meta.description
    assert meta.acceptance[0].startswith("Todos created through the API are listed by the CLI")


def test_example_spec_shape() -> None:
    plan = plan_spec(EXAMPLE)
    assert 10 <= len(plan.tasks) <= 14
    assert [d.key for d in plan.tasks] == [
        "skeleton", "models", "db", "storage", "http-json", "api", "server",
        "cli-add", "cli-list", "cli-edit", "cli-main", "e2e", "readme",
    ]  # fmt: skip


# -- keys --------------------------------------------------------------------------------------


def test_slug() -> None:
    assert slug("Create the TodoItem model!") == "create-todoitem-model"
    assert slug("x" * 50) == "x" * 40
    assert (
        slug("one two three four five six seven eight nine")
        == "one-two-three-four-five-six-seven-eight"
    )


def test_keys_survive_reordering_and_renumbering(tmp_path: Path) -> None:
    before = write(
        tmp_path,
        spec_with(
            '<step number="1"><title>A</title>- Create the model\n- Create the store</step>'
            '<step number="2"><title>B</title>- Add the API</step>'
        ),
        "before.xml",
    )
    after = write(
        tmp_path,
        spec_with(
            '<step number="1"><title>New first step</title>- Install tools</step>'
            '<step number="2"><title>A, renamed</title>'
            "- Create the store\n- Create the model</step>"
            '<step number="3"><title>B</title>- Add the API</step>'
        ),
        "after.xml",
    )
    old = {d.key for d in plan_spec(before).tasks}
    new = {d.key for d in plan_spec(after).tasks}
    assert old == {"create-model", "create-store", "add-api"}
    assert new == old | {"install-tools"}


def test_duplicate_task_text_gets_step_prefixes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        spec_with(
            '<step number="1"><title>A</title>- Write tests\n- Write tests</step>'
            '<step number="2"><title>B</title>- Write tests\n- Meta</step>'
        ),
    )
    keys = [task.key for task in plan_tasks(parse_spec(path))]
    assert keys == ["s1-write-tests", "s1-write-tests-2", "s2-write-tests", "task-meta"]


def test_explicit_id_and_reserved_meta(tmp_path: Path) -> None:
    path = write(tmp_path, spec_with('<step number="1" id="boot">Boot the project</step>'))
    assert [t.key for t in plan_tasks(parse_spec(path))] == ["boot"]
    bad = write(
        tmp_path, spec_with('<step number="1"><title>A</title>- X (id: meta)</step>'), "bad.xml"
    )
    with pytest.raises(MarathonError, match="cannot be used"):
        plan_tasks(parse_spec(bad))


def test_duplicate_explicit_id_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        spec_with('<step number="1"><title>A</title>- X (id: same)\n- Y (id: same)</step>'),
    )
    with pytest.raises(MarathonError) as err:
        plan_tasks(parse_spec(path))
    assert err.value.where == f"{path}:2"
    assert "id 'same' is used twice" in err.value.message


@pytest.mark.parametrize("name", ["shapes.xml", "ralph_todo.txt", "todo.md", "explicit.xml"])
def test_drafts_and_edges_are_deterministic(name: str) -> None:
    assert plan_spec(FIXTURES / name) == plan_spec(FIXTURES / name)


def test_keys_for_non_latin_task_text(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        spec_with('<step number="1"><title>Старт</title>- Создать модель\n- 创建接口</step>'),
    )
    assert [t.key for t in plan_tasks(parse_spec(path))] == ["создать-модель", "创建接口"]


def test_long_steps_name_only_some_siblings(tmp_path: Path) -> None:
    bullets = "\n".join(f"- Task number {n}" for n in range(12))
    path = write(tmp_path, spec_with(f'<step number="1"><title>Many</title>\n{bullets}\n</step>'))
    first = plan_spec(path).drafts[0].description
    assert "Task number 8; and 3 more." in first
