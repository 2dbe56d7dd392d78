"""A stand-in agent for tests, benchmarks and dry runs: sleeps, writes a file inside the phase's
write set, and fails when told to. It runs as a real subprocess (`python -m
engine.agents.standin`) so process groups, timeouts and logs are exercised exactly as with a
real CLI.

Its output depends only on the prompt, so re-running an unchanged phase writes the same bytes,
unless the agent sets `vary: true`: then every run writes something new, as a real agent does
(the durability tests need that: a redone phase must show as a new commit, not an equal one).
With MARATHON_STANDIN_LEDGER set, each run appends `<issue>:<phase> <pid> start|wrote` lines to
that file, so a test can count the agent runs that really happened, recorded or not. With
MARATHON_STANDIN_WHERE set, each run appends one JSON line saying where it ran: its working
directory, the engine's path variables, the names of its environment and its prompt (the
cluster tests prove from it that a worker's agent never touches the coordinator's paths).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from engine.agents.base import Invocation, Preset, parse_by_exit_code
from engine.config.model import AgentConfig
from engine.globs import compile_glob, static_prefix


def build(agent: AgentConfig, prompt_file: Path, workdir: Path) -> Invocation:
    sleep = agent.options.get("sleep", 0)
    sleep_map = sleep if isinstance(sleep, dict) else {"*": sleep}
    # -S skips site-packages start-up (.pth files, editable finders): the stand-in needs only
    # the standard library and this package, and its start-up time would otherwise dominate
    # the benchmarks that use it.
    package_parent = str(Path(__file__).resolve().parents[2])
    return Invocation(
        argv=(
            sys.executable,
            "-S",
            "-m",
            "engine.agents.standin",
            "--sleep",
            json.dumps(sleep_map),
            "--fail",
            json.dumps(list(agent.options.get("fail", []))),
            *(["--vary"] if agent.options.get("vary") else []),
        ),
        prompt_on_stdin=True,
        env={"PYTHONPATH": package_parent},
    )


PRESET = Preset(
    name="standin",
    binary=sys.executable,  # runs in the engine's own interpreter
    install_hint="it ships with marathon-engine; reinstall the package",
    build=build,
    parse=parse_by_exit_code,
    env=("MARATHON_STANDIN_*",),  # its test and benchmark knobs
)


def target_file(pattern: str, issue: str, phase: str) -> str | None:
    """A concrete path inside `pattern` for this issue and phase, or None if none is obvious."""
    if not any(ch in pattern for ch in "*?["):
        return pattern
    stem = f"{issue}-{phase}".lower()
    last = pattern.rsplit("/", 1)[-1]
    name = last.replace("**", "").replace("*", stem) if "*" in last else f"{stem}.txt"
    if name in ("", stem):
        name = f"{stem}.txt"
    prefix = static_prefix(pattern)
    candidate = f"{prefix}/{name}" if prefix else name
    return candidate if compile_glob(pattern).match(candidate) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="standin")
    parser.add_argument("--sleep", default="{}")
    parser.add_argument("--fail", default="[]")
    parser.add_argument("--vary", action="store_true")
    args = parser.parse_args(argv)
    issue = os.environ.get("MARATHON_ISSUE", "ISSUE")
    phase = os.environ.get("MARATHON_PHASE", "phase")
    writes = json.loads(os.environ.get("MARATHON_WRITES", "[]"))
    prompt = sys.stdin.read()
    _ledger(f"{issue}:{phase} {os.getpid()} start")
    _where(f"{issue}:{phase}", prompt)
    sleep_map: dict[str, float] = json.loads(args.sleep)
    # Scaling lives outside the agent settings so a test can speed up a rerun without making
    # every phase out of date.
    scale = float(os.environ.get("MARATHON_STANDIN_SLEEP_SCALE", "1"))
    time.sleep(float(sleep_map.get(phase, sleep_map.get("*", 0))) * scale)
    failing = set(json.loads(args.fail))
    print(f"standin: {issue} {phase}: prompt of {len(prompt)} characters", flush=True)
    if phase in failing or f"{issue}:{phase}" in failing:
        print(f"standin: told to fail {issue}:{phase}", file=sys.stderr)
        return 1
    fingerprint = hashlib.sha256(prompt.encode()).hexdigest()
    if args.vary:
        fingerprint += f"\n# run {os.urandom(8).hex()}"
    for pattern in writes:
        target = target_file(pattern, issue, phase)
        if target is None:
            continue
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {issue} {phase}\n# prompt sha256 {fingerprint}\n", encoding="utf-8")
        print(f"standin: wrote {target}")
        _ledger(f"{issue}:{phase} {os.getpid()} wrote")
        break
    return 0


def _where(task: str, prompt: str) -> None:
    path = os.environ.get("MARATHON_STANDIN_WHERE")
    if not path:
        return
    seen = {
        "task": task,
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "paths": {k: v for k, v in os.environ.items() if k.startswith("MARATHON_")},
        "env": sorted(os.environ),
        "parent_env": _parent_env(),
        "prompt": prompt,
    }
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(seen) + "\n")


def _parent_env() -> list[str] | None:
    """The names (never the values) in the environment of the process that started this one
    (a cluster worker's, say); None where /proc does not tell."""
    try:
        raw = Path(f"/proc/{os.getppid()}/environ").read_bytes()
    except OSError:
        return None
    names = {item.split(b"=", 1)[0] for item in raw.split(b"\0") if item}
    return sorted(name.decode(errors="replace") for name in names)


def _ledger(line: str) -> None:
    path = os.environ.get("MARATHON_STANDIN_LEDGER")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
