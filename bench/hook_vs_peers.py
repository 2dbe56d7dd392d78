"""The pre-push hook against lefthook and pre-commit, on the same checks of the same project.

Generates a small Python project (a package, a real pytest suite, ruff settings, docs) with
four checks: `ruff check`, `ruff format --check`, `pytest -q` (all three read the code) and a
docs check (reads docs/ only). Three clones of it push to three bare remotes, one through
each tool's pre-push hook, configured with the same commands (lefthook: `parallel: true`;
pre-commit: `repo: local`, `always_run`). Scenarios, medians of --repeat:

1. no-change push: a commit that touches only README (no check reads it);
2. one-file change: a commit that edits one module (three checks read it, docs does not);
3. a new branch whose tree already passed on main (an empty commit on top of main).

For each it prints the push time and the tool's own share (push minus `push --no-verify`).
For ours it also prints which checks ran, and compares the one-file push with running the
slowest check directly. lefthook is also timed as `lefthook run pre-push --force` (without
--force it skips every job when the pushed commits change no file it matches).

lefthook (npm package `lefthook`) and pre-commit (PyPI `pre-commit`) are used from PATH, else
installed into ~/.cache/marathon-engine/bench-tools; a tool that cannot be installed is
skipped, and the report says so. A timing report, not a test.

    python bench/hook_vs_peers.py [--repeat 3] [--modules 12] [--per 40]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from engine.commands.hooks import verify_command
from engine.git.hooks import install_hook
from engine.workspace import scaffold

TOOLS_DIR = Path.home() / ".cache" / "marathon-engine" / "bench-tools"
PY = shlex.quote(sys.executable)
CODE_READS = ["pkg/**", "tests/**", "pyproject.toml"]
CHECKS = {
    "lint": (f"{PY} -m ruff check --no-cache pkg tests", CODE_READS),
    "format": (f"{PY} -m ruff format --no-cache --check pkg tests", CODE_READS),
    "unit": (f"{PY} -m pytest -q -p no:cacheprovider tests", CODE_READS),
    "docs": (f"{PY} tools/check_docs.py", ["docs/**", "tools/check_docs.py"]),
}

MODULE = '''\
"""Module {n}: small numeric helpers, exercised by tests/test_mod_{n}.py."""


def primes_below(limit: int) -> list[int]:
    sieve = bytearray([1]) * limit
    sieve[:2] = b"\\x00\\x00"
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(range(i * i, limit, i)))
    return [i for i, flag in enumerate(sieve) if flag]


def collatz_steps(start: int) -> int:
    steps = 0
    while start != 1:
        start = start // 2 if start % 2 == 0 else 3 * start + 1
        steps += 1
    return steps


OFFSET = {n}
'''

TEST = """\
import pytest

from pkg.mod_{n} import OFFSET, collatz_steps, primes_below


@pytest.mark.parametrize("limit", range(2000, 2000 + {per}))
def test_primes_are_prime(limit: int) -> None:
    found = primes_below(limit * 12 + OFFSET)
    assert all(p % d for p in found[-150:] for d in range(2, int(p**0.5) + 1))


def test_collatz() -> None:
    assert max(collatz_steps(n) for n in range(1, 20000)) == 278
"""

CHECK_DOCS = """\
import pathlib
import sys

bad = [p for p in sorted(pathlib.Path("docs").glob("*.md")) if not p.read_text().startswith("# ")]
sys.exit(f"no title: {bad}" if bad else 0)
"""

PYPROJECT = """\
[tool.ruff]
line-length = 100

[tool.ruff.lint]
select = ["E", "F", "I", "B"]

