from __future__ import annotations

from pathlib import Path

import pytest

from engine.globs import expand, matches, overlap


def test_matching_rules() -> None:
    assert matches("src/a.py", ["src/**"])
    assert matches("src/x/y/z.py", ["src/**"])
    assert matches("src/a.test.ts", ["src/**/*.test.ts"])
    assert matches("src/deep/a.test.ts", ["src/**/*.test.ts"])
    assert not matches("src/a.ts", ["src/**/*.test.ts"])
    assert not matches("srcx/a.py", ["src/**"])
    assert matches(".marathon/plans/PROJ-1.md", [".marathon/plans/PROJ-1.md"])
    assert not matches("tests/unit/a.py", ["tests/*.py"])


def test_overlap_is_conservative_but_separates_disjoint_folders() -> None:
    assert not overlap("tests/unit/**", "tests/e2e/**")
    assert not overlap("src/**/*.test.ts", "tests/e2e/**")
    assert overlap("tests/**", "tests/unit/**")
    assert overlap("src/**", "src/**/*.test.ts")
    assert overlap("**", "anything/at/all")
    assert not overlap("src/*.py", "src/*.ts")
    assert overlap("src/*.py", "src/a*")


def test_expand_walks_only_what_is_needed(tmp_path: Path) -> None:
    for rel in ("src/a.py", "src/b/c.py", "tests/t.py", ".marathon/x.log", ".git/config"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    assert expand(tmp_path, ["src/**"]) == ["src/a.py", "src/b/c.py"]
    assert expand(tmp_path, ["**/*.py"]) == ["src/a.py", "src/b/c.py", "tests/t.py"]
    assert expand(tmp_path, [".marathon/**"]) == [".marathon/x.log"]
    assert expand(tmp_path, ["missing/**", "tests/t.py"]) == ["tests/t.py"]


def test_expansions_in_one_look_ask_git_once_and_say_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    from engine import globs

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("__pycache__/\n*.log\n")
    for rel in ("src/a.py", "src/__pycache__/a.pyc", "src/run.log", "tests/t.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x\n")
    asked: list[Path] = []
    real = globs._ask_ignored
    monkeypatch.setattr(globs, "_ask_ignored", lambda root: asked.append(root) or real(root))
    apart = (expand(tmp_path, ["src/**"]), expand(tmp_path, ["tests/**"]))
    assert len(asked) == 2
    with globs.one_look():
        together = (expand(tmp_path, ["src/**"]), expand(tmp_path, ["tests/**"]))
    assert len(asked) == 3
    assert together == apart == (["src/a.py"], ["tests/t.py"])
    expand(tmp_path, ["src/**"])
    assert len(asked) == 4  # the look ended with its block
