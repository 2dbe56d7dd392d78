"""Setup runs each detected check once: the table, what a check that cannot start becomes in
the file, --dry-run, --refresh, and a folder that is not a git repository."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.__main__ import main
from engine.commands.setup import run_setup
from engine.config.load import load_pipeline

PYPROJECT = "[project]\nname = 'calc'\n[tool.ruff]\n[tool.mypy]\n"
TEST_FILE = "def test_one():\n    assert 1 + 1 == 2\n"


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding python (this interpreter), a ruff that finds one error, and no mypy."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    ruff = bin_dir / "ruff"
    ruff.write_text(
        "#!/bin/sh\necho 'calc.py:1:1: F401 unused import'\necho 'Found 1 error.'\nexit 1\n"
    )
    ruff.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return bin_dir


def project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "calc.py").write_text("import os\n")
    (root / "tests" / "test_calc.py").write_text(TEST_FILE)
    return root


def test_the_table_and_what_cannot_start(tmp_path: Path, fake_path: Path) -> None:
    root = project(tmp_path / "p")
    out = io.StringIO()
    assert run_setup(root, out=out) == 0
    said = out.getvalue().splitlines()
    table = said[said.index("each check, run once:") + 2 :]
    rows = {line.split()[0]: line for line in table if line.startswith("  ")}
    assert "passes" in rows["tests"]
    assert "fails" in rows["lint"] and "exit 1: Found 1 error." in rows["lint"]
    assert "cannot start" in rows["typecheck"] and "'mypy' is not installed" in rows["typecheck"]
    text = (root / "marathon.yaml").read_text()
    data = yaml.safe_load(text)
    assert set(data["checks"]) == {"tests", "lint"}  # typecheck is only a comment
    assert "# typecheck: left out, it cannot start ('mypy' is not installed)" in text
    assert "#   command: mypy ." in text or "#   command: mypy" in text
    assert "# failed when setup ran it: exit 1: Found 1 error." in text
    assert set(load_pipeline(root).checks) == {"tests", "lint"}


def test_a_module_the_runner_lacks_cannot_start_but_a_tests_import_error_fails(
    tmp_path: Path, fake_path: Path
) -> None:
    root = tmp_path / "p"
    (root / "tests").mkdir(parents=True)
    (root / "requirements.txt").write_text("pytest\n")
    (root / "tests" / "test_x.py").write_text("import no_such_module_here\n")
    out = io.StringIO()
    assert run_setup(root, out=out, dry_run=True) == 0
    assert "fails" in out.getvalue() and "cannot start" not in out.getvalue()


def test_dry_run_prints_the_file_and_the_table_and_writes_nothing(
    tmp_path: Path, fake_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path / "p")
    before = sorted(p.name for p in root.iterdir())
    assert main(["setup", str(root), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "(dry run: nothing written)" in out and "checks:" in out and "phases:" in out
    assert "  tests      passes" in out
    # No marathon.yaml, dodo.py or doit.cfg; the checks it ran may leave their caches.
    after = sorted(p.name for p in root.iterdir() if not p.name.startswith((".", "__")))
    assert after == before


def test_refresh_shows_the_diff_then_rewrites(tmp_path: Path) -> None:
    root = tmp_path
    (root / "go.mod").write_text("module x\n")
    assert run_setup(root, out=io.StringIO(), run_checks=False) == 0
    (root / ".golangci.yml").write_text("linters: {}\n")
    out = io.StringIO()
    assert run_setup(root, out=out, run_checks=False) == 0
    assert "exists and was kept" in out.getvalue()
    assert "golangci-lint run" not in (root / "marathon.yaml").read_text()

    out = io.StringIO()
    assert run_setup(root, out=out, run_checks=False, refresh=True, dry_run=True) == 0
    assert "+    command: golangci-lint run" in out.getvalue()
    assert "golangci-lint run" not in (root / "marathon.yaml").read_text()

    out = io.StringIO()
    assert run_setup(root, out=out, run_checks=False, refresh=True) == 0
    assert "+    command: golangci-lint run" in out.getvalue() and "rewrote" in out.getvalue()
    assert "lint" in load_pipeline(root).checks
    out = io.StringIO()
    assert run_setup(root, out=out, run_checks=False, refresh=True) == 0
    assert "is up to date" in out.getvalue()


def test_outside_a_git_repository_it_says_so_and_offers_git_init(tmp_path: Path) -> None:
    out = io.StringIO()
    asked: list[str] = []
    assert (
        run_setup(tmp_path, out=out, run_checks=False, ask=lambda q: asked.append(q) or False) == 0
    )
    assert "is not a git repository" in out.getvalue() and "no worktrees" in out.getvalue()
    assert "`git init`" in out.getvalue() and asked and "git init" in asked[0]
    assert not (tmp_path / ".git").exists()

    other = tmp_path / "other"
    other.mkdir()
    out = io.StringIO()
    assert run_setup(other, out=out, run_checks=False, ask=lambda q: True) == 0
    said = out.getvalue()
    assert said.index("is not a git repository") < said.index("ran git init")  # why, then what
    assert subprocess.run(["git", "rev-parse"], cwd=other).returncode == 0


def test_git_init_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["setup", str(tmp_path), "--no-run", "--git-init"]) == 0
    assert (tmp_path / ".git").is_dir()
    assert "not a git repository" not in capsys.readouterr().out


def test_refresh_keeps_the_projects_tracker_agents_and_phases(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module x\n")
    assert run_setup(tmp_path, out=io.StringIO(), run_checks=False) == 0
    config = tmp_path / "marathon.yaml"
    text = config.read_text()
    text = text.replace("kind: local", "kind: linear\n  team: ENG")
    text = text.replace("  claude:\n", "  mine:\n").replace("agent: claude", "agent: mine")
    text = text.replace("timeout: 1800", "timeout: 99")
    config.write_text(text)
    (tmp_path / ".golangci.yml").write_text("{}\n")
    assert run_setup(tmp_path, out=io.StringIO(), run_checks=False, refresh=True) == 0
    pipeline = load_pipeline(tmp_path)
    assert pipeline.tracker.kind == "linear" and pipeline.tracker.team == "ENG"
    assert set(pipeline.agents) == {"mine"} and pipeline.phases["code"].agent == "mine"
    assert pipeline.phases["code"].timeout == 99
    assert "lint" in pipeline.checks  # what detection decides did change


def test_refresh_of_a_broken_file_names_the_file_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "go.mod").write_text("module x\n")
    (tmp_path / "marathon.yaml").write_text("phases:\n  plan: {aftr: []}\n")
    assert main(["setup", str(tmp_path), "--refresh", "--no-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: marathon.yaml:2:") and "aftr" in err
    assert (tmp_path / "marathon.yaml").read_text() == "phases:\n  plan: {aftr: []}\n"
    assert not (tmp_path / "dodo.py").exists()


def test_exit_5_passes_once_the_engine_knows_ok_exit_codes(tmp_path: Path) -> None:
    """The branch the lead's ok_exit_codes turns on: the probe and the file agree on it."""
    from engine.setup.model import DetectedCheck, Detection
    from engine.setup.probe import probe
    from engine.setup.write import render

    check = DetectedCheck(
        "tests",
        (sys.executable, "-c", "raise SystemExit(5)"),
        ("*.py",),
        "pytest",
        "pytest: a dependency",
        ok_exit_codes=(0, 5),
        ok_why="pytest exits 5 when it collects no tests (none written yet)",
    )
    detection = Detection("python", "Python", (check,), ("*.py",), ("*.py",), ("t/*",), ("e/*",))
    for supported, status in ((True, "passes"), (False, "fails")):
        (outcome,) = probe(tmp_path, [check], ok_codes_supported=supported)
        assert outcome.status == status and outcome.why.startswith("exit 5: pytest exits 5")
        text = render(tmp_path, [detection], {"tests": outcome}, ok_codes_supported=supported)
        data = yaml.safe_load(text)
        if supported:
            assert data["checks"]["tests"]["ok_exit_codes"] == [0, 5]
        else:
            assert data["checks"] == {} and "# tests: left out, exit 5" in text
