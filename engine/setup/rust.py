"""Rust crates and workspaces: `cargo test`, `cargo clippy`, `cargo fmt --check`."""

from __future__ import annotations

from pathlib import Path

from engine.setup.facts import manifest_toml, table
from engine.setup.model import DetectedCheck, Detection


def detect(root: Path) -> Detection | None:
    manifest = manifest_toml(root / "Cargo.toml")
    if not (root / "Cargo.toml").is_file():
        return None
    workspace = table(manifest, "workspace")
    members = _members(root, workspace) if workspace else []
    scope = ("--workspace",) if workspace else ()
    reads = ("**/*.rs", "**/Cargo.toml", "Cargo.lock")
    because = "cargo: Cargo.toml" + (" [workspace]" if workspace else "")
    checks = (
        DetectedCheck("test", ("cargo", "test", *scope), reads, "cargo test", because),
        DetectedCheck(
            "clippy",
            ("cargo", "clippy", *scope, "--all-targets", "--", "-D", "warnings"),
            reads,
            "cargo clippy, warnings are errors",
            because,
        ),
        DetectedCheck("fmt", ("cargo", "fmt", "--all", "--check"), reads, "cargo fmt", because),
    )
    # Unit tests live in the modules (src/), integration tests in tests/ beside them.
    crates = members + (["."] if table(manifest, "package") or not workspace else [])
    src = tuple("src/**" if c == "." else f"{c}/src/**" for c in crates)
    tests = tuple("tests/**" if c == "." else f"{c}/tests/**" for c in crates)
    return Detection(
        ecosystem="rust",
        summary="Rust (cargo" + (f", workspace of {len(members)} crates)" if workspace else ")"),
        checks=checks,
        source=reads,
        code_writes=(*reads, *src),
        test_writes=src,
        e2e_writes=tests,
    )


def _members(root: Path, workspace: dict[str, object]) -> list[str]:
    found = []
    for pattern in workspace.get("members") or []:  # type: ignore[attr-defined]
        for path in sorted(root.glob(str(pattern))):
            if (path / "Cargo.toml").is_file():
                found.append(path.relative_to(root).as_posix())
    return found
