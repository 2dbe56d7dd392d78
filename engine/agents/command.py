"""Any command as an agent: `AgentConfig.command` run as is, the prompt on stdin.

The argv comes from marathon.yaml and is used verbatim (a list, never a shell string); there is
no output format to read, so success is the exit code.
"""

from __future__ import annotations

from pathlib import Path

from engine.agents.base import Invocation, Preset, parse_by_exit_code
from engine.config.model import AgentConfig
from engine.errors import MarathonError

INSTALL_HINT = "install the program, or change `command:` to one that exists"


def build(agent: AgentConfig, prompt_file: Path, workdir: Path) -> Invocation:
    if not agent.command:
        raise MarathonError(
            "the command preset needs `command:` (an argument list)", where=f"agents.{agent.name}"
        )
    return Invocation(argv=tuple(agent.command), prompt_on_stdin=True)


PRESET = Preset(
    name="command", binary="", install_hint=INSTALL_HINT, build=build, parse=parse_by_exit_code
)
