"""Setup on fixture projects: the marathon.yaml written for each kind of project (checks,
globs, write sets) loads, and its phases follow the shipped default pipeline."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

import engine.setup.write as write_module
from engine import globs
from engine.commands.setup import run_setup
from engine.config.load import default_config_path, load_pipeline, phase_ancestors, phase_order
from engine.config.model import Pipeline
from engine.setup.write import ok_exit_codes_supported, validate


def make(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def setup(root: Path) -> tuple[dict, Pipeline, str]:
    out = io.StringIO()
    assert run_setup(root, out=out, run_checks=False) == 0
    data = yaml.safe_load((root / "marathon.yaml").read_text())
    return data, load_pipeline(root), out.getvalue()


def commands(pipeline: Pipeline) -> dict[str, str]:
    return {name: " ".join(check.command) for name, check in pipeline.checks.items()}


def assert_disjoint_concurrent_writes(pipeline: Pipeline) -> None:
    # The loader proves it too; this says which phases the promise is about.
    test, qa = pipeline.phases["test"].writes, pipeline.phases["qa"].writes
    assert not any(globs.overlap(a, b) for a in test for b in qa)


def assert_qa_tests_are_run(pipeline: Pipeline, qa_file: str) -> None:
    """A file QA may write is read by some check, so a change to it makes a check run."""
    assert globs.matches(qa_file, pipeline.phases["qa"].writes)
    assert any(globs.matches(qa_file, check.reads) for check in pipeline.checks.values())


PY_SRC = "def add(a, b):\n    return a + b\n"


def test_python_flat_layout_with_uv(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "calc"\n[tool.ruff]\nline-length = 100\n',
            "uv.lock": "version = 1\n",
            "calc/__init__.py": PY_SRC,
            "tests/test_calc.py": "def test_one():\n    assert True\n",
        },
    )
    data, pipeline, out = setup(root)
    assert commands(pipeline) == {"tests": "uv run pytest -q tests", "lint": "uv run ruff check ."}
    assert "Python (uv, from uv.lock), flat layout, tests in tests/" in out
    assert pipeline.checks["tests"].reads == ("calc/**", "pyproject.toml", "tests/**")
    assert pipeline.phases["code"].reads == (".marathon/plans/{id}.md", "calc/**")
    code = pipeline.phases["code"].writes
    assert {"calc/**", "pyproject.toml", "uv.lock", "*.md", "docs/**"} <= set(code)
    assert pipeline.phases["test"].writes == ("tests/*.py", "tests/unit/**")
    assert pipeline.phases["qa"].writes == ("tests/e2e/**",)
    assert_qa_tests_are_run(pipeline, "tests/e2e/test_flow.py")
    assert_disjoint_concurrent_writes(pipeline)
    assert "src/**/*.test.ts" not in (root / "marathon.yaml").read_text()
    assert data["checks"]["tests"].get("ok_exit_codes") is None  # it has tests


def test_python_src_layout_poetry_with_split_tests_and_mypy(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "pyproject.toml": (
                '[tool.poetry]\nname = "calc"\n[tool.poetry.group.dev.dependencies]\n'
                'pytest = "^8"\nblack = "^24"\n[tool.mypy]\nstrict = true\n'
            ),
            "poetry.lock": "",
            "src/calc/__init__.py": PY_SRC,
            "tests/unit/test_a.py": "def test_a():\n    pass\n",
            "tests/integration/test_b.py": "def test_b():\n    pass\n",
        },
    )
    _, pipeline, out = setup(root)
    e2e = "poetry run pytest -q tests --ignore=tests/unit --ignore=tests/integration"
    assert commands(pipeline) == {
        "unit": "poetry run pytest -q tests/unit",
        "integration": "poetry run pytest -q tests/integration",
        # no e2e tests yet: pytest exits 5, fine only where the engine knows ok_exit_codes
        **({"e2e": e2e} if ok_exit_codes_supported() else {}),
        "black": "poetry run black --check .",
        "typecheck": "poetry run mypy src",
    }
    if not ok_exit_codes_supported():
        assert f'  #   command: "{e2e}"' in (root / "marathon.yaml").read_text()
    assert "src layout" in out and "poetry, from poetry.lock" in out
    assert pipeline.checks["unit"].reads[-2:] == ("tests/*.py", "tests/unit/**")
    writes = pipeline.phases["test"].writes
    assert {"tests/unit/**", "tests/integration/**"} <= set(writes)
    assert pipeline.phases["qa"].writes == ("tests/e2e/**",)
    if ok_exit_codes_supported():  # until then the e2e check is the comment above
        assert pipeline.checks["e2e"].reads[-1] == "tests/**"  # it collects tests/*.py too
        assert_qa_tests_are_run(pipeline, "tests/e2e/test_flow.py")
    assert "poetry.lock" in pipeline.phases["code"].writes


def test_python_pip_with_no_tests_yet(tmp_path: Path) -> None:
    root = make(tmp_path, {"requirements.txt": "pytest>=8  # tests\nhttpx\n", "app.py": PY_SRC})
    data, pipeline, out = setup(root)
    assert "no tests yet" in out
    text = (root / "marathon.yaml").read_text()
    if ok_exit_codes_supported():
        command = commands(pipeline)["tests"].split()
        assert command[1:] == ["-m", "pytest", "-q"] and command[0] in ("python", "python3")
        assert data["checks"]["tests"]["ok_exit_codes"] == [0, 5]
    else:  # a comment, key and all, until the loader accepts it: VERIFY would fail on exit 5
        assert data["checks"] == {} and "verify" not in pipeline.phases
        assert "  # tests: left out, pytest exits 5 when it collects no tests" in text
        assert "  #   # ok_exit_codes: [0, 5]" in text and "does not know the key" in text
    assert pipeline.phases["code"].writes[:2] == ("*.py", "requirements.txt")


def test_ok_exit_codes_is_written_live_only_when_the_loader_accepts_it(tmp_path: Path) -> None:
    base = (
        "checks:\n  tests:\n    command: python -m pytest -q\n    ok_exit_codes: [0, 5]\n"
        "phases:\n  verify: {checks: all}\n"
    )
    if ok_exit_codes_supported():
        validate(tmp_path, base)
    else:
        with pytest.raises(Exception, match="ok_exit_codes"):
            validate(tmp_path, base)


@pytest.mark.parametrize(
    ("lock", "manager", "typecheck"),
    [
        ("package-lock.json", "npm", "npm exec --no -- tsc --noEmit"),
        ("pnpm-lock.yaml", "pnpm", "pnpm exec tsc --noEmit"),
        ("yarn.lock", "yarn", "yarn tsc --noEmit"),
        ("bun.lock", "bun", "bun run tsc --noEmit"),
    ],
)
def test_node_manager_from_the_lock_file(
    tmp_path: Path, lock: str, manager: str, typecheck: str
) -> None:
    root = make(
        tmp_path,
        {
            "package.json": '{"scripts": {"test": "vitest run", "lint": "eslint ."}}',
            lock: "",
            "tsconfig.json": "{}",
            "src/index.ts": "export const x = 1;\n",
        },
    )
    _, pipeline, out = setup(root)
    assert commands(pipeline) == {
        "test": f"{manager} run test",
        "lint": f"{manager} run lint",
        "typecheck": typecheck,
    }
    assert f"TypeScript ({manager}, from {lock})" in out
    assert pipeline.phases["test"].writes == (
        "src/**/*.test.*",
        "src/**/*.spec.*",
        "src/**/__tests__/**",
    )
    assert pipeline.phases["qa"].writes == ("e2e/**",)
    assert_qa_tests_are_run(pipeline, "e2e/login.test.ts")  # by the test script's runner
    assert {"src/**", "package.json", "tsconfig.json", lock} <= set(pipeline.phases["code"].writes)
    assert_disjoint_concurrent_writes(pipeline)


def test_node_placeholder_test_script_and_typecheck_script(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "package.json": (
                '{"scripts": {"test": "echo \\"Error: no test specified\\" && exit 1",'
                ' "typecheck": "tsc -p ."}}'
            ),
            "lib/a.js": "",
        },
    )
    _, pipeline, _ = setup(root)
    assert commands(pipeline) == {"typecheck": "npm run typecheck"}


def test_node_with_playwright(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "package.json": '{"scripts": {"test": "vitest run"}}',
            "pnpm-lock.yaml": "",
            "playwright.config.ts": "export default defineConfig({ testDir: './tests/e2e' });\n",
            "tests/e2e/home.spec.ts": "",
            "tests/unit/a.test.ts": "",
            "app/page.tsx": "",
        },
    )
    _, pipeline, _ = setup(root)
    assert commands(pipeline)["e2e"] == "pnpm exec playwright test"
    assert pipeline.phases["qa"].writes == ("tests/e2e/**",)
    assert "tests/unit/**" in pipeline.phases["test"].writes
    assert_qa_tests_are_run(pipeline, "tests/e2e/cart.spec.ts")
    assert_disjoint_concurrent_writes(pipeline)


def test_node_with_cypress_and_an_e2e_script(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "package.json": '{"scripts": {"test:e2e": "cypress run"}}',
            "cypress.config.js": "",
            "src/a.js": "",
        },
    )
    _, pipeline, _ = setup(root)
    assert commands(pipeline) == {"e2e": "npm run test:e2e"}
    assert pipeline.phases["qa"].writes == ("cypress/**",)
    assert_qa_tests_are_run(pipeline, "cypress/e2e/login.cy.js")


def test_pnpm_monorepo_gets_per_package_checks(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "package.json": '{"name": "mono", "scripts": {"lint": "eslint ."}}',
            "pnpm-lock.yaml": "",
            "pnpm-workspace.yaml": "packages:\n  - 'packages/*'\n  - apps/*\n",
            "packages/core/package.json": '{"name": "@m/core", "scripts": {"test": "vitest"}}',
            "packages/ui/package.json": '{"name": "@m/ui", "scripts": {"build": "tsc"}}',
            "apps/web/package.json": '{"name": "web", "scripts": {"test": "jest"}}',
        },
    )
    _, pipeline, out = setup(root)
    assert commands(pipeline) == {
        "lint": "pnpm run lint",  # the root runs it for every package
        "web-test": "pnpm --dir apps/web run test",
        "core-test": "pnpm --dir packages/core run test",
    }
    assert pipeline.checks["core-test"].reads == ("packages/core/**", "package.json")
    assert "workspaces: packages/core, packages/ui, apps/web" in out
    assert {"packages/core/**", "apps/web/**", "packages/ui/package.json"} <= set(
        pipeline.phases["code"].writes
    )
    assert "packages/core/**/*.test.*" in pipeline.phases["test"].writes
    assert_disjoint_concurrent_writes(pipeline)


def test_go_module(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "go.mod": "module example.com/x\n\ngo 1.22\n",
            ".golangci.yml": "linters: {}\n",
            "main.go": "package main\n",
            "internal/calc/calc.go": "package calc\n",
            "test/e2e/e2e_test.go": "package e2e\n",
            "test/fixtures/data.go": "package fixtures\n",
        },
    )
    _, pipeline, _ = setup(root)
    assert commands(pipeline) == {
        "test": "go test ./...",
        "vet": "go vet ./...",
        "lint": "golangci-lint run",
    }
    assert pipeline.phases["qa"].writes == ("test/e2e/**",)
    assert set(pipeline.phases["test"].writes) == {
        "*_test.go",
        "internal/**/*_test.go",
        "test/*_test.go",
        "test/fixtures/**/*_test.go",
    }
    assert_qa_tests_are_run(pipeline, "test/e2e/login_test.go")
    assert_disjoint_concurrent_writes(pipeline)


def test_rust_crate_and_workspace(tmp_path: Path) -> None:
    crate = make(tmp_path / "crate", {"Cargo.toml": '[package]\nname = "x"\n', "src/lib.rs": ""})
    _, pipeline, _ = setup(crate)
    assert commands(pipeline) == {
        "test": "cargo test",
        "clippy": "cargo clippy --all-targets -- -D warnings",
        "fmt": "cargo fmt --all --check",
    }
    assert pipeline.phases["test"].writes == ("src/**",)
    assert pipeline.phases["qa"].writes == ("tests/**",)
    assert_qa_tests_are_run(pipeline, "tests/cli.rs")

    ws = make(
        tmp_path / "ws",
        {
            "Cargo.toml": '[workspace]\nmembers = ["crates/*"]\n',
            "crates/a/Cargo.toml": '[package]\nname = "a"\n',
            "crates/b/Cargo.toml": '[package]\nname = "b"\n',
        },
    )
    _, pipeline, out = setup(ws)
    assert commands(pipeline)["test"] == "cargo test --workspace"
    assert pipeline.phases["qa"].writes == ("crates/a/tests/**", "crates/b/tests/**")
    assert "workspace of 2 crates" in out


def test_python_and_node_in_one_project_get_distinct_check_names(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "pyproject.toml": "[tool.ruff]\n",
            "api/__init__.py": "",
            "package.json": '{"scripts": {"lint": "eslint ."}}',
            "src/a.ts": "",
        },
    )
    _, pipeline, _ = setup(root)
    assert {"python-lint", "node-lint"} <= set(pipeline.checks)
    assert_disjoint_concurrent_writes(pipeline)


def test_empty_folder(tmp_path: Path) -> None:
    data, pipeline, out = setup(tmp_path)
    assert "detected: nothing" in out
    assert data["checks"] == {} and "verify" not in pipeline.phases
    assert pipeline.phases["plan"].after == ()  # the dropped gate's place goes to what it followed
    assert pipeline.phases["code"].writes == ("**",)
    assert "Nothing detected" in (tmp_path / "marathon.yaml").read_text()


def test_phases_follow_the_shipped_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A phase added to the default (a pre-merge gate) appears in what setup writes."""
    default = yaml.safe_load(default_config_path().read_text())
    text = default_config_path().read_text()
    text = text.replace("  exit:\n    after: [gate]", "  premerge:\n    after: [gate]\n"
                        "    checks: all\n  exit:\n    after: [premerge]")  # fmt: skip
    assert text != default_config_path().read_text()
    template = tmp_path / "default.yaml"
    template.write_text(text)
    monkeypatch.setattr(write_module, "default_config_path", lambda: template)
    root = make(tmp_path / "p", {"pyproject.toml": "[tool.ruff]\n", "m.py": ""})
    _, pipeline, _ = setup(root)
    assert list(pipeline.phases) == [*list(default["phases"])[:-1], "premerge", "exit"]
    assert pipeline.phases["premerge"].checks == ("lint",)
    assert pipeline.phases["exit"].after == ("premerge",)
    for name in ("plan", "code", "test", "qa"):  # agents, prompts, timeouts as shipped
        shipped = default["phases"][name]
        assert pipeline.phases[name].prompt == shipped["prompt"]
        assert pipeline.phases[name].timeout == shipped["timeout"]
    order = phase_order(pipeline.phases)
    assert "premerge" in phase_ancestors(pipeline.phases, order)["exit"]


