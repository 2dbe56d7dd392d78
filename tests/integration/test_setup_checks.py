"""The checks setup writes run for real: one small project per ecosystem whose tools are
installed, set up with `python -m engine setup` and verified with `doit verify`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import doit_env, run_doit

pytestmark = pytest.mark.integration


def env() -> dict[str, str]:
    # This interpreter's tools (pytest, ruff) first; cargo never reaches the network.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**doit_env(), "PATH": path, "CARGO_NET_OFFLINE": "true"}


def make(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    return root


def table_rows(out: str) -> list[list[str]]:
    """The rows of setup's table: the indented lines after its title and header."""
    lines = out.splitlines()
    start = lines.index("each check, run once:") + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        rows.append(line.split())
    return rows


def setup_and_verify(root: Path, checks: set[str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "engine", "setup", str(root)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert {row[0]: row[1] for row in table_rows(result.stdout)} == dict.fromkeys(
        checks, "passes"
    ), result.stdout
    data = yaml.safe_load((root / "marathon.yaml").read_text())
    assert set(data["checks"]) == checks
    verify = run_doit(root, "-n", "2", "verify", env=env())
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for check in checks:
        assert f"verify:{check}" in verify.stdout
    return result.stdout


def test_python_project(tmp_path: Path) -> None:
    root = make(
        tmp_path / "calc",
        {
            "pyproject.toml": (
                '[project]\nname = "calc"\nversion = "0.1.0"\n'
                '[tool.pytest.ini_options]\npythonpath = ["src"]\n[tool.ruff]\nline-length = 100\n'
            ),
            "src/calc/__init__.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
            "tests/test_calc.py": (
                "from calc import add\n\n\ndef test_add() -> None:\n    assert add(1, 2) == 3\n"
            ),
        },
    )
    out = setup_and_verify(root, {"tests", "lint"})
    assert "Python (pip, no lock file), src layout, tests in tests/" in out

    # The tests move into unit/; `doit setup --refresh` in the workspace shows and applies it.
    (root / "tests" / "unit").mkdir()
    (root / "tests" / "test_calc.py").rename(root / "tests" / "unit" / "test_calc.py")
    refresh = run_doit(root, "setup", "--refresh", "--no-run", env=env())
    assert refresh.returncode == 0, refresh.stdout + refresh.stderr
    assert "-  tests:" in refresh.stdout and "+  unit:" in refresh.stdout
    assert "+    command: python -m pytest -q tests/unit" in refresh.stdout
    assert "rewrote" in refresh.stdout
    verify = run_doit(root, "-n", "2", "verify", env=env())
    assert verify.returncode == 0 and "verify:unit" in verify.stdout, verify.stdout


def test_python_project_with_no_tests_yet(tmp_path: Path) -> None:
    """pytest's exit 5: passes when the engine knows ok_exit_codes, else setup says why not."""
    from engine.setup.write import ok_exit_codes_supported

    root = make(tmp_path / "new", {"requirements.txt": "pytest\n", "app.py": "X = 1\n"})
    result = subprocess.run(
        [sys.executable, "-m", "engine", "setup", str(root), "--dry-run"],
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
    )
    row = " ".join(next(r for r in table_rows(result.stdout) if r[0] == "tests"))
    if ok_exit_codes_supported():
        assert "passes" in row and "exit 5" in row
    else:
        assert "fails" in row and "exit 5" in row and "counts it as a failure" in row
        # ... and it is a comment in the file, so VERIFY does not fail on a new project
        assert "  # tests: left out, exit 5: pytest exits 5 when it collects no tests" in (
            result.stdout
        )


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_node_project(tmp_path: Path) -> None:
    root = make(
        tmp_path / "web",
        {
            "package.json": (
                '{"name": "web", "version": "1.0.0", "private": true,'
                ' "scripts": {"test": "node --test", "lint": "node lint.js"}}'
            ),
            "package-lock.json": '{"name": "web", "lockfileVersion": 3, "packages": {}}',
            "lint.js": "console.log('lint: ok')\n",
            "src/add.js": "exports.add = (a, b) => a + b;\n",
            "src/add.test.js": (
                "const test = require('node:test');\nconst assert = require('node:assert');\n"
                "const { add } = require('./add');\n"
                "test('adds', () => assert.strictEqual(add(1, 2), 3));\n"
            ),
        },
    )
    out = setup_and_verify(root, {"test", "lint"})
    assert "JavaScript (npm, from package-lock.json)" in out


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")
def test_rust_crate(tmp_path: Path) -> None:
    tools = subprocess.run(["cargo", "clippy", "--version"], capture_output=True).returncode
    if tools != 0 or subprocess.run(["cargo", "fmt", "--version"], capture_output=True).returncode:
        pytest.skip("clippy or rustfmt is not installed")
    root = make(
        tmp_path / "rs",
        {
            "Cargo.toml": '[package]\nname = "rs"\nversion = "0.1.0"\nedition = "2021"\n',
            "src/lib.rs": (
                "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\n#[cfg(test)]\nmod tests {\n"
                "    #[test]\n    fn adds() {\n        assert_eq!(super::add(1, 2), 3);\n    }\n}\n"
            ),
            ".gitignore": "target/\n",
        },
    )
    setup_and_verify(root, {"test", "clippy", "fmt"})


@pytest.mark.skipif(shutil.which("go") is None, reason="go is not installed")
def test_go_module(tmp_path: Path) -> None:
    root = make(
        tmp_path / "g",
        {
            "go.mod": "module example.com/g\n\ngo 1.21\n",
            "add.go": "package g\n\nfunc Add(a, b int) int { return a + b }\n",
            "add_test.go": (
                'package g\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n'
                "\tif Add(1, 2) != 3 {\n\t\tt.Fatal(Add(1, 2))\n\t}\n}\n"
            ),
        },
    )
    setup_and_verify(root, {"test", "vet"})
