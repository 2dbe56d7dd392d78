"""JavaScript / TypeScript projects: the package manager from the lock file, the package.json
scripts the project runs (test, lint, typecheck, e2e), `tsc --noEmit` where TypeScript has no
script, Playwright / Cypress, and workspaces (a monorepo gets per-package checks for the
scripts only its packages define)."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

import yaml

from engine.errors import MarathonError
from engine.setup.facts import first_existing, manifest_json, read_text
from engine.setup.model import DetectedCheck, Detection

LOCKS = (
    ("pnpm-lock.yaml", "pnpm"),
    ("yarn.lock", "yarn"),
    ("bun.lockb", "bun"),
    ("bun.lock", "bun"),
    ("package-lock.json", "npm"),
)
SOURCE_DIRS = ("src", "app", "lib", "pages", "components", "server", "client", "api", "public")
CONFIGS = ("package.json", "tsconfig.json", "tsconfig.base.json")
TYPECHECK_SCRIPTS = ("typecheck", "type-check", "types", "tsc", "check-types")
E2E_SCRIPTS = ("test:e2e", "e2e", "test-e2e")
# `npm init` writes this test script: it is not a test suite.
NPM_PLACEHOLDER = "no test specified"
UNIT_PATTERNS = ("**/*.test.*", "**/*.spec.*", "**/__tests__/**")


def detect(root: Path) -> Detection | None:
    if not (root / "package.json").is_file():
        return None
    pkg = manifest_json(root / "package.json")
    manager, manager_why = _manager(root, pkg)
    scripts = _scripts(pkg)
    packages = _workspace_packages(root, pkg)
    dirs = [d for d in SOURCE_DIRS if (root / d).is_dir()]
    source = [f"{d}/**" for d in dirs] + [f"{p}/**" for p in packages]
    source = source or ["**/*.ts", "**/*.tsx", "**/*.js", "**/*.jsx"]
    configs = [n for n in CONFIGS if (root / n).is_file()]
    configs += sorted(p.name for p in root.glob("*.config.*") if p.is_file())
    reads = (*source, *configs)
    checks: list[DetectedCheck] = []
    notes: list[str] = []
    run = _Runner(manager)

    e2e_dir, e2e_check = _e2e(root, pkg, scripts, run, reads)
    for script, name, doc in (("test", "test", "unit tests"), ("lint", "lint", "lint")):
        if script in scripts:
            # Without an e2e runner, QA's e2e/ tests are the test script's to run.
            watch = (*reads, f"{e2e_dir}/**") if name == "test" and e2e_check is None else reads
            why = f"{name}: package.json scripts.{script}"
            checks.append(DetectedCheck(name, run.script(script), watch, doc, why))
        else:
            checks += _per_package(root, packages, script, name, doc, run)
    typecheck = next((s for s in TYPECHECK_SCRIPTS if s in scripts), "")
    if typecheck:
        why = f"typecheck: package.json scripts.{typecheck}"
        checks.append(DetectedCheck("typecheck", run.script(typecheck), reads, "type check", why))
    elif (root / "tsconfig.json").is_file():
        checks.append(
            DetectedCheck(
                "typecheck",
                run.bin("tsc", "--noEmit"),
                reads,
                "tsc --noEmit",
                "typecheck: tsconfig.json and no typecheck script",
            )
        )
    else:
        notes.append("typecheck: no typecheck script and no tsconfig.json")
    if e2e_check is not None:
        checks.append(e2e_check)
    else:
        notes.append(
            "e2e: no Playwright / Cypress config and no e2e script; QA's e2e/ tests run with the"
            " test script's runner when named *.test.*"
        )

    declared = any(pkg.get(k) for k in ("dependencies", "devDependencies"))
    if checks and declared and not (root / "node_modules").is_dir():
        notes.append(
            f"node_modules/ is missing: the checks cannot start until `{manager} install`;"
            " then run setup again with --refresh"
        )
    test_writes = _unit_test_globs(root, dirs, packages, e2e_dir)
    lock = first_existing(root, tuple(name for name, _ in LOCKS))
    code_writes = (
        *source,
        *configs,
        *([lock] if lock else []),
        *(f"{p}/package.json" for p in packages),
    )
    kind = "TypeScript" if (root / "tsconfig.json").is_file() else "JavaScript"
    summary = f"{kind} ({manager}, {manager_why})" + (
        f", workspaces: {', '.join(packages)}" if packages else ""
    )
    return Detection(
        ecosystem="node",
        summary=summary,
        checks=tuple(checks),
        source=tuple(source),
        code_writes=tuple(dict.fromkeys(code_writes)),
        test_writes=test_writes,
        e2e_writes=(f"{e2e_dir}/**",),
        notes=tuple(notes),
    )


class _Runner:
    """argv for a package.json script or a local binary, never one that downloads."""

    def __init__(self, manager: str) -> None:
        self.manager = manager

    def script(self, name: str, where: str = "", package: str = "") -> tuple[str, ...]:
        m = self.manager
        if not where:
            return (m, "run", name)
        if m == "pnpm":
            return ("pnpm", "--dir", where, "run", name)
        if m == "yarn":
            return ("yarn", "workspace", package or where, "run", name)
        if m == "bun":
            return ("bun", "run", "--cwd", where, name)
        return ("npm", "run", name, "--workspace", where)

    def bin(self, name: str, *args: str) -> tuple[str, ...]:
        if self.manager == "npm":
            return ("npm", "exec", "--no", "--", name, *args)  # --no: fail, never install
        if self.manager == "bun":
            return ("bun", "run", name, *args)
        return (
            (self.manager, "exec", name, *args) if self.manager == "pnpm" else ("yarn", name, *args)
        )


def _manager(root: Path, pkg: dict[str, Any]) -> tuple[str, str]:
    for lock, manager in LOCKS:
        if (root / lock).is_file():
            return manager, f"from {lock}"
    declared = str(pkg.get("packageManager", "")).split("@", 1)[0]
    if declared in ("npm", "pnpm", "yarn", "bun"):
        return declared, "from packageManager in package.json"
    return "npm", "no lock file"


def _scripts(pkg: dict[str, Any]) -> dict[str, str]:
    scripts = pkg.get("scripts")
    if not isinstance(scripts, dict):
        return {}
    found = {str(k): str(v) for k, v in scripts.items()}
    if NPM_PLACEHOLDER in found.get("test", ""):
        del found["test"]
    return found


def _workspace_packages(root: Path, pkg: dict[str, Any]) -> list[str]:
    """Package folders (relative, with a package.json) named by pnpm-workspace.yaml or the
    workspaces field of package.json."""
    patterns: list[str] = []
    text = read_text(root / "pnpm-workspace.yaml")
    if text:
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = "pnpm-workspace.yaml" + (f":{mark.line + 1}:{mark.column + 1}" if mark else "")
            raise MarathonError(
                "not valid YAML; setup reads the workspace packages from it: fix it and run"
                " setup again",
                where=where,
            ) from None
        listed = data.get("packages") if isinstance(data, dict) else None
        patterns = [str(p) for p in listed or [] if isinstance(listed, list)]
    workspaces = pkg.get("workspaces")
    if isinstance(workspaces, dict):
        workspaces = workspaces.get("packages")
    if isinstance(workspaces, list):
        patterns += [str(p) for p in workspaces]
    found: list[str] = []
    for pattern in patterns:
        if pattern.startswith("!"):
            continue
        for path in sorted(root.glob(pattern.rstrip("/"))):
            rel = path.relative_to(root).as_posix()
            if (path / "package.json").is_file() and "node_modules" not in rel and rel not in found:
                found.append(rel)
    return found


def _per_package(
    root: Path, packages: list[str], script: str, name: str, doc: str, run: _Runner
) -> list[DetectedCheck]:
    """The root defines no such script, so each package that does gets its own check."""
    checks = []
    for folder in packages:
        pkg = manifest_json(root / folder / "package.json")
        if script not in _scripts(pkg):
            continue
        label = _labels(packages)[folder]
        package = str(pkg.get("name") or folder)
        checks.append(
            DetectedCheck(
                f"{label}-{name}",
                run.script(script, where=folder, package=package),
                (f"{folder}/**", "package.json"),
                f"{doc} of {package}",
                f"{name}: scripts.{script} in {folder}/package.json",
            )
        )
    return checks


def _labels(packages: list[str]) -> dict[str, str]:
    """A check-name prefix per package: its folder's name, or its whole path where two
    packages share a folder name (packages/core, apps/core)."""

    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "package"

    names = [folder.rsplit("/", 1)[-1] for folder in packages]
    return {
        folder: clean(name if names.count(name) == 1 else folder)
        for folder, name in zip(packages, names, strict=True)
    }


def _e2e(
    root: Path, pkg: dict[str, Any], scripts: dict[str, str], run: _Runner, reads: tuple[str, ...]
) -> tuple[str, DetectedCheck | None]:
    """Where end-to-end tests live and the check that runs them."""
    playwright = next(iter(sorted(root.glob("playwright.config.*"))), None)
    cypress = next(iter(sorted(root.glob("cypress.config.*"))), None)
    folder = "e2e"
    if playwright is not None:
        match = re.search(r"testDir\s*:\s*['\"]([^'\"]+)['\"]", read_text(playwright))
        folder = posixpath.normpath(match.group(1)) if match else ""
        if not folder or folder.startswith(("..", "/", ".")) or any(c in folder for c in "*?[{"):
            folder = first_existing(root, ("e2e", "tests")) or "e2e"  # Playwright's usual places
    elif cypress is not None:
        folder = "cypress"
    script = next((s for s in E2E_SCRIPTS if s in scripts), "")
    reads = (*reads, f"{folder}/**")
    if script:
        why = f"e2e: package.json scripts.{script}"
        return folder, DetectedCheck("e2e", run.script(script), reads, "end-to-end tests", why)
    if playwright is not None:
        why = f"e2e: {playwright.name}"
        return folder, DetectedCheck("e2e", run.bin("playwright", "test"), reads, "Playwright", why)
    if cypress is not None:
        why = f"e2e: {cypress.name}"
        return folder, DetectedCheck("e2e", run.bin("cypress", "run"), reads, "Cypress", why)
    return folder, None


def _unit_test_globs(
    root: Path, dirs: list[str], packages: list[str], e2e_dir: str
) -> tuple[str, ...]:
    """Unit tests sit beside the code (*.test.ts, __tests__/) or in a test folder; never
    inside the e2e folder, which is QA's."""
    globs = [f"{d}/{p}" for d in (*dirs, *packages) for p in UNIT_PATTERNS if d != e2e_dir]
    for folder in ("test", "tests", "__tests__"):
        if folder == e2e_dir or not (root / folder).is_dir():
            continue
        if e2e_dir.startswith(folder + "/"):
            inner = e2e_dir.split("/")[1]
            globs.append(f"{folder}/*.*")  # files only: `*` alone could be the e2e folder
            globs += [
                f"{folder}/{p.name}/**"
                for p in sorted((root / folder).iterdir())
                if p.is_dir() and p.name != inner
            ]
        else:
            globs.append(f"{folder}/**")
    return tuple(globs) or ("src/**/*.test.*",)