def test_schema_line_points_at_a_file_that_exists(tmp_path: Path) -> None:
    make(tmp_path, {"go.mod": "module x\n"})
    setup(tmp_path)
    first = (tmp_path / "marathon.yaml").read_text().splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    schema = tmp_path / first.removeprefix(prefix)  # an absolute path stays absolute
    assert schema.is_file() and schema.name == "marathon.schema.json"


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("package.json", '{"scripts": {"test": "jest",}}', "package.json:1:29: not valid JSON"),
        ("pyproject.toml", "[project]\nname = \n", "pyproject.toml:2:8: not valid TOML"),
        ("Cargo.toml", "[package\n", "Cargo.toml:1:9: not valid TOML"),
        ("pnpm-workspace.yaml", "packages: [a\n", "pnpm-workspace.yaml:2:1: not valid YAML"),
    ],
)
def test_a_broken_manifest_is_one_error_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, where: str
) -> None:
    from engine.__main__ import main

    make(tmp_path, {name: text, **({"package.json": "{}"} if name.startswith("pnpm") else {})})
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["setup", str(tmp_path), "--no-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {where}"), err
    assert "fix it and run setup again" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_packages_with_one_folder_name_get_distinct_checks(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "package.json": '{"workspaces": ["packages/*", "apps/*"]}',
            "packages/core/package.json": '{"name": "a", "scripts": {"test": "jest"}}',
            "apps/core/package.json": '{"name": "b", "scripts": {"test": "jest"}}',
        },
    )
    _, pipeline, _ = setup(root)
    assert commands(pipeline) == {
        "packages-core-test": "npm run test --workspace packages/core",
        "apps-core-test": "npm run test --workspace apps/core",
    }


