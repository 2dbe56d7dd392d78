"""Python projects: the package manager, pytest and where the tests live, linters and type
checkers the project configures, and the source layout (src/ or flat)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.setup.facts import (
    code_dirs,
    first_existing,
    has_files,
    has_table,
    installed,
    manifest_toml,
    normalise,
    read_ini,
    read_text,
    read_toml,
    requirement_names,
    table,
)
from engine.setup.model import DetectedCheck, Detection

# How each manager runs a tool inside the project's environment.
RUNNERS: dict[str, tuple[str, ...]] = {
    "uv": ("uv", "run"),
    "poetry": ("poetry", "run"),
    "pdm": ("pdm", "run"),
    "hatch": ("hatch", "run"),
    "pipenv": ("pipenv", "run"),
    "pip": (),
}
# Test folders split by kind; the e2e kinds are where QA writes.
UNIT_KINDS = ("unit", "integration")
E2E_KINDS = ("e2e", "functional", "acceptance")
PYTEST_NO_TESTS = 5


def detect(root: Path) -> Detection | None:
    pyproject = manifest_toml(root / "pyproject.toml")
    manifests = [
        name
        for name in ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "Pipfile")
        if (root / name).is_file()
    ]
    manifests += sorted(p.name for p in root.glob("requirements*.txt") if p.name not in manifests)
    if not manifests:
        return None
    manager, manager_why = _manager(root, pyproject)
    deps = _dependencies(root, pyproject)
    setup_cfg = read_ini(root / "setup.cfg")
    tox_ini = read_ini(root / "tox.ini")
    layout, source = _layout(root)
    tests_dir = _tests_dir(root, pyproject)
    tool_files = ("ruff.toml", ".ruff.toml", "mypy.ini", ".flake8", "tox.ini", "conftest.py")
    configs = [n for n in dict.fromkeys((*manifests, *tool_files)) if (root / n).is_file()]
    everything = (*source, f"{tests_dir}/**", *configs)
    tool = _Tool(manager, root)
    checks: list[DetectedCheck] = []
    notes: list[str] = []

    pytest_why = _pytest_why(root, pyproject, deps, setup_cfg, tox_ini, tests_dir)
    if pytest_why:
        checks += _pytest_checks(root, tool, tests_dir, (*source, *configs), pytest_why)
    else:
        notes.append("pytest: not configured, not a dependency and no test files; no test check")
    lint_why = _ruff_why(root, pyproject, deps)
    if lint_why:
        checks.append(
            DetectedCheck("lint", tool("ruff", "check", "."), everything, "ruff lint", lint_why)
        )
        if has_table(pyproject, "tool", "ruff", "format"):
            checks.append(
                DetectedCheck(
                    "format",
                    tool("ruff", "format", "--check", "."),
                    everything,
                    "ruff format (checks only, rewrites nothing)",
                    "ruff format: [tool.ruff.format] in pyproject.toml",
                )
            )
    if has_table(pyproject, "tool", "black") or "black" in deps:
        why = "black: " + (
            "[tool.black] in pyproject.toml"
            if has_table(pyproject, "tool", "black")
            else "a dependency"
        )
        checks.append(
            DetectedCheck("black", tool("black", "--check", "."), everything, "black --check", why)
        )
    flake8_why = _flake8_why(root, deps, setup_cfg, tox_ini)
    if flake8_why:
        # flake8, unlike ruff and black, looks inside a virtual environment in the project.
        venvs = [v for v in (".venv", "venv") if (root / v).is_dir()]
        skip = (f"--extend-exclude={','.join(venvs)}",) if venvs else ()
        checks.append(
            DetectedCheck("flake8", tool("flake8", *skip), everything, "flake8", flake8_why)
        )
    mypy_why = _mypy_why(root, pyproject, deps, setup_cfg)
    typed = tuple(s.removesuffix("/**") for s in source if s.endswith("/**"))
    if mypy_why:
        target = () if table(pyproject, "tool", "mypy").get("files") else typed or (".",)
        checks.append(
            DetectedCheck("typecheck", tool("mypy", *target), (*source, *configs), "mypy", mypy_why)
        )
    pyright_why = _pyright_why(root, pyproject, deps)
    if pyright_why:
        name = "pyright" if mypy_why else "typecheck"
        checks.append(
            DetectedCheck(name, tool("pyright"), (*source, *configs), "pyright", pyright_why)
        )
    if not mypy_why and not pyright_why:
        notes.append("mypy / pyright: neither configured nor in the project's environment")

    test_writes, e2e_writes = _test_write_sets(root, tests_dir)
    summary = f"Python ({manager}, {manager_why}), {layout} layout, " + (
        f"tests in {tests_dir}/" if (root / tests_dir).is_dir() else "no tests yet"
    )
    lock = {"uv": "uv.lock", "poetry": "poetry.lock", "pdm": "pdm.lock", "pipenv": "Pipfile.lock"}
    code_writes = (*source, *manifests, *([lock[manager]] if manager in lock else []))
    return Detection(
        ecosystem="python",
        summary=summary,
        checks=tuple(checks),
        source=source,
        code_writes=tuple(dict.fromkeys(code_writes)),
        test_writes=test_writes,
        e2e_writes=e2e_writes,
        notes=tuple(notes),
    )


class _Tool:
    """argv for a tool run the way the project runs it: through its manager, or (pip) with
    the interpreter on PATH for pytest and the tool's own script otherwise."""

    def __init__(self, manager: str, root: Path) -> None:
        self.prefix = RUNNERS[manager]
        self.python = "python" if installed("python") or not installed("python3") else "python3"

    def __call__(self, name: str, *args: str) -> tuple[str, ...]:
        if self.prefix:
            return (*self.prefix, name, *args)
        if name == "pytest":  # works without the venv's bin/ on PATH
            return (self.python, "-m", "pytest", *args)
        return (name, *args)