[tool.pytest.ini_options]
addopts = "-p no:randomly"
"""


def pipeline_yaml() -> str:
    lines = ["key_prefix: PEER", "tracker: {kind: local}", "agents: {}", "checks:"]
    for name, (command, reads) in CHECKS.items():
        argv = ", ".join(f'"{arg}"' for arg in shlex.split(command))
        lines.append(f"  {name}: {{command: [{argv}], reads: {reads}}}")
    lines += ["phases:", "  verify: {checks: all}", ""]
    return "\n".join(lines)


def pre_commit_yaml() -> str:
    hooks = []
    for name, (command, _) in CHECKS.items():
        hooks.append(
            f"      - id: {name}\n        name: {name}\n        entry: {command}\n"
            "        language: system\n        pass_filenames: false\n"
            "        always_run: true\n        stages: [pre-push]\n"
        )
    return "repos:\n  - repo: local\n    hooks:\n" + "".join(hooks)


def lefthook_yaml() -> str:
    body = "".join(f"    {name}:\n      run: {command}\n" for name, (command, _) in CHECKS.items())
    return f"pre-push:\n  parallel: true\n  commands:\n{body}"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed in {cwd}:\n{done.stderr}")
    return done.stdout.strip()


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_seed(root: Path, modules: int, per: int) -> None:
    scaffold(root, pipeline_text=pipeline_yaml())
    write(root, "pkg/__init__.py", "")
    write(root, "tests/__init__.py", "")
    for n in range(modules):
        write(root, f"pkg/mod_{n}.py", MODULE.format(n=n))
        write(root, f"tests/test_mod_{n}.py", TEST.format(n=n, per=per))
    write(root, "docs/index.md", "# The project\n")
    write(root, "tools/check_docs.py", CHECK_DOCS)
    write(root, "pyproject.toml", PYPROJECT)
    write(root, "README", "peers bench\n")
    write(root, ".pre-commit-config.yaml", pre_commit_yaml())
    write(root, "lefthook.yml", lefthook_yaml())
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")


def find_tool(name: str, install: Callable[[], Path | None]) -> Path | None:
    found = shutil.which(name)
    if found:
        return Path(found)
    try:
        return install()
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"note: could not install {name}: {exc}")
        return None


def install_pre_commit() -> Path | None:
    venv = TOOLS_DIR / "venv"
    binary = venv / "bin" / "pre-commit"
    if not binary.exists():
        print("installing pre-commit (PyPI) into", venv)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q", "pre-commit"]
        subprocess.run(pip, check=True, capture_output=True, timeout=600)
    return binary if binary.exists() else None


def install_lefthook() -> Path | None:
    prefix = TOOLS_DIR / "npm"
    binary = prefix / "node_modules" / ".bin" / "lefthook"
    if not binary.exists():
        print("installing lefthook (npm) into", prefix)
        subprocess.run(
            ["npm", "install", "--prefix", str(prefix), "lefthook"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return binary if binary.exists() else None


class Clone:
    """One clone of the seed, pushing to its own bare remote through one tool's hook."""

    def __init__(self, base: Path, seed: Path, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.root = base / name
        self.env = env
        git(base, "clone", "-q", str(seed), str(self.root))
        self.remote = base / f"{name}.git"
        git(base, "init", "-q", "--bare", str(self.remote))
        git(self.root, "remote", "set-url", "origin", str(self.remote))
        self.counter = 0

    def commit(self, rel: str, text: str | None = None) -> None:
        self.counter += 1
        path = self.root / rel
        if text is None:
            text = path.read_text() + f"# edit {self.counter}\n"
        path.write_text(text)
        git(self.root, "commit", "-q", "-a", "-m", f"edit {self.counter}")

    def push(self, *args: str) -> tuple[float, str]:
        started = time.perf_counter()
        done = subprocess.run(
            ["git", "push", "origin", *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{self.name}: git push {' '.join(args)} failed:\n{done.stdout}")
        return elapsed, done.stdout

    def timed(self, argv: list[str]) -> float:
        started = time.perf_counter()
        done = subprocess.run(
            argv, cwd=self.root, env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"{self.name}: {argv} failed:\n{done.stdout}{done.stderr}")
        return time.perf_counter() - started


def scenario_step(
    clone: Clone, index: int, slowest: Callable[[], float] | None = None
) -> dict[str, float]:
    """One round of every scenario; each push is paired with a --no-verify push of a like
    commit, so the hook's own share is the difference. `slowest` (ours only) times the slowest
    check run directly, just before and just after the one-file push, on the same load."""
    times = {}
    clone.commit("README")
    times["noop"] = clone.push("main")[0]
    clone.commit("README")
    times["noop-bare"] = clone.push("--no-verify", "main")[0]
    clone.commit(f"pkg/mod_{index % 3}.py")
    before = slowest() if slowest else 0.0
    times["one-file"], output = clone.push("main")
    if slowest:
        times["slowest"] = (before + slowest()) / 2
        times["one-file-ratio"] = (times["one-file"] - times["noop-bare"]) / times["slowest"]
    if clone.name == "ours" and index == 0:
        verdict = next(x for x in output.splitlines() if x.startswith("pre-push"))
        print("   ours, one-file push said:", verdict)
    for kind, flags in (("branch", ()), ("branch-bare", ("--no-verify",))):
        branch = f"{kind}-{index}"
        git(clone.root, "switch", "-q", "-c", branch, "main")
        git(clone.root, "commit", "-q", "--allow-empty", "-m", "same tree")
        times[kind] = clone.push(*flags, branch)[0]
        git(clone.root, "switch", "-q", "main")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (default 3)")
    parser.add_argument("--modules", type=int, default=12, help="modules in the project")
    parser.add_argument("--per", type=int, default=40, help="parametrised tests per module")
    args = parser.parse_args()

    pre_commit = find_tool("pre-commit", install_pre_commit)
    lefthook = find_tool("lefthook", install_lefthook)
    with tempfile.TemporaryDirectory(prefix="marathon-peers-bench-") as temp:
        base = Path(temp)
        env = {
            **os.environ,
            "GIT_CONFIG_GLOBAL": str(base / "gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "XDG_CACHE_HOME": str(base / "cache"),
            "PRE_COMMIT_HOME": str(base / "pre-commit-home"),
            "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "bench@localhost",
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@localhost",
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a developer's machine
        os.environ.clear()
        os.environ.update(env)
        seed = base / "seed"
        make_seed(seed, args.modules, args.per)

        clones: dict[str, Clone] = {"ours": Clone(base, seed, "ours", env)}
        install_hook(clones["ours"].root, command=verify_command())
        if pre_commit:
            clones["pre-commit"] = Clone(base, seed, "pre-commit", env)
            clones["pre-commit"].timed([str(pre_commit), "install", "--hook-type", "pre-push"])
        else:
            print("skipped pre-commit: not installed and could not be installed")
        if lefthook:
            lh_env = {**env, "PATH": f"{lefthook.parent}{os.pathsep}{env['PATH']}"}
            clones["lefthook"] = Clone(base, seed, "lefthook", lh_env)
            clones["lefthook"].timed([str(lefthook), "install"])
        else:
            print("skipped lefthook: not installed and could not be installed")

        ours = clones["ours"]
        ours.timed(shlex.split(CHECKS["unit"][0]))  # warm: bytecode, disk cache
        direct = {name: ours.timed(shlex.split(cmd)) for name, (cmd, _) in CHECKS.items()}
        slowest = max(direct, key=lambda n: direct[n])
        print(
            "checks run directly: "
            + ", ".join(f"{n} {t:.2f} s" for n, t in direct.items())
            + f" (sum {sum(direct.values()):.2f} s)"
        )

        # Round-robin: every tool's round i runs under the same load of a shared machine.
        results: dict[str, dict[str, list[float]]] = {name: {} for name in clones}
        for clone in clones.values():
            clone.push("main")  # the start: every check runs once, for every tool

        def run_slowest() -> float:
            return ours.timed(shlex.split(CHECKS[slowest][0]))

        for index in range(args.repeat):
            print(f"-- round {index + 1} of {args.repeat}")
            for name, clone in clones.items():
                timer = run_slowest if name == "ours" else None
                for key, value in scenario_step(clone, index, timer).items():
                    results[name].setdefault(key, []).append(value)
        forced = None
        if lefthook:
            lh = clones["lefthook"]
            runs = [
                lh.timed([str(lefthook), "run", "pre-push", "--force"]) for _ in range(args.repeat)
            ]
            forced = statistics.median(runs)
        hook_alone = []
        sha = git(ours.root, "rev-parse", "HEAD")
        for _ in range(args.repeat):
            started = time.perf_counter()
            subprocess.run(
                [str(ours.root / ".git" / "hooks" / "pre-push"), "origin", str(ours.remote)],
                cwd=ours.root,
                input=f"refs/heads/main {sha} refs/heads/main {sha}\n",
                text=True,
                capture_output=True,
                check=True,
            )
            hook_alone.append(time.perf_counter() - started)

    med = {n: {k: statistics.median(v) for k, v in r.items()} for n, r in results.items()}
    print()
    print("| scenario | " + " | ".join(med) + " |")
    print("|---|" + "---|" * len(med))
    rows = (
        ("no-change push", "noop"),
        ("one source file edited", "one-file"),
        ("new branch, tree already passed", "branch"),
    )
    for label, key in rows:
        print(f"| {label} | " + " | ".join(f"{m[key]:.2f} s" for m in med.values()) + " |")
    own = {n: m["noop"] - m["noop-bare"] for n, m in med.items()}
    own_branch = {n: m["branch"] - m["branch-bare"] for n, m in med.items()}
    print("| the hook's own share of a no-change push | " + _cells(own) + " |")
    print("| ... of a push of an already-passed tree | " + _cells(own_branch) + " |")
    print()
    ours_own = own["ours"]
    alone = statistics.median(hook_alone)
    print(f"ours, the hook command alone with nothing changed: {alone:.3f} s")
    ok = ours_own <= 0.15
    print(f"ours, own cost of a no-change push: {ours_own:.3f} s (target <= 0.15 s)")
    for name, value in own.items():
        if name != "ours":
            ratio = value / max(ours_own, 1e-3)
            ok &= ratio >= 20
            print(f"  {name}: {value:.2f} s = {ratio:.0f} x ours (target >= 20 x)")
    if forced is not None:
        ratio = forced / max(ours_own, 1e-3)
        ok &= ratio >= 20
        print(f"  lefthook run pre-push --force: {forced:.2f} s = {ratio:.0f} x ours")
    one = med["ours"]["one-file"] - med["ours"]["noop-bare"]
    alone_slowest = med["ours"]["slowest"]
    ratios = results["ours"]["one-file-ratio"]
    ratio = statistics.median(ratios)
    ok &= ratio <= 1.05
    print(
        f"ours, one-file change: {one:.2f} s of hook (push minus a bare push) for lint, format,"
        f" unit in parallel vs {slowest} alone {alone_slowest:.2f} s (timed around each push):"
        f" {ratio:.3f} x, rounds {', '.join(f'{r:.3f}' for r in ratios)} (target <= 1.05 x)"
    )
    for name, m in med.items():
        # Less than half the slowest check: it cannot have run them (lefthook: no files).
        if name != "ours" and m["branch"] - m["branch-bare"] < 0.5 * alone_slowest:
            print(f"  note: {name} ran no check for the new branch (its commit changes no file)")
    print("ok" if ok else "MISSED a target")
    return 0 if ok else 1


def _cells(values: dict[str, float]) -> str:
    return " | ".join(f"{v:.2f} s" for v in values.values())


if __name__ == "__main__":
    raise SystemExit(main())
