"""The last-resort handler: one line for people, the traceback and versions in a log."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import errors
from engine.errors import EXIT_INTERNAL, MarathonError, internal_error


def test_exit_codes_are_distinct() -> None:
    codes = [errors.EXIT_OK, errors.EXIT_FAILED, errors.EXIT_BAD_INPUT, errors.EXIT_LOCKED]
    assert len({*codes, EXIT_INTERNAL}) == 5
    assert MarathonError("x").exit_code == errors.EXIT_BAD_INPUT


def test_internal_error_logs_the_traceback_and_returns_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    errors.set_internal_log_dir(tmp_path / ".marathon")
    try:
        {}["missing"]
    except KeyError as exc:
        line = internal_error("doit status", exc)
    assert "\n" not in line
    assert line == (
        "internal error in doit status: KeyError: 'missing'; the traceback and versions are in "
        ".marathon/internal-error.log: please attach it to a bug report"
    )
    log = (tmp_path / ".marathon" / errors.INTERNAL_LOG).read_text()
    assert 'File "' in log and '{}["missing"]' in log
    assert "python:" in log and "doit " in log and "marathon-engine" in log


def test_a_command_that_raises_gives_one_line_and_exit_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.tasks import _command_task

    monkeypatch.chdir(tmp_path)
    errors.set_internal_log_dir(tmp_path / ".marathon")

    def status() -> int:
        raise ValueError("bad\nvalue")

    def add() -> int:
        raise MarathonError("--after PROJ-9: no such issue (see doit list)")

    failed = _command_task("d", status, [])()["actions"][0]()
    assert failed.exit_code == EXIT_INTERNAL
    refused = _command_task("d", add, [])()["actions"][0]()
    assert refused.exit_code == errors.EXIT_BAD_INPUT
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: internal error in doit status: ValueError: bad value; ")
    assert err[1] == "error: --after PROJ-9: no such issue (see doit list)"
    assert len(err) == 2
