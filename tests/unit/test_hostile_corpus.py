"""Every hostile input of tests/fixtures/hostile/ through its entry point.

Refused inputs end in one MarathonError line (exit code 2, naming the file) and leave the
workspace's databases byte-identical; accepted ones are stored verbatim; nothing raises
anything else and nothing takes long. In-process here for speed; a sample goes through real
doit subprocesses at the end of the file.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.config.load import load_pipeline
from engine.config.model import TrackerConfig
from engine.errors import MarathonError
from engine.issue import IssueDraft
from engine.trackers.local import LocalTracker
from engine.workspace import scaffold
from tests.conftest import run_doit

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
BASE = CORPUS / "base.yaml"  # the good pipeline the marathon.yaml cases are edits of
SECONDS = 10.0  # generous: every input here is handled in well under a second


def entries(kind: str) -> list[Any]:
    return [
        pytest.param(e, id=e.get("file") or e.get("recipe") or e["name"])
        for e in MANIFEST
        if e["entry"] == kind
    ]


def test_the_corpus_is_big_enough() -> None:
    assert len(MANIFEST) >= 150


def state_of(folder: Path) -> dict[str, str]:
    """A digest of every file under `folder` (the databases and the stamp).

    Connections a refused command left to the garbage collector are closed first: the last
    close folds the WAL into the file, so a write would show in the file itself.
    """
    gc.collect()
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def base_text() -> str:
    return BASE.read_text()


@pytest.fixture
def ws(tmp_path: Path, base_text: str) -> Path:
    """A workspace with one issue in its tracker (so refusals have a database to keep)."""
    root = scaffold(tmp_path / "ws", pipeline_text=base_text, git=False)
    tracker = LocalTracker(root / ".marathon" / "tracker.db", "PROJ")
    tracker.create_issue(IssueDraft("", "already here", ""))
    tracker._conn.close()  # the last connection closed: WAL folded in, the file is at rest
    return root


def close(tracker: LocalTracker) -> None:
    conn = getattr(tracker._local, "conn", None)
    if conn is not None:
        conn.close()
        tracker._local.conn = None


def refused(error: MarathonError, words: str, place: str) -> None:
    line = error.one_line()
    assert "\n" not in line
    assert error.exit_code == 2, line
    assert words.lower() in line.lower(), line
    assert place in line, line


def make_special(recipe: str, path: Path) -> None:
    """The inputs git cannot hold: pipes, devices, folders, sizes."""
    path.unlink(missing_ok=True)
    kind = recipe.split("-", 1)[1]
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    elif kind == "too-big":
        path.write_bytes(b"# x\n" * 2_000_000)
    elif kind == "latin1":
        path.write_bytes("key_prefix: PROJ # caf\xe9\n".encode("latin-1"))


@pytest.mark.parametrize("entry", entries("marathon.yaml"))
def test_marathon_yaml(entry: dict[str, Any], ws: Path) -> None:
    if "recipe" in entry:
        make_special(entry["recipe"], ws / "marathon.yaml")
    else:
        (ws / "marathon.yaml").write_bytes((CORPUS / entry["file"]).read_bytes())
    before = state_of(ws / ".marathon")
    start = time.monotonic()
    with pytest.raises(MarathonError) as caught:
        load_pipeline(ws)
    assert time.monotonic() - start < SECONDS
    refused(caught.value, entry["refuse"], "marathon.yaml")
    assert state_of(ws / ".marathon") == before


@pytest.mark.parametrize("entry", entries("template"))
def test_workspace_template(entry: dict[str, Any], ws: Path) -> None:
    (ws / "templates").mkdir(exist_ok=True)
    (ws / "templates" / "code.md.j2").write_bytes((CORPUS / entry["file"]).read_bytes())
    with pytest.raises(MarathonError) as caught:
        load_pipeline(ws)
    refused(caught.value, entry["refuse"], "marathon.yaml:")


@pytest.mark.parametrize("entry", entries("spec"))
def test_spec(entry: dict[str, Any], ws: Path) -> None:
    from engine.commands.init import run_init

    if "recipe" in entry:
        spec = ws / f"{entry['recipe']}.md"
        if not entry["recipe"].endswith("missing"):
            make_special(entry["recipe"], spec)
    else:
        spec = ws / Path(entry["file"]).name
        spec.write_bytes((CORPUS / entry["file"]).read_bytes())
    tracker = LocalTracker(ws / ".marathon" / "tracker.db", "PROJ")
    before = state_of(ws / ".marathon")
    for dry_run in (True, False):
        start = time.monotonic()
        if entry["refuse"]:
            with pytest.raises(MarathonError) as caught:
                run_init(tracker, spec, dry_run=dry_run, out=io.StringIO())
            refused(caught.value, entry["refuse"], spec.name)
            assert state_of(ws / ".marathon") == before
        else:
            out = io.StringIO()
            assert run_init(tracker, spec, dry_run=dry_run, out=out) == 0
            assert "critical path" in out.getvalue()
        assert time.monotonic() - start < SECONDS


@pytest.fixture
def signals_kept() -> Iterator[None]:
    """dodo_namespace installs doit's signal handlers; give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.mark.parametrize("entry", entries("doit add"))
