"""How fast is the pre-push hook when nothing the checks read has changed?

Builds a throwaway workspace (git repository, dodo.py, a tiny marathon.yaml whose two checks
read src/** and take a moment like real checks do), installs the pre-push hook with
`doit hooks install`'s command, and pushes to a local bare remote:

1. first push: a commit that changes src/, so every check runs;
2. no-change pushes: commits that touch only README (outside every check's reads), so the hook
   starts doit, finds every check up to date, and lets the push through.

It prints both times (median of --repeat no-change pushes) and their ratio, for the whole
`git push` and for the hook alone. A timing report, not a test: numbers depend on the machine.

    python bench/hook_noop.py [--check-seconds 0.5] [--repeat 5]
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


def timed_push(root: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        ["git", "push", "-q", "origin", "main"], cwd=root, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"push failed (the hook blocked it?):\n{done.stdout}{done.stderr}")
    return elapsed


def timed_hook(root: Path, remote: Path) -> float:
    """The hook alone, as git would start it for a push with nothing new to send."""
    started = time.perf_counter()
    subprocess.run(
        [str(root / ".git" / "hooks" / "pre-push"), "origin", str(remote)],
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
    parser.add_argument("--repeat", type=int, default=5, help="no-change pushes (default 5)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="marathon-hook-bench-") as temp:
        base = Path(temp)
        isolate_git(base)
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

        pushes, hooks = [], []
        for index in range(max(1, args.repeat)):
            commit(root, "README", f"no code change {index}\n")
            pushes.append(timed_push(root))
            hooks.append(timed_hook(root, remote))

    noop, hook = statistics.median(pushes), statistics.median(hooks)
    print(f"checks: 2 x {args.check_seconds:.2f}s, run in parallel by `doit -n 4 verify`")
    print(f"first push (checks run):        {first:7.3f}s")
    print(
        f"no-change push (median of {len(pushes)}):   {noop:7.3f}s   "
        f"ratio {noop / first:.2f} of the first"
    )
    print(f"no-change hook alone (median):  {hook:7.3f}s")
    verdict = "ok" if noop < 1.0 else "SLOW"
    print(f"{verdict}: a no-change push should finish well under a second")
    return 0 if noop < 1.0 else 1


def _yaml_string(text: str) -> str:
    """A double-quoted YAML scalar (the interpreter path may contain spaces)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


if __name__ == "__main__":
    raise SystemExit(main())
