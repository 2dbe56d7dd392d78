import tomllib
from pathlib import Path

import todo


def test_version_matches_pyproject() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    data = tomllib.loads(pyproject.read_text())
    assert todo.__version__ == data["project"]["version"]
    assert data["project"]["dependencies"] == []
