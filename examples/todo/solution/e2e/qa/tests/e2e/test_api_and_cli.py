"""End to end: the HTTP API and the CLI, as separate processes, on one database."""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from todo.server import serve

SRC = str(Path(__file__).resolve().parents[2] / "src")


def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC, "TODO_DB": str(db)}
    return subprocess.run([sys.executable, "-m", "todo.cli", *args], capture_output=True,
                          text=True, env=env, check=False)


def test_api_and_cli_share_one_database(tmp_db) -> None:
    server = serve(str(tmp_db), port=0)
    base = f"http://127.0.0.1:{server.server_address[1]}/todos"
    try:
        request = urllib.request.Request(base, data=json.dumps({"title": "From API"}).encode(),
                                         method="POST")
        with urllib.request.urlopen(request) as response:
            assert response.status == 201
        assert cli(tmp_db, "add", "From CLI").returncode == 0
        with urllib.request.urlopen(base) as response:
            titles = [todo["title"] for todo in json.loads(response.read())]
        assert titles == ["From CLI", "From API"]
        listed = cli(tmp_db, "list")
        assert listed.returncode == 0
        assert listed.stdout.splitlines() == ["   2 [ ] From CLI", "   1 [ ] From API"]
        assert cli(tmp_db, "done", "9").returncode == 1
    finally:
        server.shutdown()
        server.server_close()
