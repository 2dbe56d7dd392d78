"""aider in scripting mode: `aider --message-file <prompt> --yes-always --no-auto-commits`.

Flags used (aider's options reference, aider.chat/docs/config/options.html; checked against
aider 0.86.2):
- `--message-file`: send the file's text as one message, apply the edits, exit.
- `--yes-always`: answer every confirmation with yes (nobody is there to answer).
- `--no-auto-commits` and `--no-dirty-commits`: agents never commit; the engine commits the
  phase's write set itself (dirty commits would otherwise commit files that were already
  modified before aider edits them).
- `--no-gitignore`: aider would otherwise add `.aider*` to .gitignore, a write outside the
  phase's write set.
- `--input-history-file` / `--chat-history-file` sent to the null device for the same reason;
  the transcript is in the phase log anyway.
- `--no-pretty`, `--no-stream`, `--no-check-update`: plain log output and no network traffic
  beyond the model.
- `--no-analytics`: no analytics for this run. (`--analytics-disable` writes the choice to
  ~/.aider for good and prints "Analytics have been permanently disabled." on every run.)
- `--no-show-release-notes`: on the first run of a new version aider offers to open the
  release notes, and `--yes-always` would accept, i.e. start a web browser.
aider still writes its repo-map cache `.aider.tags.cache.v4/` into the repository root: the
preset's `scratch` patterns (`/.aider.tags.cache.v*/` ...) tell the runner it is the tool's
state, not a write.

What the parser relies on (aider 0.86.2, aider/coders/base_coder.py and aider/exceptions.py):
- the `--message-file` run exits 0 even when the model call failed (no API key, no network):
  aider prints the litellm exception (`litellm.AuthenticationError: ...`, wrapped at 80
  columns) and then, for most exceptions, a one-line explanation ("The API provider is not
  able to authenticate you. Check your API key."); retried ones are followed by "Retrying in
  N seconds...". Everything goes to stdout.
- each successful model reply ends with a usage line `Tokens: 1.2k sent, 85 received. ...`.
So with exit 0, a `litellm.<Name>Error` / `Exception` / `Timeout` line after the last `Tokens:
... sent` line (or with no such line at all) is a failed run. Otherwise success comes from the
exit code, and the runner checks the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from engine.agents.base import AgentResult, Invocation, Preset, parse_by_exit_code
from engine.agents.jsonlines import shorten, strip_ansi
from engine.agents.settings import extra_args
from engine.config.model import AgentConfig

INSTALL_HINT = "install it with `python -m pip install aider-install && aider-install`"

# Files aider keeps as its own state in the repository root (repo-map cache, and the history
# files if a user's extra_args turn them back on). Exact root paths: a user's own
# `.aiderignore` or `.aider.conf.yml` is work like any other file.
SCRATCH = ("/.aider.tags.cache.v*/", "/.aider.chat.history.md", "/.aider.input.history")

_LITELLM_ERROR = re.compile(r"^litellm\.(?:\w*(?:Error|Exception)|Timeout)\b")
_TOKENS = re.compile(r"^Tokens: .* sent\b")
_RETRYING = re.compile(r"^Retrying in [\d.]+ seconds")


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
        "--no-analytics",
        "--no-show-release-notes",
    ]
    if agent.model:
        argv += ["--model", agent.model]
    argv += extra_args(agent)
    return Invocation(argv=tuple(argv), prompt_on_stdin=False)


def parse(exit_code: int, output: str) -> AgentResult:
    model_error = _model_error(output)
    if exit_code == 0 and model_error:
        return AgentResult(ok=False, error=f"aider's model call failed: {model_error}")
    if exit_code != 0 and model_error:
        return AgentResult(ok=False, error=f"aider exited with status {exit_code}: {model_error}")
    return parse_by_exit_code(exit_code, output, name="aider")


def _model_error(output: str) -> str:
    """The last litellm exception aider printed after its last usage line, with the
    explanation line aider prints under it; "" when the last model call succeeded."""
    lines = [line.rstrip() for line in strip_ansi(output).splitlines()]
    start = next(
        (i for i in range(len(lines) - 1, -1, -1) if _TOKENS.match(lines[i])),
        -1,
    )
    found = [i for i in range(start + 1, len(lines)) if _LITELLM_ERROR.match(lines[i])]
    if not found:
        return ""
    # The exception text, wrapped at 80 columns, runs until a blank line, a retry notice or
    # the next exception; when it has more than one line, the last is aider's explanation.
    block: list[str] = []
    for line in lines[found[-1] :]:
        if block and (not line.strip() or _RETRYING.match(line) or _LITELLM_ERROR.match(line)):
            break
        block.append(line.strip())
    if len(block) == 1:
        return shorten(block[0])
    message, explanation = " ".join(block[:-1]), block[-1]
    return f"{shorten(message, 160)} ({shorten(explanation, 120)})"


PRESET = Preset(
    name="aider",
    binary="aider",
    install_hint=INSTALL_HINT,
    build=build,
    parse=parse,
    scratch=SCRATCH,
    # aider's own settings, and the model providers' keys it reads (through litellm).
    env=(
        "AIDER_*",
        "OPENAI_*",
        "ANTHROPIC_*",
        "GEMINI_API_KEY",
        "DEEPSEEK_API_KEY",
        "OPENROUTER_API_KEY",
        "GROQ_API_KEY",
        "MISTRAL_API_KEY",
        "XAI_API_KEY",
        "COHERE_API_KEY",
        "AZURE_API_*",
        "OLLAMA_API_BASE",
    ),
    home=(".aider.conf.yml", ".aider"),
)