def _manager(root: Path, pyproject: dict[str, Any]) -> tuple[str, str]:
    for lock, manager in (
        ("uv.lock", "uv"),
        ("poetry.lock", "poetry"),
        ("pdm.lock", "pdm"),
        ("Pipfile.lock", "pipenv"),
    ):
        if (root / lock).is_file():
            return manager, f"from {lock}"
    for manager in ("poetry", "pdm", "uv", "hatch"):
        if has_table(pyproject, "tool", manager):
            return manager, f"from [tool.{manager}] in pyproject.toml"
    if (root / "hatch.toml").is_file():
        return "hatch", "from hatch.toml"
    if (root / "Pipfile").is_file():
        return "pipenv", "from Pipfile"
    backend = str(table(pyproject, "build-system").get("build-backend", ""))
    if backend.startswith("hatchling") and table(pyproject, "tool", "hatch"):
        return "hatch", "from hatchling"
    return "pip", "no lock file"


def _dependencies(root: Path, pyproject: dict[str, Any]) -> set[str]:
    """Every distribution the project names: runtime, extras, groups and requirement files."""
    lines: list[str] = []
    project = table(pyproject, "project")
    lines += [str(d) for d in project.get("dependencies", []) or []]
    for group in (project.get("optional-dependencies") or {}).values():
        lines += [str(d) for d in group]
    for group in (pyproject.get("dependency-groups") or {}).values():
        lines += [str(d) for d in group if isinstance(d, str)]
    for group in table(pyproject, "tool", "pdm", "dev-dependencies").values():
        lines += [str(d) for d in group]
    names = requirement_names("\n".join(lines))
    poetry = table(pyproject, "tool", "poetry")
    names |= {normalise(n) for n in table(poetry, "dependencies")}
    names |= {normalise(n) for n in table(poetry, "dev-dependencies")}
    for group in table(poetry, "group").values():
        names |= {normalise(n) for n in table(group, "dependencies")}
    for env in table(pyproject, "tool", "hatch", "envs").values():
        lines_env = env.get("dependencies", []) if isinstance(env, dict) else []
        names |= requirement_names("\n".join(str(d) for d in lines_env))
    for path in sorted(root.glob("requirements*.txt")):
        names |= requirement_names(read_text(path))
    pipfile = read_toml(root / "Pipfile")
    names |= {normalise(n) for n in (*table(pipfile, "packages"), *table(pipfile, "dev-packages"))}
    return names


def _layout(root: Path) -> tuple[str, tuple[str, ...]]:
    if has_files(root / "src", "*.py"):
        return "src", ("src/**",)
    packages = [
        d for d in code_dirs(root) if (root / d / "__init__.py").is_file() and d not in _TESTS
    ]
    modules = ["*.py"] if any(p.suffix == ".py" for p in root.iterdir() if p.is_file()) else []
    return "flat", (*(f"{d}/**" for d in packages), *modules) or ("*.py",)


_TESTS = ("tests", "test")


def _tests_dir(root: Path, pyproject: dict[str, Any]) -> str:
    paths = table(pyproject, "tool", "pytest", "ini_options").get("testpaths") or []
    if isinstance(paths, list) and len(paths) == 1 and (root / str(paths[0])).is_dir():
        return str(paths[0]).strip("/")
    return first_existing(root, _TESTS) or "tests"


def _pytest_why(
    root: Path,
    pyproject: dict[str, Any],
    deps: set[str],
    setup_cfg: Any,
    tox_ini: Any,
    tests_dir: str,
) -> str:
    if has_table(pyproject, "tool", "pytest"):
        return "pytest: [tool.pytest.ini_options] in pyproject.toml"
    if (root / "pytest.ini").is_file():
        return "pytest: pytest.ini"
    if setup_cfg.has_section("tool:pytest"):
        return "pytest: [tool:pytest] in setup.cfg"
    if tox_ini.has_section("pytest"):
        return "pytest: [pytest] in tox.ini"
    if "pytest" in deps:
        return "pytest: a dependency"
    if (root / "conftest.py").is_file() or has_files(root / tests_dir, "test_*.py"):
        return f"pytest: test files in {tests_dir}/"
    return ""


