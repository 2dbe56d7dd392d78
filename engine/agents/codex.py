"""OpenAI Codex CLI: `codex exec --json --sandbox workspace-write -C <workdir> -`.

What the parser relies on (openai/codex docs/exec.md and codex-rs/exec/src/exec_events.rs;
checked against codex-cli 0.169.0):
- `--json` prints JSONL events: `thread.started` (`thread_id`), `turn.started`,
  `item.started` / `item.updated` / `item.completed` (`item.type` such as `agent_message` with
  `text`), `turn.completed` (`usage`: `input_tokens`, `cached_input_tokens`, `output_tokens`),
  `turn.failed` (`error.message`) and `error` (`message`).
- `input_tokens` already includes `cached_input_tokens` (the cached part is a subset).
- A top-level `error` event is not always fatal: while the model stream reconnects, codex emits
  `error` events such as "Reconnecting... 2/5" and the turn still completes (openai/codex issue
  #32984). So an `error` counts as a failure only when no `turn.completed` follows it.
- without a network, codex never exits: after "Reconnecting... 5/5" it prints
  `{"type":"error","message":"Reconnecting... waiting for network (...)"}` every few seconds,
  until the runner's timeout kills it. The runner then parses the cut-short stream (with exit
  status 0), which ends on those errors and has no `turn.completed`.
- `item.completed` events whose item has `type: error` are warnings ("Model metadata for ...
  not found", "Falling back from WebSockets to HTTPS transport"), not failures.
- stderr carries log lines (`WARNING: proceeding, even though ...`, `<timestamp> ERROR
  codex_api::...`), which the parser skips. `Reading prompt from stdin...` is printed only when
  no prompt argument is given at all, not for `-`.
- A `command_execution` item whose `status` is `declined` is a command the sandbox or the
  approval policy refused; those are reported as permission denials.
- Codex reports no cost, so `cost_usd` stays None.
The prompt: `codex exec [PROMPT]` reads the instructions from stdin when PROMPT is `-` (cli.rs:
"If not provided as an argument (or if `-` is used), instructions are read from stdin"). Stdin
keeps issue text out of argv, so it is neither length-limited nor visible in `ps`. (With the
prompt in argv, stdin would have to be /dev/null: piped stdin is appended to an argv prompt.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.agents.base import AgentResult, Invocation, Preset
from engine.agents.jsonlines import as_int, json_objects, last_line, last_text_line
from engine.agents.settings import extra_args, option_str
from engine.config.model import AgentConfig

INSTALL_HINT = "install it with `npm install -g @openai/codex` (or `brew install --cask codex`)"


def build(agent: AgentConfig, prompt_file: Path, workdir: Path) -> Invocation:
    sandbox = option_str(agent, "sandbox", "workspace-write")
    argv = ["codex", "exec", "--json", "--sandbox", sandbox, "-C", str(workdir)]
    if agent.model:
        argv += ["-m", agent.model]
    # codex exec has no turn limit flag; max_turns is left to the runner's timeout.
    argv += extra_args(agent)
    argv.append("-")
    return Invocation(argv=tuple(argv), prompt_on_stdin=True)


def parse(exit_code: int, output: str) -> AgentResult:
    events = [e for e in json_objects(output) if isinstance(e.get("type"), str)]
    session_id = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    turns = 0
    summary = ""
    failure = ""  # the latest error not yet followed by a completed turn
    repeats = 0  # how many times in a row codex printed that error
    turn_failed = ""
    declined: list[str] = []
    for event in events:
        kind = event["type"]
        if kind == "thread.started" and isinstance(event.get("thread_id"), str):
            session_id = event["thread_id"]
        elif kind == "turn.completed":
            turns += 1
            failure = ""
            usage = event.get("usage") if isinstance(event.get("usage"), dict) else {}
            input_tokens = _add(input_tokens, as_int(usage.get("input_tokens")))
            output_tokens = _add(output_tokens, as_int(usage.get("output_tokens")))
        elif kind == "turn.failed":
            error = event.get("error") if isinstance(event.get("error"), dict) else {}
            turn_failed = str(error.get("message") or "no message")
        elif kind == "error":
            message = str(event.get("message") or "no message")
            repeats = repeats + 1 if message == failure else 1
            failure = message
        elif kind == "item.completed":
            item = event.get("item") if isinstance(event.get("item"), dict) else {}
            if item.get("type") == "agent_message" and isinstance(item.get("text"), str):
                summary = item["text"]
            elif item.get("type") == "command_execution" and item.get("status") == "declined":
                command = str(item.get("command") or "")
                if len(command) > 80:
                    command = command[:77] + "..."
                declined.append(f"command({command})")

    fields: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "turns": turns if events else None,
        "session_id": session_id,
        "permission_denials": tuple(declined),
        "summary": summary,
    }
    if turn_failed:
        error = f"codex turn failed: {last_line(turn_failed)}"
    elif failure and exit_code == 0:
        # Exit 0 after an error and no completed turn is not how codex ends a run: the output
        # was cut short (the runner's timeout), typically while codex kept reconnecting.
        again = f" ({repeats} times in a row)" if repeats > 1 else ""
        error = (
            "codex's output ended before its turn completed (the run was cut short?); "
            f"last error: {last_line(failure, 160)}{again}"
        )
    elif failure:
        error = f"codex reported an error: {last_line(failure)}"
    elif exit_code != 0:
        tail = last_text_line(output)
        error = f"codex exited with status {exit_code}" + (f": {tail}" if tail else "")
    elif not events:
        tail = last_text_line(output)
        error = "codex printed no JSON events (expected `codex exec --json` output)"
        error += f"; last line: {tail}" if tail else ""
    elif turns == 0:
        error = "codex's output ended without `turn.completed` (the run was cut short?)"
    else:
        return AgentResult(ok=True, **fields)
    if exit_code != 0 and "exited with status" not in error:
        error += f" (exit status {exit_code})"
    return AgentResult(ok=False, error=error, **fields)


def _add(total: int | None, value: int | None) -> int | None:
    if value is None:
        return total
    return value if total is None else total + value


PRESET = Preset(
    name="codex",
    binary="codex",
    install_hint=INSTALL_HINT,
    build=build,
    parse=parse,
    env=("OPENAI_*", "CODEX_*", "AZURE_OPENAI_*"),
    home=(".codex",),
)
