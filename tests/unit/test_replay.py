"""Record and replay: a saved cassette, played back, reproduces the same files and result."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.agents import replay
from engine.agents.base import AgentResult
from engine.agents.cassette import load_cassette, read_changes, save_cassette
from engine.agents.presets import get_preset
from engine.config.model import AgentConfig
from engine.errors import MarathonError
from tests.fakes.agents import run_preset

RESULT = AgentResult(
    ok=True,
    cost_usd=0.42,
    input_tokens=1000,
    output_tokens=200,
    turns=7,
    session_id="sess-1",
    permission_denials=("Bash(git push)",),
    summary="Implemented the login form.",
)
TRANSCRIPT = '{"type": "system", "subtype": "init"}\nWorking...\nDone.\n'


def record(
    root: Path,
    issue: str = "PROJ-5",
    phase: str = "code",
    result: AgentResult = RESULT,
    duration: float = 2.0,
) -> Path:
    files = {
        "src/app.py": b"print('hello')\n",
        "src/deep/data.bin": bytes(range(256)),
        "old.txt": None,
    }
    return save_cassette(root, issue, phase, TRANSCRIPT, files, duration, result)


def agent(root: Path, speed: float = 20.0) -> AgentConfig:
    return AgentConfig(
        name="replay", preset="replay", options={"cassettes": str(root), "speed": speed}
    )


def test_replay_reproduces_files_transcript_and_result(tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    record(cassettes)
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "old.txt").write_text("to be deleted")
    (workdir / "src").mkdir()
    (workdir / "src" / "app.py").write_text("stale")

    preset = get_preset(agent(cassettes))
    started = time.monotonic()
    result, output = run_preset(
        preset,
        agent(cassettes),
        workdir,
        "ignored prompt",
        MARATHON_ISSUE="PROJ-5",
        MARATHON_PHASE="code",
    )
    elapsed = time.monotonic() - started

    assert (workdir / "src" / "app.py").read_bytes() == b"print('hello')\n"
    assert (workdir / "src" / "deep" / "data.bin").read_bytes() == bytes(range(256))
    assert not (workdir / "old.txt").exists()
    assert output.startswith(TRANSCRIPT)
    assert result == RESULT
    assert 0.1 <= elapsed < 1.5  # 2 s recorded, played at 20x


def test_recording_what_a_phase_changed_round_trips(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    (workdir / "pkg").mkdir(parents=True)
    (workdir / "pkg" / "mod.py").write_text("x = 1\n")
    files = read_changes(workdir, ["pkg/mod.py", "gone.py"])
    assert files == {"pkg/mod.py": b"x = 1\n", "gone.py": None}
    save_cassette(tmp_path / "c", "PROJ-1", "test", "log", files, 0.5, RESULT)
    cassette = load_cassette(tmp_path / "c", "PROJ-1", "test")
    assert dict(cassette.files) == files
    assert cassette.duration == 0.5 and cassette.transcript == "log" and cassette.result == RESULT


def test_rerecording_replaces_the_cassette(tmp_path: Path) -> None:
    save_cassette(tmp_path, "PROJ-1", "code", "first", {"a.txt": b"1"}, 1.0, RESULT)
    save_cassette(tmp_path, "PROJ-1", "code", "second", {"b.txt": b"2"}, 1.0, RESULT)
    cassette = load_cassette(tmp_path, "PROJ-1", "code")
    assert cassette.transcript == "second" and dict(cassette.files) == {"b.txt": b"2"}
    assert sorted(p.name for p in (tmp_path / "PROJ-1").iterdir()) == ["code"]


def test_failed_recording_replays_as_failure(tmp_path: Path) -> None:
    failed = AgentResult(ok=False, error="claude stopped at its turn limit", turns=40)
    record(tmp_path / "c", result=failed, duration=0.0)
    result, _ = run_preset(
        replay.PRESET,
        agent(tmp_path / "c"),
        tmp_path,
        "",
        MARATHON_ISSUE="PROJ-5",
        MARATHON_PHASE="code",
    )
    assert result == failed


def test_missing_cassette_is_a_clear_failure(tmp_path: Path) -> None:
    result, _ = run_preset(
        replay.PRESET,
        agent(tmp_path / "none"),
        tmp_path,
        "",
        MARATHON_ISSUE="PROJ-5",
        MARATHON_PHASE="qa",
    )
    assert not result.ok
    assert result.error.startswith("replay exited with status 2: replay: no cassette for PROJ-5 qa")


def test_main_needs_issue_and_phase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MARATHON_ISSUE", raising=False)
    monkeypatch.delenv("MARATHON_PHASE", raising=False)
    assert replay.main(["--cassette-root", str(tmp_path)]) == 2
    assert "no issue or phase" in capsys.readouterr().err


def test_relative_cassette_dir_is_resolved_against_the_workdir(tmp_path: Path) -> None:
    config = AgentConfig(name="r", preset="replay", options={"cassettes": "recorded"})
    argv = replay.build(config, tmp_path / "p.md", tmp_path).argv
    assert argv[argv.index("--cassette-root") + 1] == str(tmp_path / "recorded")
    assert argv[argv.index("--speed") + 1] == "1.0"


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", ".git/config", "a/../../b"])
def test_cassettes_cannot_write_outside_the_workdir(tmp_path: Path, path: str) -> None:
    with pytest.raises(MarathonError, match="not a relative path inside"):
        save_cassette(tmp_path, "PROJ-1", "code", "", {path: b"x"}, 0.0, RESULT)


@pytest.mark.parametrize(("issue", "phase"), [("../x", "code"), ("PROJ-1", "a/b"), ("", "c")])
def test_issue_and_phase_cannot_escape_the_root(tmp_path: Path, issue: str, phase: str) -> None:
    with pytest.raises(MarathonError, match="cannot use"):
        save_cassette(tmp_path, issue, phase, "", {}, 0.0, RESULT)


def test_bad_speed_is_a_config_error(tmp_path: Path) -> None:
    config = AgentConfig(name="r", preset="replay", options={"speed": 0})
    with pytest.raises(MarathonError, match=r"agents\.r\.options\.speed"):
        replay.build(config, tmp_path / "p.md", tmp_path)


def test_record_run_follows_the_record_option(tmp_path: Path) -> None:
    from engine.agents.cassette import record_run

    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "new.py").write_text("y = 2\n")
    plain = AgentConfig(name="c", preset="claude")
    assert record_run(plain, workdir, "PROJ-3", "code", ["new.py"], "t", 1.0, RESULT) is None
    recording = AgentConfig(name="c", preset="claude", options={"record": "cassettes"})
    saved = record_run(recording, workdir, "PROJ-3", "code", ["new.py"], "t", 1.0, RESULT)
    assert saved == workdir / "cassettes" / "PROJ-3" / "code"

    # ...and a replay agent pointed at the same folder plays it back into a clean workdir.
    clean = tmp_path / "clean"
    clean.mkdir()
    replayer = AgentConfig(
        name="r", preset="replay", options={"cassettes": str(workdir / "cassettes"), "speed": 100}
    )
    result, _ = run_preset(
        replay.PRESET, replayer, clean, "", MARATHON_ISSUE="PROJ-3", MARATHON_PHASE="code"
    )
    assert result == RESULT
    assert (clean / "new.py").read_text() == "y = 2\n"
