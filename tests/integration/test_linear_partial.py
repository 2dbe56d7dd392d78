"""A Linear import that fails part way: exit 1, each failed item named, a pending mark that
`doit graph` warns about, and a re-run that converges and clears it (fake Linear, real doit)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.trackers.local import LocalTracker
from engine.workspace import scaffold
from tests.fakes.linear_server import FakeLinear

pytestmark = pytest.mark.integration

# This checkout's default pipeline (the installed package's may belong to another checkout).
DEFAULT_PIPELINE = Path(__file__).resolve().parents[2] / "templates" / "marathon.yaml"

SPEC = """\
# Two steps

## Implementation steps

### Step 1: Storage

- Create the TodoStore

### Step 2: API

- Add the GET /todos handler using TodoStore
"""


class RefusingRelations(FakeLinear):
    """Answers every relation create with a GraphQL error while `refuse` is set."""

    refuse = True

    def execute(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.refuse and body.get("operationName") == "IssueRelationCreate":
            error = {"message": "relation refused", "extensions": {"code": "INVALID_INPUT"}}
            return 200, {"data": None, "errors": [error]}
        return super().execute(body)


def doit(root: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "doit", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_partial_import_fails_names_the_item_and_converges(tmp_path: Path) -> None:
    with RefusingRelations() as fake:
        fake.add_team("ENG")
        linear = f'tracker:\n  kind: linear\n  team: ENG\n  project: "Two"\n  url: {fake.url}'
        text = re.sub(r"(?m)^tracker:\n  kind: local.*$", linear, DEFAULT_PIPELINE.read_text())
        root = scaffold(tmp_path / "ws", pipeline_text=text, git=False)
        spec = root / "spec.md"
        spec.write_text(SPEC)
        env = {**os.environ, "LINEAR_API_KEY": fake.api_key}

        first = doit(root, "init", "--spec", str(spec), env=env)
        assert first.returncode == 1, first.stdout + first.stderr  # a failure, not bad input
        assert "Traceback" not in first.stdout + first.stderr
        # The failed item by issue ids, with Linear's reason, and how to finish.
        assert re.search(r"failed: edge ENG-\d+ -> ENG-\d+: .*relation refused", first.stdout)
        assert "error: import incomplete: 1 item(s) failed" in first.stderr
        assert "again: it converges" in first.stderr
        assert not fake.blocks()

        tracker = LocalTracker(root / ".marathon" / "tracker.db", "ENG")
        pending = tracker.pending_import()
        assert pending is not None and pending.source == str(spec)
        graph = doit(root, "graph", env=env)
        assert graph.returncode == 0
        assert "has not converged" in graph.stderr and f"doit init --spec {spec}" in graph.stderr
        assert re.search(r"first: edge ENG-\d+ -> ENG-\d+: .*relation refused", graph.stderr)

        fake.refuse = False
        again = doit(root, "init", "--spec", str(spec), env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert len(fake.issues_in("Two")) == 3  # two tasks and META: nothing duplicated
        assert len(fake.blocks()) == 1
        assert tracker.pending_import() is None
        quiet = doit(root, "graph", env=env)
        assert "not converged" not in quiet.stderr


def test_an_import_that_dies_half_way_leaves_the_mark(tmp_path: Path) -> None:
    tracker = LocalTracker(tmp_path / "tracker.db", "ENG")
    tracker.begin_import("spec.md")  # what LinearTracker does before its first write
    pending = tracker.pending_import()
    assert pending is not None and pending.failed == {}
    assert "stopped before the end" in pending.warning(tracker.path)
    tracker.replace_snapshot([], [])  # a plain `doit sync` does not clear it
    assert tracker.pending_import() is not None
    tracker.replace_snapshot([], [], import_failures={})
    assert tracker.pending_import() is None
