"""Google Gemini CLI in headless mode: `gemini -p ... --output-format json`.

What the parser relies on (google-gemini/gemini-cli docs/cli/headless.md and
packages/core/src/output/types.ts; checked against gemini-cli 0.61.0):
- `--output-format json` prints one JSON object: `session_id`, `response` (final answer),
  `stats` and, when the request failed, `error` (`type`, `message`, `code`). The object may be
  pretty-printed over several lines. A failed run prints it on stderr with stdout empty, and
  plain-text lines may precede it ("Approval mode overridden to ...", "Ripgrep is not
  available ...", retry notices with node stack traces): the runner merges both streams, so
  the parser skips what is not JSON.
- `stats.models.<model>.tokens` has `prompt` (all input, cached included), `candidates`
  (output) and `thoughts` (reasoning, billed as output); `stats.tools.byName.<tool>.decisions`
  counts `reject`ed tool calls, which are reported as permission denials.
- exit codes (the FatalError classes): 0 success, 1 general error or API failure, 41
  authentication error, 42 input error, 44 sandbox error, 52 configuration error, 53 turn
  limit exceeded, 54 fatal tool execution error, 55 untrusted workspace, 130 cancelled. The
  untrusted-workspace refusal is plain text on stderr, coloured with escape sequences.
- while the model API is unreachable, the CLI retries for minutes, printing "Attempt N failed.
  Retrying with backoff... Error: ..." before giving up with exit 1; a run cut short by the
  timeout ends on those lines.
The prompt goes on stdin: in headless mode the CLI prepends piped stdin to the `-p` text, so
`-p` only carries a fixed sentence and issue text never reaches argv.
Headless runs strip the write and shell tools unless an approval mode allows them, so the
preset defaults to `--approval-mode auto_edit` (edits allowed, shell not); set
`options.approval_mode: yolo` to allow shell commands too.
Every run gets `GEMINI_CLI_TRUST_WORKSPACE=true` (see `build`) unless the user set it themselves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from engine.agents.base import AgentResult, Invocation, Preset
from engine.agents.jsonlines import as_int, json_objects, last_line, last_text_line, strip_ansi
from engine.agents.settings import extra_args, option_str
from engine.config.model import AgentConfig

INSTALL_HINT = "install it with `npm install -g @google/gemini-cli`"

PROMPT_TAIL = "Carry out the task described above."

EXIT_MEANINGS = {
    1: "general error or API failure",
    41: "authentication error",
    42: "input error (invalid prompt or arguments)",
    44: "sandbox error",
    52: "configuration error",
    53: "turn limit exceeded",
    54: "fatal tool execution error",
    55: "untrusted workspace",
    130: "cancelled",
}

# The engine runs gemini in folders it has never seen (a new worktree per issue). Since the
# folder-trust check, a headless run in an untrusted folder exits 55 (gemini-cli 0.61.0), after
# downgrading the approval mode to "default", which would strip the edit tools anyway. The
# user chose to let the agent work on this repository, so the worktree is trusted for the
# run. The environment variable, not `--skip-trust`: a CLI that predates the flag rejects an
# unknown option, while one that predates the variable ignores it.
TRUST_ENV = {"GEMINI_CLI_TRUST_WORKSPACE": "true"}

_RETRY_NOTICE = re.compile(r"^Attempt \d+ failed\. Retrying with backoff")


def build(agent: AgentConfig, prompt_file: Path, workdir: Path) -> Invocation:
    argv = [
        "gemini",
        "-p",
        PROMPT_TAIL,
        "--output-format",
        "json",
        "--approval-mode",
        option_str(agent, "approval_mode", "auto_edit"),
    ]
    if agent.model:
        argv += ["-m", agent.model]
    # Gemini's turn limit is the `maxSessionTurns` setting, not a flag; exit 53 reports it.
    argv += extra_args(agent)
    return Invocation(argv=tuple(argv), prompt_on_stdin=True, env=dict(TRUST_ENV))


def parse(exit_code: int, output: str) -> AgentResult:
    documents = [
        d for d in json_objects(output) if {"response", "stats", "error", "session_id"} & d.keys()
    ]
    document = documents[-1] if documents else None
    if document is None:
        return AgentResult(
            ok=False, error=_exit_error(exit_code, "", output) or _no_json_error(output)
        )

    stats = document.get("stats") if isinstance(document.get("stats"), dict) else {}
    input_tokens, output_tokens = _tokens(stats)
    response = document.get("response") if isinstance(document.get("response"), str) else ""
    fields: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "session_id": str(document.get("session_id") or ""),
        "permission_denials": _rejections(stats),
        "summary": response,
    }
    error_object = document.get("error") if isinstance(document.get("error"), dict) else None
    message = last_line(str(error_object.get("message") or "")) if error_object else ""
    error = _exit_error(exit_code, message, output)
    if not error and error_object is not None:
        error = f"gemini reported an error: {message or error_object.get('type') or 'unknown'}"
    if error:
        return AgentResult(ok=False, error=error, **fields)
    return AgentResult(ok=True, **fields)


def _exit_error(exit_code: int, message: str, output: str) -> str:
    if exit_code == 0:
        return ""
    meaning = EXIT_MEANINGS.get(exit_code, "unexpected exit status")
    detail = message or last_text_line(output)
    return f"gemini failed: {meaning} (exit {exit_code})" + (f": {detail}" if detail else "")


def _no_json_error(output: str) -> str:
    retries = [line for line in strip_ansi(output).splitlines() if _RETRY_NOTICE.match(line)]
    if retries:
        # Cut short (the runner's timeout) while the CLI was still retrying the model API.
        return (
            "gemini's output ended without a JSON result while it was retrying the model API "
            f"(the run was cut short?): {last_line(retries[-1])}"
        )
    tail = last_text_line(output)
    return "gemini printed no JSON result (expected `gemini -p ... --output-format json`)" + (
        f"; last line: {tail}" if tail else ""
    )


def _tokens(stats: dict[str, Any]) -> tuple[int | None, int | None]:
    models = stats.get("models")
    if not isinstance(models, dict):
        return None, None
    input_total: int | None = None
    output_total: int | None = None
    for model in models.values():
        tokens = model.get("tokens") if isinstance(model, dict) else None
        if not isinstance(tokens, dict):
            continue
        prompt = as_int(tokens.get("prompt"))
        if prompt is not None:
            input_total = (input_total or 0) + prompt
        produced = [as_int(tokens.get(key)) for key in ("candidates", "thoughts")]
        if produced[0] is not None:
            output_total = (output_total or 0) + sum(p for p in produced if p is not None)
    return input_total, output_total


def _rejections(stats: dict[str, Any]) -> tuple[str, ...]:
    tools = stats.get("tools")
    by_name = tools.get("byName") if isinstance(tools, dict) else None
    if not isinstance(by_name, dict):
        return ()
    denials: list[str] = []
    for name, entry in by_name.items():
        decisions = entry.get("decisions") if isinstance(entry, dict) else None
        rejected = as_int(decisions.get("reject")) if isinstance(decisions, dict) else None
        if rejected:
            denials.append(f"{name} (rejected {rejected}x)")
    return tuple(denials)


PRESET = Preset(
    name="gemini",
    binary="gemini",
    install_hint=INSTALL_HINT,
    build=build,
    parse=parse,
    env=(
        "GEMINI_*",
        "GOOGLE_API_KEY",
        "GOOGLE_GENAI_*",
        "GOOGLE_CLOUD_*",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ),
    home=(".gemini",),
)