def test_a_playwright_test_dir_outside_the_project_is_not_a_write_set(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "package.json": "{}",
            "playwright.config.ts": "export default { testDir: '../../etc' };\n",
        },
    )
    _, pipeline, _ = setup(root)
    assert pipeline.phases["qa"].writes == ("e2e/**",)


def test_flake8_skips_the_projects_virtual_environment(tmp_path: Path) -> None:
    root = make(tmp_path, {"setup.cfg": "[flake8]\nmax-line-length = 100\n", "m.py": ""})
    (root / ".venv").mkdir()
    _, pipeline, _ = setup(root)
    assert commands(pipeline) == {"flake8": "flake8 --extend-exclude=.venv"}


@pytest.mark.parametrize(
    ("files", "runner", "why"),
    [
        ({"pdm.lock": ""}, "pdm run", "from pdm.lock"),
        ({"Pipfile": "[packages]\n", "Pipfile.lock": "{}"}, "pipenv run", "from Pipfile.lock"),
        ({"Pipfile": "[dev-packages]\npytest = '*'\n"}, "pipenv run", "from Pipfile"),
        ({"hatch.toml": "[envs.default]\n"}, "hatch run", "from hatch.toml"),
    ],
)
def test_python_managers(tmp_path: Path, files: dict[str, str], runner: str, why: str) -> None:
    root = make(tmp_path, {**files, "pyproject.toml": "[tool.ruff]\n", "m.py": ""})
    _, pipeline, out = setup(root)
    assert commands(pipeline)["lint"] == f"{runner} ruff check ."
    assert f"({runner.split()[0]}, {why})" in out


