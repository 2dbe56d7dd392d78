"""What the spec tests share: the fixture folder, the example spec, a spec file in a tmp dir."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures" / "specs"
EXAMPLE = TESTS.parent / "examples" / "todo" / "app_spec.xml"


def write(tmp_path: Path, text: str, name: str = "app_spec.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def spec_with(steps: str) -> str:
    """A minimal XML spec around `steps` (on one line: line numbers stay those of the steps)."""
    return (
        "<project_specification><project_name>P</project_name>"
        f"<implementation_steps>{steps}</implementation_steps></project_specification>\n"
    )
