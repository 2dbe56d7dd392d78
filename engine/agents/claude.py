"""Claude Code in print mode: `claude -p --output-format stream-json --verbose`.

What the parser relies on (Claude Code headless docs and the Agent SDK's SDKResultMessage;
checked against claude-code 2.1.197):
- stream-json prints one JSON message per line: `system` (subtype `init`, with `session_id`),
  `assistant`, `user`, and last a `result` message. stream-json in print mode requires
  `--verbose` (the CLI exits 1 without it).
- while the API is unreachable, `system` messages with subtype `api_retry` (`attempt`,
  `max_retries`, `retry_delay_ms`, `error`) come before the next `assistant` message, for
  minutes (10 retries); they are not results. A run cut short then ends on them.
- a request that failed before reaching a model (not logged in, API unreachable) is reported
  as an `assistant` message with `"model": "<synthetic>"`, a top-level `error` (such as
  `authentication_failed` or `server_error`) and the text as content, then a `result` with
  `subtype: success`, `is_error: true`, the text in `result` and no `errors`; exit status 1.
- the `result` message carries `subtype` (`success`, `error_max_turns`,
  `error_during_execution`, `error_max_budget_usd` ...), `is_error`, `result` (final text, on
  success), `errors` (list of strings, on error subtypes in newer versions), `num_turns`,
  `session_id`, `total_cost_usd` (older versions: `cost_usd`), `usage` (`input_tokens`,
  `output_tokens`, `cache_creation_input_tokens`, `cache_read_input_tokens`) and
  `permission_denials` (objects with `tool_name`, `tool_use_id`, `tool_input`).
- `--output-format json` prints the `result` message alone, or in some versions a JSON array of
  all messages; both are accepted.
The prompt goes on stdin: `-p` with no prompt argument reads it from there, which keeps issue
text out of argv (no length limit, never visible in `ps`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.agents.base import AgentResult, Invocation, Preset
from engine.agents.jsonlines import (
    as_float,
    as_int,
    json_objects,
    last_line,
    last_text_line,
)
from engine.agents.settings import extra_args, option_list, option_str
from engine.config.model import AgentConfig

INSTALL_HINT = "install it with `npm install -g @anthropic-ai/claude-code`"


def build(agent: AgentConfig, prompt_file: Path, workdir: Path) -> Invocation:
    argv = ["claude", "-p", "--output-format", "stream-json", "--verbose"]
    if agent.model:
        argv += ["--model", agent.model]
    if agent.max_turns is not None:
        argv += ["--max-turns", str(agent.max_turns)]
    # Print mode refuses file edits unless a permission mode or rule allows them, which would
    # leave a writing phase with an empty diff; acceptEdits allows edits and nothing more
    # (shell commands still need allowed_tools). `options.permission_mode` overrides it.
    argv += ["--permission-mode", option_str(agent, "permission_mode", "acceptEdits")]
    system_prompt = option_str(agent, "append_system_prompt")
    if system_prompt:
        argv += ["--append-system-prompt", system_prompt]
    argv += extra_args(agent)
    # The tool lists are variadic flags: each rule is its own argv element (a rule such as
    # `Bash(git diff:*)` contains a space, so joining them into one string would split it).
    # They come last so nothing after them can be mistaken for another rule.
    allowed = option_list(agent, "allowed_tools")
    if allowed:
        argv += ["--allowedTools", *allowed]
    disallowed = option_list(agent, "disallowed_tools")
    if disallowed:
        argv += ["--disallowedTools", *disallowed]
    return Invocation(argv=tuple(argv), prompt_on_stdin=True)


# What to do about an `error` the CLI puts on an assistant message, keyed by that error.
_ERROR_HINTS = {
    "authentication_failed": "log in with `claude` then /login, or set ANTHROPIC_API_KEY",
}

_SUBTYPE_ERRORS = {
    "error_max_turns": "claude stopped at its turn limit (error_max_turns); raise max_turns "
    "or make the task smaller",
    "error_max_budget_usd": "claude stopped at its budget limit (error_max_budget_usd)",
    "error_during_execution": "claude failed during execution (error_during_execution)",
}


def parse(exit_code: int, output: str) -> AgentResult:
    messages = json_objects(output)
    result = next((m for m in reversed(messages) if m.get("type") == "result"), None)
    if result is None:
        return AgentResult(
            ok=False,
            error=_no_result_error(exit_code, output, messages),
            session_id=_session_id(messages, None),
        )

    usage = result.get("usage") if isinstance(result.get("usage"), dict) else {}
    denials = _denials(result.get("permission_denials"))
    subtype = str(result.get("subtype", ""))
    is_error = result.get("is_error") is not False  # a missing flag is not a success
    text = result.get("result") if isinstance(result.get("result"), str) else ""
    fields: dict[str, Any] = {
        "cost_usd": as_float(result.get("total_cost_usd", result.get("cost_usd"))),
        "input_tokens": _input_tokens(usage),
        "output_tokens": as_int(usage.get("output_tokens")),
        "turns": as_int(result.get("num_turns")),
        "session_id": _session_id(messages, result),
        "permission_denials": denials,
        "summary": text,
    }
    if exit_code == 0 and subtype == "success" and not is_error:
        return AgentResult(ok=True, **fields)

    if subtype in _SUBTYPE_ERRORS:
        error = _SUBTYPE_ERRORS[subtype]
        turns = fields["turns"]
        if subtype == "error_max_turns" and turns is not None:
            error = f"claude stopped at its turn limit after {turns} turns (error_max_turns); "
            error += "raise max_turns or make the task smaller"
        detail = _first_error(result)
        if detail:
            error += f": {detail}"
    elif is_error:
        error = f"claude reported an error: {last_line(text) or subtype or 'no message'}"
    else:
        error = f"claude exited with status {exit_code} after a {subtype or 'result'} message"
    if exit_code != 0 and "exited with status" not in error:
        error += f" (exit status {exit_code})"
    hint = _hint(messages)
    if hint:
        error += f"; {hint}"
    if denials:
        error += f"; {len(denials)} permission denial(s): {', '.join(denials[:3])}"
    transient = _is_transient(result, text, messages)
    return AgentResult(ok=False, error=error, transient=transient, **fields)


# HTTP statuses the Anthropic API documents as worth retrying: 429 rate limited, 500 and 529
# overloaded (and the gateway errors in between); plus the CLI's own text for them, and for
# an API it could not reach at all (it has retried 10 times by then).
_TRANSIENT_STATUSES = {429, 500, 502, 503, 504, 529}
_TRANSIENT_TEXT = ("overloaded", "rate_limit", "rate limit", "unable to connect to api")


def _is_transient(result: dict[str, Any], text: str, messages: list[dict[str, Any]]) -> bool:
    status = as_int(result.get("api_error_status"))
    if status in _TRANSIENT_STATUSES:
        return True
    said = " ".join([text, *(str(e) for e in result.get("errors") or [])]).lower()
    if any(marker in said for marker in _TRANSIENT_TEXT) or "api error: 5" in said:
        return True
    return "api error: 429" in said


def _no_result_error(exit_code: int, output: str, messages: list[dict[str, Any]]) -> str:
    stream_errors = [m for m in messages if m.get("type") == "error"]
    if stream_errors:
        message = stream_errors[-1].get("message") or stream_errors[-1].get("error") or ""
        return f"claude reported an error: {last_line(str(message)) or 'no message'}"
    tail = last_text_line(output)
    retrying = _retrying(messages)
    if exit_code != 0:
        error = f"claude exited with status {exit_code}" + (f": {tail}" if tail else "")
        return error + (f"; {retrying}" if retrying else "")
    if not messages:
        return (
            "claude printed no stream-json messages (expected `claude -p --output-format "
            "stream-json --verbose`)" + (f"; last line: {tail}" if tail else "")
        )
    error = "claude's output ended without a final `result` message (the run was cut short?)"
    return error + (f"; {retrying}" if retrying else "")


def _retrying(messages: list[dict[str, Any]]) -> str:
    """What the last `api_retry` message says, when the stream ends while the CLI retries."""
    if not messages or messages[-1].get("subtype") != "api_retry":
        return ""
    last = messages[-1]
    attempt, limit = as_int(last.get("attempt")), as_int(last.get("max_retries"))
    status = last.get("error_status")
    reason = str(last.get("error") or "unknown") + (f", status {status}" if status else "")
    count = f" {attempt}/{limit}" if attempt is not None and limit is not None else ""
    return f"it was retrying the API (attempt{count}, error: {reason})"


def _hint(messages: list[dict[str, Any]]) -> str:
    """The hint for the last error the CLI put on an assistant message (not logged in ...)."""
    for message in reversed(messages):
        if message.get("type") == "assistant" and isinstance(message.get("error"), str):
            return _ERROR_HINTS.get(message["error"], "")
    return ""


def _session_id(messages: list[dict[str, Any]], result: dict[str, Any] | None) -> str:
    if result is not None and isinstance(result.get("session_id"), str):
        return str(result["session_id"])
    for message in messages:
        if message.get("type") == "system" and isinstance(message.get("session_id"), str):
            return str(message["session_id"])
    return ""


def _input_tokens(usage: dict[str, Any]) -> int | None:
    # With prompt caching, `input_tokens` counts only the uncached part; the cache reads and
    # writes are input the model processed too, so they are added to give the real volume.
    parts = [
        as_int(usage.get(key))
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    if parts[0] is None:
        return None
    return sum(part for part in parts if part is not None)


def _first_error(result: dict[str, Any]) -> str:
    errors = result.get("errors")
    if isinstance(errors, list) and errors:
        return last_line(str(errors[0]))
    return ""


def _denials(value: Any) -> tuple[str, ...]:
    """`Tool(target)` for each denial: what was refused, short enough for one line."""
    if not isinstance(value, list):
        return ()
    denials: list[str] = []
    for item in value:
        if not isinstance(item, dict):
            continue
        name = str(item.get("tool_name") or "tool")
        tool_input = item.get("tool_input") if isinstance(item.get("tool_input"), dict) else {}
        key = next(
            (
                key
                for key in ("file_path", "path", "command", "url", "pattern")
                if isinstance(tool_input.get(key), str)
            ),
            "",
        )
        target = str(tool_input[key]) if key else ""
        if len(target) > 80:
            # A path's informative part is its end (the file name); a command's is its start.
            path_like = key in ("file_path", "path")
            target = "..." + target[-77:] if path_like else target[:77] + "..."
        denials.append(f"{name}({target})" if target else name)
    return tuple(denials)


PRESET = Preset(
    name="claude",
    binary="claude",
    install_hint=INSTALL_HINT,
    build=build,
    parse=parse,
    # ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL ..., CLAUDE_CODE_* settings, and the cloud
    # providers' switches and credentials Claude Code documents (Bedrock, Vertex).
    env=("ANTHROPIC_*", "CLAUDE_*", "DISABLE_*", "AWS_*", "CLOUD_ML_REGION", "GOOGLE_*"),
    home=(".claude", ".claude.json", ".config/claude"),
)
