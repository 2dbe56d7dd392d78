"""Make a workspace: a folder with dodo.py and marathon.yaml, usually a git repository.

The demo, the benchmarks and the integration tests all start from here, so they exercise the
same files a user gets.
"""

from __future__ import annotations

import configparser
import contextlib
import subprocess
import tomllib
from pathlib import Path

from engine.config.load import CONFIG_NAME, default_config_path

# The repository's own dodo.py is this text (a unit test keeps the two equal).
DODO_PY = '''\
"""doit entry point: the tasks compiled from marathon.yaml (see engine/tasks.py)."""

from pathlib import Path

from engine.tasks import dodo_namespace

globals().update(dodo_namespace(Path(__file__).resolve().parent))
'''

# doit's `run` with ready tasks started by rank (engine/doit_run.py says why).
RANKED_RUN = "engine.doit_run:RankedRun"
DOIT_CFG = f"[COMMAND]\nrun = {RANKED_RUN}\n"

GITIGNORE = "__pycache__/\n*.pyc\n.pytest_cache/\n.ruff_cache/\n.marathon/\n"


def write_entry_files(root: Path, pipeline_text: str | None = None) -> list[Path]:
    """dodo.py, marathon.yaml (the default when no text is given) and doit.cfg, where they are
    missing; returns the files written. An existing file is never overwritten."""
    text = pipeline_text if pipeline_text is not None else default_config_path().read_text()
    written = []
    for name, content in (("dodo.py", DODO_PY), (CONFIG_NAME, text), ("doit.cfg", DOIT_CFG)):
        path = root / name
        if not path.exists():
            path.write_text(content, encoding="utf-8")
            written.append(path)
    return written


def ranked_run_selected(root: Path) -> bool:
    """Whether doit, started in `root`, would use engine/doit_run.py's `run`: the `run` entry
    of doit's command plugins, read as doit reads them (pyproject.toml, then doit.cfg)."""
    return command_plugins(root).get("run") == RANKED_RUN


def command_plugins(root: Path) -> dict[str, str]:
    """doit's `COMMAND` plugins configured in `root` (unreadable files count as none)."""
    plugins: dict[str, str] = {}
    with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        table = data.get("tool", {}).get("doit", {}).get("plugins", {}).get("command", {})
        plugins.update({str(k): str(v) for k, v in table.items()})
    ini = configparser.ConfigParser()
    with contextlib.suppress(OSError, configparser.Error):
        ini.read_string((root / "doit.cfg").read_text(encoding="utf-8"))
        if ini.has_section("COMMAND"):
            plugins.update(ini["COMMAND"])
    return plugins


def scaffold(root: Path, *, pipeline_text: str | None = None, git: bool = True) -> Path:
    """A new workspace: dodo.py, marathon.yaml, doit.cfg, .gitignore and an initial commit."""
    root.mkdir(parents=True, exist_ok=True)
    write_entry_files(root, pipeline_text)
    (root / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    if git:
        _git(root, "init", "-q", "-b", "main")
        _git(root, "add", "-A")
        _git(
            root,
            "-c",
            "user.name=marathon-engine",
            "-c",
            "user.email=marathon-engine@localhost",
            "commit",
            "-q",
            "-m",
            "workspace: dodo.py, marathon.yaml and doit.cfg",
        )
    return root


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
