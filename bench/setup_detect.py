"""How long setup's detection takes on a project with large installed trees, against one walk
of the whole tree (what detection would cost if it looked everywhere).

A TypeScript + Python project: 200 source files, 40 tests, node_modules/ with 30 000 files and
.venv/ with 10 000. Detection reads manifests and walks only source and test folders, so it
should stay a small fraction of the walk however large node_modules grows.

    python bench/setup_detect.py
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from engine.setup.detect import detect_project

REPEATS = 5


def build(root: Path) -> None:
    (root / "pyproject.toml").write_text("[project]\nname = 'api'\n[tool.ruff]\n[tool.mypy]\n")
    (root / "uv.lock").write_text("")
    (root / "package.json").write_text('{"scripts": {"test": "vitest run", "lint": "eslint ."}}')
    (root / "pnpm-lock.yaml").write_text("")
    (root / "tsconfig.json").write_text("{}")
    (root / "playwright.config.ts").write_text("export default { testDir: './e2e' };\n")
    for i in range(100):
        write(root / "src" / "api" / f"mod{i}.py", "X = 1\n")
        write(root / "app" / f"page{i}.tsx", "export default 1\n")
    for i in range(20):
        write(root / "tests" / "unit" / f"test_{i}.py", "def test(): pass\n")
        write(root / "e2e" / f"flow{i}.spec.ts", "")
    for i in range(30_000):
        write(root / "node_modules" / f"pkg{i % 300}" / f"f{i}.js", "")
    for i in range(10_000):
        write(root / ".venv" / "lib" / f"pkg{i % 100}" / f"m{i}.py", "")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def median_seconds(action) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        build(root)
        walk = median_seconds(lambda: sum(len(files) for _, _, files in os.walk(root)))
        found: list = []
        detect = median_seconds(lambda: found.append(detect_project(root)))
        checks = [c.name for d in found[-1] for c in d.checks]
        print(f"ecosystems: {', '.join(d.ecosystem for d in found[-1])}; checks: {checks}")
        print(f"baseline, one walk of the tree (40 000+ files): {walk * 1000:.1f} ms")
        print(f"detection: {detect * 1000:.1f} ms = {detect / walk:.3f} x the walk")


if __name__ == "__main__":
    main()
