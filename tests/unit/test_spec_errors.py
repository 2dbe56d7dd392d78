"""Bad specs: one clear MarathonError each (file, line, fix), exit code 2, nothing written."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from engine.commands.init import run_init
from engine.errors import MarathonError
from engine.trackers.local import LocalTracker


def spec_with(steps: str) -> str:
    return (
        "<project_specification>\n<project_name>P</project_name>\n"
        f"<implementation_steps>\n{steps}\n</implementation_steps>\n</project_specification>\n"
    )


CASES = {
    "empty": ("   \n\n", "app_spec.xml", "the spec is empty"),
    "no_steps": (
        "<project_specification><overview>x</overview></project_specification>",
        "app_spec.xml",
        "no implementation steps found",
    ),
    "empty_steps": (spec_with(""), "app_spec.xml:3", "no implementation steps found"),
    "markdown_no_steps": ("# Title\n\nJust prose.\n", "app_spec.xml", "no implementation steps"),
    "no_title": (
        spec_with('<step number="1">First</step>\n<step number="2">\n- a bullet\n</step>'),
        "app_spec.xml:5",
        "step 2 has no title",
    ),
    "empty_step": (spec_with('<step number="1"></step>'), "app_spec.xml:4", "step 1 has no title"),
    "duplicate_numbers": (
        spec_with(
            '<step number="1">A</step>\n<step number="2">B</step>\n<step number="1">C</step>'
        ),
        "app_spec.xml:6",
        "step number 1 is used twice (lines 4 and 6)",
    ),
    "bad_number": (spec_with('<step number="one">A</step>'), "app_spec.xml:4", "not a whole"),
    "missing_number": (
        spec_with('<step number="1">A</step>\n<step>B</step>'),
        "app_spec.xml:5",
        "has no number while other steps do",
    ),
    "depends_on_missing_step": (
        spec_with('<step number="1">A</step>\n<step number="2" depends="7">B</step>'),
        "app_spec.xml:5",
        "step 2 depends on step 7, which does not exist (steps: 1, 2)",
    ),
    "after_missing_step": (
        spec_with('<step number="1"><title>A</title>\n- x (after: step 4)\n</step>'),
        "app_spec.xml:5",
        "names step 4, which does not exist",
    ),
    "bad_depends": (
        spec_with('<step number="1" depends="the api">A</step>'),
        "app_spec.xml:4",
        "should list step numbers",
    ),
    "self_depends": (
        spec_with('<step number="1" depends="1">A</step>'),
        "app_spec.xml:4",
        "step 1 depends on itself",
    ),
    "step_cycle": (
        spec_with('<step number="1" depends="2">Alpha</step>\n<step number="2">Beta</step>'),
        "app_spec.xml:4",
        'dependency cycle between steps: step 1 "Alpha" → step 2 "Beta" → step 1 "Alpha"',
    ),
    "task_cycle": (
        spec_with(
            '<step number="1"><title>A</title>\n- Make x (after: make y)\n'
            "- Make y (after: make x)\n</step>"
        ),
        "app_spec.xml:5",
        'dependency cycle: "Make x" (line 5) → "Make y" (line 6) → "Make x" (line 5)',
    ),
    "unclosed_step": (
        spec_with('<step number="1"><title>A</title>\n- a\n<step number="2">B</step>'),
        "app_spec.xml:4",
        "<step> is never closed",
    ),
    "bad_priority": (
        spec_with('<step number="1" priority="asap">A</step>'),
        "app_spec.xml:4",
        'priority="asap" is not a priority',
    ),
    "markdown_duplicate": (
        "# P\n\n## Step 1: A\n- a\n\n## Step 1: B\n- b\n",
        "app_spec.xml:6",
        "step number 1 is used twice (lines 3 and 6)",
    ),
    "markdown_no_title": ("# P\n\n## Step 1:\n- a\n", "app_spec.xml:3", "step 1 has no title"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_spec_is_one_clear_error_and_writes_nothing(tmp_path: Path, case: str) -> None:
    text, where, message = CASES[case]
    spec = tmp_path / "app_spec.xml"
    spec.write_text(text, encoding="utf-8")
    db = tmp_path / "tracker.db"
    tracker = LocalTracker(db, "PROJ")
    with pytest.raises(MarathonError) as err:
        run_init(tracker, spec, dry_run=False, out=sys.stdout)
    assert err.value.exit_code == 2
    assert err.value.where == str(tmp_path / where)
    assert message in err.value.message
    assert "\n" not in err.value.one_line()
    assert not db.exists()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MarathonError) as err:
        run_init(LocalTracker(tmp_path / "t.db", "P"), tmp_path / "nope.xml", dry_run=True,
                 out=sys.stdout)  # fmt: skip
    assert err.value.where == str(tmp_path / "nope.xml")
    assert "no such spec file" in err.value.message


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(MarathonError, match="is a directory"):
        run_init(LocalTracker(tmp_path / "t.db", "P"), tmp_path, dry_run=True, out=sys.stdout)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path: Path) -> None:
    spec = tmp_path / "app_spec.xml"
    spec.write_text(spec_with('<step number="1">A</step>'))
    spec.chmod(0)
    try:
        with pytest.raises(MarathonError, match="cannot read the spec"):
            run_init(LocalTracker(tmp_path / "t.db", "P"), spec, dry_run=False, out=sys.stdout)
    finally:
        spec.chmod(0o644)
    assert not (tmp_path / "t.db").exists()


def test_unreadable_file_any_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "app_spec.xml"
    spec.write_text(spec_with('<step number="1">A</step>'))

    def refuse(*args: object) -> int:
        raise PermissionError(13, "Permission denied")

    import engine.spec.text

    # The tests may run as root, whom chmod does not stop: refuse the open itself.
    monkeypatch.setattr(engine.spec.text.os, "open", refuse)
    with pytest.raises(MarathonError) as err:
        run_init(LocalTracker(tmp_path / "t.db", "P"), spec, dry_run=False, out=sys.stdout)
    assert err.value.message.startswith("cannot read the spec (Permission denied)")
    assert err.value.exit_code == 2


def test_binary_file(tmp_path: Path) -> None:
    spec = tmp_path / "app_spec.xml"
    spec.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(MarathonError) as err:
        run_init(LocalTracker(tmp_path / "t.db", "P"), spec, dry_run=False, out=sys.stdout)
    assert "binary file" in err.value.message
    assert err.value.where == f"{spec}:3"
    assert not (tmp_path / "t.db").exists()


def test_non_utf8_file(tmp_path: Path) -> None:
    spec = tmp_path / "app_spec.xml"
    spec.write_bytes(spec_with('<step number="1">Caf\xe9</step>').encode("latin-1"))
    with pytest.raises(MarathonError) as err:
        run_init(LocalTracker(tmp_path / "t.db", "P"), spec, dry_run=False, out=sys.stdout)
    assert "is not UTF-8 text" in err.value.message
    assert err.value.where == f"{spec}:4"
