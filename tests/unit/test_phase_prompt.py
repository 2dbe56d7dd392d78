"""A phase's prompt is rendered once per run: the up-to-date check, the run and the stamp ask
for the same text, and it is made again only when what it is made from changes (issue 18)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine import prompts
from engine.compile import PhaseTask
from engine.config.load import parse_pipeline
from engine.issue import Issue
from engine.run import phase
from engine.run.runtime import Runtime

PIPELINE = """\
agents:
  bot: {preset: standin}
phases:
  plan: {agent: bot, prompt: plan.md.j2, writes: [".marathon/plans/{id}.md"]}
  code: {after: [plan], agent: bot, prompt: code.md.j2, writes: ["src/**"]}
"""


def test_the_same_prompt_is_rendered_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    pipeline = parse_pipeline(PIPELINE, path=tmp_path / "marathon.yaml", root=tmp_path)
    rt = Runtime(pipeline, records=None)  # type: ignore[arg-type]
    issue = Issue(id="PROJ-1", title="Add a thing", description="details", state="started")
    code = PhaseTask(pipeline, issue, pipeline.phases["code"])
    renders: list[str] = []
    real = prompts.render

    def counted(*args: object) -> str:
        renders.append(str(args[1]))
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(prompts, "render", counted)
    first = phase.render_prompt(code, rt)
    assert phase.render_prompt(code, rt) == first and phase.render_prompt(code, rt) == first
    assert renders == ["code.md.j2"]

    # The plan it is made from changes: rendered again, with the new plan in it.
    plans = pipeline.state_dir / "plans"
    plans.mkdir(parents=True)
    (plans / "PROJ-1.md").write_text("1. do the thing\n")
    second = phase.render_prompt(code, rt)
    assert second != first and "1. do the thing" in second  # type: ignore[operator]
    assert renders == ["code.md.j2", "code.md.j2"]
    # Another issue, or a fix's failures, are other prompts.
    other = PhaseTask(pipeline, Issue(id="PROJ-2", title="t", state="started"), code.phase)
    phase.render_prompt(other, rt)
    phase.render_prompt(code, rt, {"failures": []})
    assert len(renders) == 4
