"""Render the marathon.yaml for what was detected, on the shape of the shipped default
pipeline: its phases (order, after:, agents, prompts, timeouts) come from that file, so a phase
added there appears here too; only the checks and the agent phases' reads and writes are the
project's own. The text explains itself: what was found, from which file, and what was left
out and why."""

from __future__ import annotations

import json
import os
import re
import textwrap
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from engine.config.load import CONFIG_NAME, default_config_path, parse_pipeline, schema
from engine.errors import MarathonError
from engine.setup.model import DetectedCheck, Detection
from engine.setup.probe import CANNOT_START, FAILS, NOT_RUN, Outcome

# The agent phases of the default pipeline, by name, and the write set each one gets.
CODE, TEST, QA = "code", "test", "qa"
# CODE may touch what an issue commonly needs besides code: manifests (per ecosystem) and docs.
DOCS = ("*.md", "docs/**")
STATE = ".marathon/"
_PLAIN = re.compile(r"[A-Za-z][\w.\- /]*")
_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:")


def ok_exit_codes_supported() -> bool:
    """Whether this engine's loader accepts `ok_exit_codes:` on a check."""
    check = schema().get("$defs", {}).get("check", {}).get("properties", {})
    return "ok_exit_codes" in check


def schema_reference(root: Path) -> str:
    """The installed schema, as a path an editor resolves from the project: relative when the
    engine is installed inside it (a .venv), absolute otherwise."""
    path = Path(str(resources.files("engine.config").joinpath("marathon.schema.json"))).resolve()
    try:
        return (
            os.path.relpath(path, root.resolve())
            if path.is_relative_to(root.resolve())
            else str(path)
        )
    except ValueError:
        return str(path)


def render(
    root: Path,
    detections: Sequence[Detection],
    outcomes: Mapping[str, Outcome],
    *,
    ok_codes_supported: bool,
    base: str | None = None,
) -> str:
    """The file for `detections`. `base` is the pipeline whose settings and phases it keeps
    (the project's own marathon.yaml on --refresh, so its tracker, agents and phases survive
    and only what detection decides changes); the shipped default otherwise."""
    default_text = base if base is not None else default_config_path().read_text("utf-8")
    default = _mapping(default_text)
    checks = [c for d in detections for c in d.checks]
    left_out = {c.name: _why_left_out(outcomes.get(c.name), c, ok_codes_supported) for c in checks}
    live = [c for c in checks if not left_out[c.name]]
    lines = _header(root, detections)
    for key, block in _top_blocks(default_text):
        if key not in ("checks", "phases"):
            lines += block
    lines += _checks(checks, outcomes, left_out, ok_codes_supported)
    lines += _phases(default.get("phases") or {}, detections, [c.name for c in live])
    return "\n".join(lines) + "\n"


def _mapping(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("phases"), dict):
        raise MarathonError(
            f"{CONFIG_NAME}: not a pipeline setup can refresh (no phases: mapping); fix it,"
            " or move it away and run setup without --refresh"
        )
    return data


def validate(root: Path, text: str) -> None:
    """The loader's own verdict on the text (raises MarathonError): setup never writes a file
    that `doit` would refuse."""
    parse_pipeline(text, path=root / CONFIG_NAME, root=root)


def _header(root: Path, detections: Sequence[Detection]) -> list[str]:
    lines = [
        f"# yaml-language-server: $schema={schema_reference(root)}",
        "# Written by `python -m engine setup` from what it found in this project; edit it freely.",
        "# `python -m engine setup --refresh` (or `doit setup --refresh`) detects again and shows",
        "# the difference before changing anything.",
    ]
    if not detections:
        lines += [
            "# Nothing detected (no pyproject.toml, package.json, go.mod or Cargo.toml): no",
            "# checks, and CODE may write anywhere. Run setup again once the project has a layout.",
        ]
    for d in detections:
        lines += _comment(f"Detected: {d.summary}", "")
        for c in d.checks:
            lines += _comment(f"{c.because} -> check {c.name}", "  ")
        for note in d.notes:
            lines += _comment(f"left out: {note}", "  ")
    return [*lines, ""]


def _comment(text: str, indent: str) -> list[str]:
    """A comment wrapped to the project's usual 100 columns."""
    return textwrap.wrap(
        text, width=99, initial_indent=f"# {indent}", subsequent_indent=f"# {indent}    "
    )


