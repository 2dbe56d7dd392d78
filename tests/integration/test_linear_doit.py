"""`doit init`, `doit list` and `doit sync` in a real workspace whose tracker is the fake Linear."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.config.load import default_config_path
from engine.workspace import scaffold
from tests.fakes.linear_server import FakeLinear

pytestmark = pytest.mark.integration

SPEC = Path(__file__).resolve().parents[2] / "examples" / "todo" / "app_spec.xml"


def doit(root: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "doit", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Any:
    with FakeLinear() as fake:
        fake.add_team("ENG")
        linear = f'tracker:\n  kind: linear\n  team: ENG\n  project: "Todo app"\n  url: {fake.url}'
        text = re.sub(r"(?m)^tracker:\n  kind: local.*$", linear, default_config_path().read_text())
        assert "kind: linear" in text
        root = scaffold(tmp_path / "ws", pipeline_text=text, git=False)
        env = {k: v for k, v in os.environ.items() if k != "LINEAR_API_KEY"}
        yield fake, root, env


@pytest.mark.skipif(not SPEC.exists(), reason="the example spec is not in this checkout")
def test_init_list_and_sync_against_linear(workspace: Any) -> None:
    fake, root, env = workspace
    env = {**env, "LINEAR_API_KEY": fake.api_key}
    init = doit(root, "init", "--spec", str(SPEC), env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    assert len(fake.issues_in("Todo app")) > 1 and fake.blocks()
    before = len(fake.requests)
    listed = doit(root, "list", env=env)
    assert listed.returncode == 0 and "issue:ENG-1" in listed.stdout
    assert len(fake.requests) == before  # loading tasks never calls Linear
    fake.add_issue("ENG", "Made by hand", project="Todo app")
    synced = doit(root, "sync", env=env)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    count = len(fake.issues_in("Todo app"))
    assert f"synced {count} issues" in synced.stdout
    assert "Made by hand" in doit(root, "list", env=env).stdout


def test_sync_without_a_key_or_with_a_wrong_one(workspace: Any) -> None:
    _fake, root, env = workspace
    missing = doit(root, "sync", env=env)
    assert missing.returncode == 2
    errors = [line for line in missing.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "set the environment variable LINEAR_API_KEY" in errors[0]
    assert "Traceback" not in missing.stdout + missing.stderr
    wrong = doit(root, "sync", env={**env, "LINEAR_API_KEY": "lin_api_not_the_key_123"})
    assert wrong.returncode == 2
    assert "error: Linear rejected the API key from $LINEAR_API_KEY" in wrong.stderr
    assert "lin_api_not_the_key_123" not in wrong.stdout + wrong.stderr
    assert "Traceback" not in wrong.stdout + wrong.stderr