def _pytest_checks(
    root: Path, tool: _Tool, tests_dir: str, reads: tuple[str, ...], because: str
) -> list[DetectedCheck]:
    """One check per kind of test folder (unit, integration, e2e) when the tests are split
    that way, else one check for the whole folder."""
    folder = root / tests_dir
    kinds = [k for k in (*UNIT_KINDS, *E2E_KINDS) if (folder / k).is_dir()]

    def check(
        name: str, path: str, args: tuple[str, ...], doc: str, watch: tuple[str, ...] = ()
    ) -> DetectedCheck:
        empty = not _has_tests(root / path)
        return DetectedCheck(
            name=name,
            command=tool("pytest", "-q", *args),
            reads=(*reads, *(watch or (f"{tests_dir}/*.py", f"{path}/**"))),
            doc=doc,
            because=because,
            ok_exit_codes=(0, PYTEST_NO_TESTS) if empty else (0,),
            ok_why="pytest exits 5 when it collects no tests (none written yet)" if empty else "",
        )

    if not kinds:
        args = (tests_dir,) if folder.is_dir() else ()
        return [check("tests", tests_dir, args, f"pytest {tests_dir}/", (f"{tests_dir}/**",))]
    checks = [check(k, f"{tests_dir}/{k}", (f"{tests_dir}/{k}",), f"{k} tests") for k in kinds]
    if not any(k in E2E_KINDS for k in kinds):
        # QA writes tests/e2e/; this check runs it once it exists and passes until then.
        ignores = tuple(f"--ignore={tests_dir}/{k}" for k in kinds)
        # It also collects test files directly in the folder, so it reads the whole folder.
        args = (tests_dir, *ignores)
        checks.append(
            check("e2e", f"{tests_dir}/e2e", args, "end-to-end tests", (f"{tests_dir}/**",))
        )
    return checks


def _has_tests(folder: Path) -> bool:
    return has_files(folder, "test_*.py") or has_files(folder, "*_test.py")


def _test_write_sets(root: Path, tests_dir: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """TEST and QA may run at the same time, so their write sets must be disjoint: QA gets the
    end-to-end folder, TEST the files and other folders beside it."""
    folder = root / tests_dir
    e2e = next((k for k in E2E_KINDS if (folder / k).is_dir()), "e2e")
    others = [d for d in code_dirs(folder)] if folder.is_dir() else []
    unit = [f"{tests_dir}/*.py"] + [f"{tests_dir}/{d}/**" for d in others if d != e2e]
    if not any(d == "unit" for d in others):
        unit.append(f"{tests_dir}/unit/**")
    return tuple(unit), (f"{tests_dir}/{e2e}/**",)


def _ruff_why(root: Path, pyproject: dict[str, Any], deps: set[str]) -> str:
    if has_table(pyproject, "tool", "ruff"):
        return "ruff: [tool.ruff] in pyproject.toml"
    name = first_existing(root, ("ruff.toml", ".ruff.toml"))
    if name:
        return f"ruff: {name}"
    return "ruff: a dependency" if "ruff" in deps else ""


def _flake8_why(root: Path, deps: set[str], setup_cfg: Any, tox_ini: Any) -> str:
    if (root / ".flake8").is_file():
        return "flake8: .flake8"
    if setup_cfg.has_section("flake8"):
        return "flake8: [flake8] in setup.cfg"
    if tox_ini.has_section("flake8"):
        return "flake8: [flake8] in tox.ini"
    return "flake8: a dependency" if "flake8" in deps else ""


def _mypy_why(root: Path, pyproject: dict[str, Any], deps: set[str], setup_cfg: Any) -> str:
    if has_table(pyproject, "tool", "mypy"):
        return "mypy: [tool.mypy] in pyproject.toml"
    name = first_existing(root, ("mypy.ini", ".mypy.ini"))
    if name:
        return f"mypy: {name}"
    if setup_cfg.has_section("mypy"):
        return "mypy: [mypy] in setup.cfg"
    if "mypy" in deps:
        return "mypy: a dependency"
    # Installed in the project's own environment; one on PATH could be anyone's.
    return "mypy: installed in .venv" if _in_venv(root, "mypy") else ""


def _pyright_why(root: Path, pyproject: dict[str, Any], deps: set[str]) -> str:
    if has_table(pyproject, "tool", "pyright"):
        return "pyright: [tool.pyright] in pyproject.toml"
    if (root / "pyrightconfig.json").is_file():
        return "pyright: pyrightconfig.json"
    if "pyright" in deps:
        return "pyright: a dependency"
    return "pyright: installed in .venv" if _in_venv(root, "pyright") else ""


def _in_venv(root: Path, tool: str) -> bool:
    return any((root / venv / "bin" / tool).exists() for venv in (".venv", "venv"))
