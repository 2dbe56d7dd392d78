"""The `replay` agent: plays a recorded cassette back instead of calling a model.

As a preset it runs `python -m engine.agents.replay --cassette-root DIR --speed F --workdir W`;
the issue and phase come from MARATHON_ISSUE / MARATHON_PHASE, which the runner sets for every
phase (or from `--issue` / `--phase`). As a program it writes the recorded files into the
workdir, sleeps the recorded duration divided by the speed factor, prints the transcript and
then one marker line carrying the recorded result, so `parse` can restore cost, tokens, turns
and session id. It exits 0 when the recorded run succeeded, 1 when it failed (a failure
replays as a failure), and 2 with a one-line message when there is no usable cassette.

Settings (AgentConfig.options): `cassettes` (directory, relative to the workdir; default
`.marathon/cassettes`) and `speed` (default 1.0; 10 plays a 60 s phase in 6 s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from engine.agents.base import AgentResult, Invocation, Preset
from engine.agents.cassette import apply_files, load_cassette
from engine.agents.jsonlines import json_objects, last_line
from engine.agents.settings import option_float, option_str
from engine.config.model import AgentConfig
from engine.errors import MarathonError

DEFAULT_CASSETTES = ".marathon/cassettes"
MARKER = "marathon.replay"
INSTALL_HINT = "it runs with the Python that runs the engine"


def build(agent: AgentConfig, prompt_file: Path, workdir: Path) -> Invocation:
    root = Path(option_str(agent, "cassettes", DEFAULT_CASSETTES))
    if not root.is_absolute():
        root = workdir / root
    speed = option_float(agent, "speed", 1.0)
    argv = (
        sys.executable,
        "-m",
        "engine.agents.replay",
        "--cassette-root",
        str(root),
        "--speed",
        repr(speed),
        "--workdir",
        str(workdir),
    )
    return Invocation(argv=argv, prompt_on_stdin=False)


def parse(exit_code: int, output: str) -> AgentResult:
    markers = [m for m in json_objects(output) if m.get("type") == MARKER]
    if not markers or not isinstance(markers[-1].get("result"), dict):
        tail = last_line(output)
        return AgentResult(
            ok=False, error=f"replay exited with status {exit_code}" + (f": {tail}" if tail else "")
        )
    fields = dict(markers[-1]["result"])
    fields["permission_denials"] = tuple(fields.get("permission_denials") or ())
    try:
        recorded = AgentResult(**fields)
    except TypeError:
        return AgentResult(ok=False, error="replay printed a result this engine cannot read")
    if exit_code != 0 and recorded.ok:
        return AgentResult(
            **{**fields, "ok": False, "error": f"replay exited with status {exit_code}"}
        )
    return recorded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.agents.replay", description="Replay a recorded phase run."
    )
    parser.add_argument("--cassette-root", required=True, type=Path)
    parser.add_argument("--issue", default=os.environ.get("MARATHON_ISSUE", ""))
    parser.add_argument("--phase", default=os.environ.get("MARATHON_PHASE", ""))
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    if not args.issue or not args.phase:
        print(
            "replay: no issue or phase (pass --issue/--phase or set MARATHON_ISSUE and "
            "MARATHON_PHASE)",
            file=sys.stderr,
        )
        return 2
    if args.speed <= 0:
        print(f"replay: --speed must be positive, got {args.speed}", file=sys.stderr)
        return 2
    try:
        cassette = load_cassette(args.cassette_root, args.issue, args.phase)
        apply_files(cassette.files, args.workdir)
    except MarathonError as error:
        print(f"replay: {error.one_line()}", file=sys.stderr)
        return 2
    time.sleep(cassette.duration / args.speed)
    sys.stdout.write(cassette.transcript)
    if cassette.transcript and not cassette.transcript.endswith("\n"):
        sys.stdout.write("\n")
    result = asdict(cassette.result)
    result["permission_denials"] = list(cassette.result.permission_denials)
    print(json.dumps({"type": MARKER, "result": result}, sort_keys=True))
    sys.stdout.flush()
    return 0 if cassette.result.ok else 1


PRESET = Preset(
    name="replay", binary=sys.executable, install_hint=INSTALL_HINT, build=build, parse=parse
)


if __name__ == "__main__":
    sys.exit(main())