def _top_blocks(text: str) -> list[tuple[str, list[str]]]:
    """The default file cut into its top-level keys, each with its own lines and comments;
    the comment header before the first key is the template's, not the project's."""
    blocks: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        match = _TOP_KEY.match(line)
        if match:
            blocks.append((match.group(1), [line]))
        elif blocks:
            blocks[-1][1].append(line)
    return blocks


def _checks(
    checks: Sequence[DetectedCheck],
    outcomes: Mapping[str, Outcome],
    left_out: Mapping[str, str],
    ok_codes_supported: bool,
) -> list[str]:
    if not checks:
        return ["checks: {}               # none detected; add `name: {command: ...}` entries", ""]
    live = [c for c in checks if not left_out[c.name]]
    lines = [
        "checks:                  # read-only checks run in parallel (doit -n 4 verify)"
        if live
        else "checks: {}  # every detected check is left out below; uncommenting one, drop the {}"
    ]
    for check in checks:
        outcome = outcomes.get(check.name)
        block = [
            f"{check.name}:",
            f"  command: {_flow(check.shown)}",
            f"  reads: {_flow(list(check.reads))}",
            f"  doc: {_flow(check.doc)}",
        ]
        if check.ok_exit_codes != (0,):
            codes = f"ok_exit_codes: {_flow(list(check.ok_exit_codes))}"
            if ok_codes_supported:
                block.append(f"  {codes}  # {check.ok_why}")
            else:
                block.append(
                    f"  # {codes}  ({check.ok_why}; this engine does not know the key yet)"
                )
        if left_out[check.name]:
            lines.append(f"  # {check.name}: left out, {left_out[check.name]};")
            lines.append("  # uncomment it once it does. Detected from " + check.because)
            lines += [f"  # {line}" for line in block]
            continue
        if outcome is not None and outcome.status == FAILS:
            lines.append(f"  # failed when setup ran it: {outcome.why}")
        lines += [f"  {line}" for line in block]
    return [*lines, ""]


def _why_left_out(outcome: Outcome | None, check: DetectedCheck, ok_codes_supported: bool) -> str:
    """Why a check is written as a comment, or "" for a live one."""
    if outcome is not None and outcome.status == CANNOT_START:
        return f"it cannot start ({outcome.why})"
    if outcome is not None and outcome.held:
        return outcome.why
    not_run = outcome is None or outcome.status == NOT_RUN
    if not_run and check.ok_exit_codes != (0,) and not ok_codes_supported:
        return f"{check.ok_why}, and this engine counts that as a failure"
    return ""


def _phases(
    default: Mapping[str, Any], detections: Sequence[Detection], live_checks: Sequence[str]
) -> list[str]:
    source = _union(d.source for d in detections)
    writes = {
        CODE: _union(d.code_writes for d in detections) + list(DOCS) if detections else ["**"],
        TEST: _union(d.test_writes for d in detections),
        QA: _union(d.e2e_writes for d in detections),
    }
    dropped = {name for name, spec in default.items() if "checks" in spec and not live_checks}
    lines = ["phases:"]
    for name, spec in default.items():
        if name in dropped:
            lines.append(f"  # {name}: a gate on the checks, left out: there are none yet")
            continue
        lines.append(f"  {name}:")
        for key, value in spec.items():
            if key == "after":
                value = _rewired(default, list(value), dropped)
            elif key == "checks" and value != "all":
                value = [c for c in value if c in live_checks] or "all"
            elif key == "reads" and detections:
                value = [v for v in value if str(v).startswith(STATE)] + source
            elif key == "writes" and name in writes and writes[name]:
                value = writes[name]
            if isinstance(value, Mapping):  # a block (a gate's fix:), as people write it
                lines.append(f"    {key}:")
                lines += [f"      {k}: {_flow(v)}" for k, v in value.items()]
            else:
                lines.append(f"    {key}: {_flow(value)}")
    return lines


def _rewired(default: Mapping[str, Any], after: list[str], dropped: set[str]) -> list[str]:
    """A dropped phase's place in after: goes to the phases it came after itself."""
    out: list[str] = []
    for name in after:
        found = (
            _rewired(default, list(default[name].get("after", [])), dropped)
            if name in dropped
            else [name]
        )
        out += [n for n in found if n not in out]
    return out


def _union(groups: Any) -> list[str]:
    return list(dict.fromkeys(g for group in groups for g in group))


def _flow(value: Any) -> str:
    """A YAML value on one line; JSON is YAML, and quoting every string keeps `*`, `:` and
    `{id}` from meaning anything to the YAML parser."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and _PLAIN.fullmatch(value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value)