def test_doit_add(
    entry: dict[str, Any], ws: Path, signals_kept: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.tasks import dodo_namespace

    action = dodo_namespace(ws)["task_add"]()["actions"][0]
    before = state_of(ws / ".marathon")
    result = action(**entry["args"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    tracker = LocalTracker(ws / ".marathon" / "tracker.db", "PROJ")
    if entry["refuse"]:
        errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and entry["refuse"] in errors[0], captured.err
        assert result is not True
        assert state_of(ws / ".marathon") == before
    else:
        assert result is True, captured.err
        made = tracker.snapshot()[-1]
        assert made.title == entry["args"]["title"].strip()
        assert made.description == entry["args"]["description"]


@pytest.fixture(scope="module")
def fake_linear() -> Iterator[Any]:
    from tests.fakes.linear_server import FakeLinear

    with FakeLinear() as fake:
        fake.add_team("ENG")
        yield fake


@pytest.mark.parametrize("entry", entries("linear sync"))
def test_linear_sync(
    entry: dict[str, Any],
    ws: Path,
    fake_linear: Any,
    monkeypatch: pytest.MonkeyPatch,
    signals_kept: None,
) -> None:
    from engine.tasks import dodo_namespace
    from engine.trackers.linear.tracker import LinearTracker

    project = entry["name"]
    fake_linear.add_project("ENG", project)
    fake_linear.add_project("ENG", f"{project}-other")
    made = []
    for title, description in entry["issues"]:
        where = f"{project}-other" if title.endswith("@other") else project
        made.append(fake_linear.add_issue("ENG", title, project=where, description=description))
    for a, b in entry["relations"]:
        fake_linear.add_relation(made[a]["id"], made[b]["id"])
    monkeypatch.setenv("LINEAR_API_KEY", fake_linear.api_key)
    config = TrackerConfig(kind="linear", team="ENG", project=project, url=fake_linear.url)
    snapshot = LocalTracker(ws / ".marathon" / "tracker.db", "ENG")
    before = state_of(ws / ".marathon")
    start = time.monotonic()
    if entry["refuse"]:
        with pytest.raises(MarathonError) as caught:
            LinearTracker(config, snapshot).sync()
        refused(caught.value, entry["refuse"], "")
        close(snapshot)  # folds the WAL back in: a write would show in the file itself
        assert state_of(ws / ".marathon") == before
        return
    LinearTracker(config, snapshot).sync()
    assert time.monotonic() - start < SECONDS
    stored = {issue.title: issue for issue in snapshot.snapshot()}
    for title, description in entry["issues"]:
        if not title.endswith("@other"):
            # verbatim (the sync trims the surrounding whitespace of a description)
            assert stored[title].description == description.strip()
    tasks = list(dodo_namespace(ws)["task_workflow"]())  # the run path loads it
    assert tasks


def build_recipe(name: str, path: Path) -> None:
    if name == "directory":
        path.unlink()
        path.mkdir()
    elif name == "truncated":
        tracker = LocalTracker(path, "PROJ")
        for n in range(100):
            tracker.create_issue(IssueDraft("", f"issue {n} " + "x" * 300, "y" * 600))
        tracker._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tracker._conn.close()
        path.write_bytes(path.read_bytes()[:6000])
    elif name == "older-layout":
        path.unlink()
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE issues (id TEXT PRIMARY KEY, title TEXT)")
        conn.commit()
        conn.close()
    elif name == "newer-version":
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA user_version=99")
        conn.close()
    elif name == "corrupt-page":
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        data = bytearray(path.read_bytes())
        data[100:4096] = b"\xff" * (4096 - 100)  # the schema page, after the header
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("entry", entries("database"))
def test_database(entry: dict[str, Any], ws: Path) -> None:
    path = ws / ".marathon" / "tracker.db"
    for side in ("-wal", "-shm"):
        Path(f"{path}{side}").unlink(missing_ok=True)
    if "file" in entry:
        path.write_bytes((CORPUS / entry["file"]).read_bytes())
    else:
        build_recipe(entry["recipe"], path)
    before = state_of(ws / ".marathon")
    with pytest.raises(MarathonError) as caught:
        LocalTracker(path, "PROJ").snapshot()
    refused(caught.value, entry["refuse"], "tracker.db")
    with pytest.raises(MarathonError):
        LocalTracker(path, "PROJ").create_issue(IssueDraft("", "x", ""))
    assert state_of(ws / ".marathon") == before


# -- a sample through real doit ---------------------------------------------------------------


def one_error(result: Any) -> str:
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, text
    return errors[0]


@pytest.mark.integration
def test_a_sample_through_real_doit(ws: Path) -> None:
    good = (ws / "marathon.yaml").read_text()
    db = ws / ".marathon" / "tracker.db"
    for name in ("recursive-alias", "timeout-nan", "writes-etc", "target-option", "url-bad-ipv6"):
        (ws / "marathon.yaml").write_bytes((CORPUS / "yaml" / f"{name}.yaml").read_bytes())
        before = db.read_bytes()
        result = run_doit(ws, "list", timeout=60)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "marathon.yaml:" in one_error(result)
        assert db.read_bytes() == before
    (ws / "marathon.yaml").write_text(good)
    spec = ws / "nested.xml"
    spec.write_bytes((CORPUS / "specs" / "nested-3000.xml").read_bytes())
    before = db.read_bytes()
    for extra in (("--dry-run",), ()):
        result = run_doit(ws, "init", "--spec", str(spec), *extra, timeout=60)
        assert result.returncode == 2
        assert "nested.xml:" in one_error(result)
        assert db.read_bytes() == before
    result = run_doit(ws, "add", "--title", " ", timeout=60)
    assert result.returncode == 2 and "--title" in one_error(result)
    assert db.read_bytes() == before
    title = "{{ 7*7 }} $(touch pwned) <b>"
    result = run_doit(ws, "add", "--title", title, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert LocalTracker(db, "PROJ").snapshot()[-1].title == title
    assert not (ws / "pwned").exists()
    for side in ("-wal", "-shm"):
        Path(f"{db}{side}").unlink(missing_ok=True)
    db.write_bytes((CORPUS / "db" / "garbage.db").read_bytes())
    result = run_doit(ws, "list", timeout=60)
    assert result.returncode == 2 and "tracker.db" in one_error(result)
    assert db.read_bytes() == (CORPUS / "db" / "garbage.db").read_bytes()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