def test_mypy_installed_in_the_projects_venv_counts_one_on_path_does_not(tmp_path: Path) -> None:
    root = make(tmp_path, {"pyproject.toml": "[tool.ruff]\n", "pkg/__init__.py": ""})
    _, pipeline, out = setup(root)
    assert "typecheck" not in pipeline.checks and "left out: mypy / pyright" in out
    make(root, {".venv/bin/mypy": "#!/bin/sh\n"})
    run_setup(root, out=io.StringIO(), run_checks=False, refresh=True)
    assert commands(load_pipeline(root))["typecheck"] == "mypy pkg"


def test_with_a_loader_that_knows_ok_exit_codes_the_key_is_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lead adds `ok_exit_codes` (a list of ints) to checks: setup then writes it live, and
    the file still loads."""
    import json

    import engine.config.load as load

    data = json.loads(load._schema_text())
    data["$defs"]["check"]["properties"]["ok_exit_codes"] = {
        "type": "array",
        "items": {"type": "integer"},
    }
    monkeypatch.setattr(load, "_schema_text", lambda: json.dumps(data))
    load._validator.cache_clear()
    try:
        root = make(tmp_path, {"requirements.txt": "pytest\n", "app.py": PY_SRC})
        parsed, pipeline, _ = setup(root)
        assert parsed["checks"]["tests"]["ok_exit_codes"] == [0, 5]
        assert "verify" in pipeline.phases
    finally:
        load._validator.cache_clear()
