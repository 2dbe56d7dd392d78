"""How much does the pre-push hook cost when nothing the checks read has changed?

Builds a throwaway workspace (git repository, dodo.py, a tiny marathon.yaml whose two checks
read src/** and take a moment like real checks do), installs the pre-push hook with
`doit hooks install`'s command, and pushes to a local bare remote:

1. first push: a commit that changes src/, so every check runs (in the hook's worktree);
2. no-change pushes: commits that touch only README (outside every check's reads), pushed in
   pairs, once through the hook and once with `--no-verify`: the difference is the hook's
   own cost (target: at most 0.15 s);
3. the hook alone, started as git starts it (the pushed ref on stdin), and, for comparison,
   `doit -n 4 verify` with everything up to date (what the hook used to run).

Medians of --repeat. A timing report, not a test: numbers depend on the machine.

    python bench/hook_noop.py [--check-seconds 0.5] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.commands.hooks import verify_command
from engine.git.hooks import install_hook
from engine.workspace import scaffold

PIPELINE = """\
key_prefix: BENCH
tracker:
  kind: local
agents: {{}}
checks:
  lint:
    command: [{python}, "-c", "import pathlib, time; [p.read_text() for p in pathlib.Path('src').rglob('*.py')]; time.sleep({seconds})"]
    reads: ["src/**"]
  compile:
    command: [{python}, "-c", "import pathlib, time; [compile(p.read_text(), str(p), 'exec') for p in pathlib.Path('src').rglob('*.py')]; time.sleep({seconds})"]
    reads: ["src/**"]
phases:
  verify:
    checks: all
"""  # noqa: E501 - the commands read best on one line


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def commit(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    git(root, "add", path)
    git(root, "commit", "-q", "-m", f"bench: {path}")


def timed_push(root: Path, *flags: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        ["git", "push", "-q", *flags, "origin", "main"], cwd=root, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"push failed (the hook blocked it?):\n{done.stdout}{done.stderr}")
    return elapsed


def head(root: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def timed_hook(root: Path, remote: Path) -> float:
    """The hook alone, as git starts it: the ref being pushed on stdin."""
    sha = head(root)
    started = time.perf_counter()
    subprocess.run(
        [str(root / ".git" / "hooks" / "pre-push"), "origin", str(remote)],
        cwd=root,
        check=True,
        capture_output=True,
        input=f"refs/heads/main {sha} refs/heads/main {sha}\n",
        text=True,
    )
    return time.perf_counter() - started


def timed_doit_verify(root: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "doit", "-n", "4", "verify"],
        cwd=root,
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def isolate_git(home: Path) -> None:
    """No user or system git config: a global core.hooksPath must not redirect the hook."""
    os.environ["GIT_CONFIG_GLOBAL"] = str(home / "gitconfig")
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
    for role in ("AUTHOR", "COMMITTER"):
        os.environ[f"GIT_{role}_NAME"] = "bench"
        os.environ[f"GIT_{role}_EMAIL"] = "bench@localhost"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check-seconds",
        type=float,
        default=0.5,
        help="how long each stand-in check takes (default 0.5)",
    )
    parser.add_argument("--repeat", type=int, default=7, help="no-change pushes (default 7)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="marathon-hook-bench-") as temp:
        base = Path(temp)
        isolate_git(base)
        os.environ["XDG_CACHE_HOME"] = str(base / "cache")  # the hook's worktree goes here
        root = base / "workspace"
        pipeline = PIPELINE.format(python=_yaml_string(sys.executable), seconds=args.check_seconds)
        scaffold(root, pipeline_text=pipeline)
        commit(root, "src/app.py", "def answer() -> int:\n    return 42\n")
        remote = base / "remote.git"
        git(base, "init", "-q", "--bare", str(remote))
        git(root, "remote", "add", "origin", str(remote))
        install_hook(root, command=verify_command())

        commit(root, "src/app.py", "def answer() -> int:\n    return 41 + 1\n")
        first = timed_push(root)

        pushes, bare, hooks, doits = [], [], [], []
        for index in range(max(1, args.repeat)):
            commit(root, "README", f"no code change {index}\n")
            pushes.append(timed_push(root))
            commit(root, "README", f"no code change {index}, unverified\n")
            bare.append(timed_push(root, "--no-verify"))
            hooks.append(timed_hook(root, remote))
            doits.append(timed_doit_verify(root))

    noop, plain = statistics.median(pushes), statistics.median(bare)
    hook, doit_verify = statistics.median(hooks), statistics.median(doits)
    own = noop - plain
    print(f"checks: 2 x {args.check_seconds:.2f}s, read src/**, run in parallel by the hook")
    print(f"first push (checks run):                 {first:7.3f}s")
    print(f"no-change push (median of {len(pushes)}):           {noop:7.3f}s")
    print(f"no-change push --no-verify (median):     {plain:7.3f}s")
    print(f"the hook's own cost (difference):        {own:7.3f}s   target <= 0.150s")
    print(f"the hook alone, refs on stdin (median):  {hook:7.3f}s")
    print(
        f"doit -n 4 verify, all up to date:        {doit_verify:7.3f}s   "
        f"({doit_verify / hook:.1f} x the hook alone)"
    )
    verdict = "ok" if own <= 0.15 else "SLOW"
    print(f"{verdict}: the hook should add at most 0.15 s to a push that changes nothing it checks")
    return 0 if own <= 0.15 else 1


def _yaml_string(text: str) -> str:
    """A double-quoted YAML scalar (the interpreter path may contain spaces)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


if __name__ == "__main__":
    raise SystemExit(main())
