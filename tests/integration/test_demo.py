"""The README's first command: the example todo app built end to end, no model, no key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.trackers.local import LocalTracker
from tests.conftest import run_doit

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_demo_builds_the_todo_app(tmp_path: Path) -> None:
    result = run_doit(REPO, "demo", "--dir", str(tmp_path / "demo"), "--no-compare", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    app = tmp_path / "demo" / "parallel"
    assert "demo: -n 4: every issue done in" in result.stdout
    assert "demo: the app's own tests: 32 passed" in result.stdout

    issues = LocalTracker(app / ".marathon" / "tracker.db", "PROJ").snapshot()
    work = [issue for issue in issues if issue.kind != "meta"]
    assert len(work) == 13 and all(issue.state == "completed" for issue in work)
    subjects = subprocess.run(
        ["git", "log", "--format=%s"], cwd=app, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert sum(" code: " in s for s in subjects) == 12  # every issue but the e2e test
    assert (app / "src" / "todo" / "cli" / "__main__.py").is_file()
    assert (app / "tests" / "e2e" / "test_api_and_cli.py").is_file()
    branches = subprocess.run(
        ["git", "branch", "--list", "marathon/*"],
        cwd=app,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert branches.strip() == ""
    assert (app / ".marathon" / "reports" / "latest.html").is_file()
