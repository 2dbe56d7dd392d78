"""Go modules: `go test ./...`, `go vet ./...`, and golangci-lint when it is configured."""

from __future__ import annotations

from pathlib import Path

from engine.setup.facts import code_dirs, first_existing
from engine.setup.model import DetectedCheck, Detection

GOLANGCI = (".golangci.yml", ".golangci.yaml", ".golangci.toml", ".golangci.json")


def detect(root: Path) -> Detection | None:
    if not (root / "go.mod").is_file():
        return None
    reads = ("**/*.go", "go.mod", "go.sum")
    checks = [
        DetectedCheck("test", ("go", "test", "./..."), reads, "go test", "go: go.mod"),
        DetectedCheck("vet", ("go", "vet", "./..."), reads, "go vet", "go: go.mod"),
    ]
    notes = []
    config = first_existing(root, GOLANGCI)
    if config:
        checks.append(
            DetectedCheck(
                "lint",
                ("golangci-lint", "run"),
                (*reads, config),
                "golangci-lint",
                f"golangci-lint: {config}",
            )
        )
    else:
        notes.append("golangci-lint: no .golangci.* config")
    e2e = first_existing(root, ("e2e", "test/e2e", "tests/e2e")) or "e2e"
    return Detection(
        ecosystem="go",
        summary=f"Go (go.mod), e2e tests in {e2e}/",
        checks=tuple(checks),
        source=reads,
        code_writes=reads,
        test_writes=_tests_outside(root, e2e),
        e2e_writes=(f"{e2e}/**",),
        notes=tuple(notes),
    )


def _tests_outside(root: Path, e2e: str) -> tuple[str, ...]:
    """*_test.go files everywhere except the e2e folder (QA's, and TEST runs beside QA)."""
    top, _, rest = e2e.partition("/")
    globs = ["*_test.go"]
    for folder in code_dirs(root):
        if folder == top and rest:
            globs.append(f"{folder}/*_test.go")
            globs += [f"{folder}/{d}/**/*_test.go" for d in code_dirs(root / folder) if d != rest]
        elif folder != top:
            globs.append(f"{folder}/**/*_test.go")
    return tuple(globs)
