"""aider in scripting mode: `aider --message-file <prompt> --yes-always --no-auto-commits`.

Flags used (aider's options reference, aider.chat/docs/config/options.html):
- `--message-file`: send the file's text as one message, apply the edits, exit.
- `--yes-always`: answer every confirmation with yes (nobody is there to answer).
- `--no-auto-commits` and `--no-dirty-commits`: agents never commit; the engine commits the
  phase's write set itself (dirty commits would otherwise commit files that were already
  modified before aider edits them).
- `--no-gitignore`: aider would otherwise add `.aider*` to .gitignore, a write outside the
  phase's write set.
- `--input-history-file` / `--chat-history-file` sent to the null device for the same reason;
  the transcript is in the phase log anyway.
- `--no-pretty`, `--no-stream`, `--no-check-update`, `--analytics-disable`: plain log output
  and no network traffic beyond the model.
aider prints no structured result, so success comes from the exit code; the runner checks
the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.agents.base import AgentResult, Invocation, Preset, parse_by_exit_code
from engine.agents.settings import extra_args
from engine.config.model import AgentConfig

INSTALL_HINT = "install it with `python -m pip install aider-install && aider-install`"


def build(agent: AgentConfig, prompt_file: Path, workdir: Path) -> Invocation:
    argv = [
        "aider",
        "--message-file",
        str(prompt_file),
        "--yes-always",
        "--no-auto-commits",
        "--no-dirty-commits",
        "--no-gitignore",
        "--input-history-file",
        os.devnull,
        "--chat-history-file",
        os.devnull,
        "--no-pretty",
        "--no-stream",
        "--no-check-update",
        "--analytics-disable",
    ]
    if agent.model:
        argv += ["--model", agent.model]
    argv += extra_args(agent)
    return Invocation(argv=tuple(argv), prompt_on_stdin=False)


def parse(exit_code: int, output: str) -> AgentResult:
    return parse_by_exit_code(exit_code, output, name="aider")


PRESET = Preset(name="aider", binary="aider", install_hint=INSTALL_HINT, build=build, parse=parse)
