"""engine.config.limits: the checks marathon.yaml gets beyond its JSON Schema."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from engine import globs
from engine.config.limits import branch_problem, url_problem

NAMES = [
    "main",
    "feature/x",
    "release-1.2",
    "a/b/c",
    "--exec=touch",
    "-x",
    "my branch",
    "a..b",
    "main.lock",
    "a/b.lock/c",
    "main@{1}",
    "@",
    "a@b",
    "main~1",
    "a^b",
    "a:b",
    "a?b",
    "a*b",
    "a[b",
    "a\\b",
    "feature/",
    "/feature",
    "a//b",
    ".hidden",
    "a/.b",
    "a.",
    "a\tb",
    "a\x7fb",
    "ünïcode",
    "HEAD",
]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("name", NAMES)
def test_branch_rules_agree_with_git(name: str) -> None:
    git = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, text=True
    )
    if name == "@":  # git reads it as the current branch; as a target it is refused
        assert branch_problem(name)
        return
    assert (branch_problem(name) == "") == (git.returncode == 0), (name, git.stderr)


@pytest.mark.parametrize(
    "url",
    ["https://api.linear.app/graphql", "http://127.0.0.1:8080/graphql", "http://[::1]:9/x"],
)
def test_usable_urls_pass(url: str) -> None:
    assert url_problem(url) == ""


@pytest.mark.parametrize(
    "url",
    ["http://[::1", "not a url", "api.linear.app", "ftp://x/y", "http://x:99999/", "http:///x", ""],
)
def test_unusable_urls_are_named(url: str) -> None:
    assert url_problem(url)


@pytest.mark.parametrize(
    "pattern",
    ["src/**", "tests/unit/**/*.py", ".marathon/plans/{id}.md", "README.md", "*/**", "**", "a:b"],
)
def test_workspace_globs_are_confined(pattern: str) -> None:
    assert globs.confinement_problem(pattern) == ""


@pytest.mark.parametrize(
    "pattern",
    [
        "/etc/**",
        "../**",
        "/**",
        "~/**",
        "src/../../**",
        ".git/**",
        "./.git/x",
        ".marathon/**",
        ".marathon/tracker.db",
        ".g*/**",
        ".*",
        "C:/x",
        "//",
        "a\0b",
    ],
)
def test_globs_reaching_out_are_refused(pattern: str) -> None:
    assert globs.confinement_problem(pattern)
