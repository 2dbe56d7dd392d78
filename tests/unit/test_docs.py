"""The README says what the code does: its generated reference and its commands stay in step."""

from __future__ import annotations

from pathlib import Path

from engine.config.reference import END, START, reference

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_reference_section_is_generated_from_the_schema() -> None:
    section = README.split(START, 1)[1].split(END, 1)[0]
    assert section.strip() == reference().strip(), (
        "run: python -m engine.config.reference README.md"
    )
    for key in (
        "`phases.<name>.after`",
        "`checks.<name>.rewrites`",
        "`git.merge`",
        "`breaker.same_error`",
    ):
        assert key in section


def test_readme_starts_with_the_main_job_and_the_test_command() -> None:
    commands = [line for line in README.splitlines() if line.startswith("python3 -m venv")]
    assert commands[0].endswith("pip install -e '.[demo]' && doit -n 4 demo")
    assert commands[1].endswith("pip install -e '.[test]' && python -m pytest -n 4 -q")
    ci = (REPO / ".ci" / "run").read_text()
    assert "pip install --quiet -e '.[test]'" in ci
    assert ci.rstrip().endswith("python -m pytest -n 4 -q")
