"""`python -m engine setup`: the files that make a project a workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.__main__ import main
from engine.workspace import DODO_PY, DOIT_CFG, ranked_run_selected

REPO = Path(__file__).resolve().parents[2]


def test_setup_writes_the_entry_files_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["setup", str(tmp_path)]) == 0
    assert (tmp_path / "dodo.py").read_text() == DODO_PY
    assert (tmp_path / "doit.cfg").read_text() == DOIT_CFG
    assert "key_prefix" in (tmp_path / "marathon.yaml").read_text()
    assert ranked_run_selected(tmp_path)
    first = capsys.readouterr().out
    assert first.count("wrote ") == 3 and "does not select the ranked run" not in first

    (tmp_path / "marathon.yaml").write_text("key_prefix: MINE\n")
    assert main(["setup", str(tmp_path)]) == 0
    assert "exists and was kept" in capsys.readouterr().out
    assert (tmp_path / "marathon.yaml").read_text() == "key_prefix: MINE\n"  # never overwritten


def test_setup_keeps_a_users_doit_cfg_and_says_what_to_add(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "doit.cfg").write_text("[GLOBAL]\nverbosity = 2\n")
    assert main(["setup", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "doit.cfg").read_text() == "[GLOBAL]\nverbosity = 2\n"
    assert "does not select the ranked run: add the line `run = engine.doit_run:RankedRun`" in out
    assert not ranked_run_selected(tmp_path)
    # as advised, and with a line that only mentions it commented out
    (tmp_path / "doit.cfg").write_text(
        "[GLOBAL]\nverbosity = 2\n[COMMAND]\n# run = engine.doit_run:RankedRun\n"
    )
    assert not ranked_run_selected(tmp_path)
    (tmp_path / "doit.cfg").write_text(
        "[GLOBAL]\nverbosity = 2\n[COMMAND]\nrun = engine.doit_run:RankedRun\n"
    )
    assert ranked_run_selected(tmp_path)
    assert main(["setup", str(tmp_path)]) == 0
    assert "does not select the ranked run" not in capsys.readouterr().out


def test_doit_cfg_wins_over_pyproject_as_in_doit(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.doit.plugins.command]\nrun = "engine.doit_run:RankedRun"\n'
    )
    assert ranked_run_selected(tmp_path)
    (tmp_path / "doit.cfg").write_text("[COMMAND]\nrun = mine.other:Run\n")
    assert not ranked_run_selected(tmp_path)
    (tmp_path / "pyproject.toml").write_text("not [ toml")
    (tmp_path / "doit.cfg").write_text("[COMMAND]\nrun = engine.doit_run:RankedRun\n")
    assert ranked_run_selected(tmp_path)  # a broken pyproject.toml counts as none


def test_setup_refuses_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["setup", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert not (tmp_path / "nope").exists()


def test_this_repository_selects_the_ranked_run() -> None:
    assert ranked_run_selected(REPO)
