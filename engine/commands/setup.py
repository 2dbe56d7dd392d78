"""`python -m engine setup` and `doit setup`: detect the project, run each check once, print
what happened, and write the workspace files (marathon.yaml, dodo.py, doit.cfg).

Imports stay inside the function: `doit` loads engine.tasks (which names this module) on every
call, and detection is needed only when setup runs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

NOT_A_REPO = (
    "note: {root} is not a git repository: marathon-engine then runs every issue in this folder"
    " (no worktrees, so no issues side by side) and commits nothing, so there is no record of"
    " each phase's work to resume from or review."
)


def run_setup(
    root: Path,
    *,
    out: TextIO,
    dry_run: bool = False,
    refresh: bool = False,
    run_checks: bool = True,
    git_init: bool = False,
    ask: Callable[[str], bool] | None = None,
) -> int:
    """0 when the files are written (or would be, with dry_run); 2 for a folder that is not."""
    from engine.config.load import CONFIG_NAME
    from engine.errors import MarathonError
    from engine.git.repo import is_repo
    from engine.setup.detect import detect_project
    from engine.setup.probe import NOT_RUN, Outcome, probe
    from engine.setup.write import ok_exit_codes_supported, render, validate
    from engine.workspace import RANKED_RUN, ranked_run_selected, write_entry_files

    if not root.is_dir():
        raise MarathonError(f"{root}: not a folder; create it first")
    root = root.resolve()
    detections = detect_project(root)
    checks = [c for d in detections for c in d.checks]
    supported = ok_exit_codes_supported()
    if run_checks and checks:
        print(f"running {len(checks)} detected checks once in {root} ...", file=out, flush=True)
        outcomes = probe(root, checks, ok_codes_supported=supported)
    else:
        outcomes = [Outcome(c.name, NOT_RUN) for c in checks]
    by_name = {o.check: o for o in outcomes}
    config = root / CONFIG_NAME
    old = config.read_text(encoding="utf-8") if config.is_file() else None
    base = old if refresh else None  # a refresh keeps the project's tracker, agents and phases
    text = render(root, detections, by_name, ok_codes_supported=supported, base=base)
    if base is not None:
        validate(root, base)  # the project's own file first: its problem is theirs to fix
    try:
        validate(root, text)
    except MarathonError as exc:  # a detection bug, not the user's input
        raise MarathonError(
            f"setup made a marathon.yaml the loader refuses ({exc.one_line()}); please report it"
            " with the project's layout",
            exit_code=1,
        ) from None

    print_summary(detections, outcomes, out)
    if dry_run:
        if old is not None and refresh:
            _print_diff(old, text, config, out)
        else:
            out.write(f"--- {config} (dry run: nothing written) ---\n{text}")
        _git_note(root, is_repo(root), offer=False, out=out)
        return 0
    if old is not None and not refresh:
        out.write(
            f"{config} exists and was kept; `--refresh` shows what setup would change"
            " (with --dry-run, without writing)\n"
        )
    elif old is not None and old == text:
        out.write(f"{config} is up to date with what setup detects\n")
    elif old is not None:
        _print_diff(old, text, config, out)
        config.write_text(text, encoding="utf-8")
        out.write(f"rewrote {config}\n")
    if not git_init and not is_repo(root) and ask is not None:
        _git_note(root, False, offer=False, out=out)
        git_init = ask(f"run `git init` in {root}?")
        if not git_init:
            out.write("  not now: `git init` (or setup with --git-init) makes it one later\n")
    if git_init and not is_repo(root):
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        out.write(f"ran git init in {root}\n")
    for path in write_entry_files(root, text):
        out.write(f"wrote {path}\n")
    if not ranked_run_selected(root):
        out.write(
            f"note: {root / 'doit.cfg'} does not select the ranked run: add the line "
            f"`run = {RANKED_RUN}` to its [COMMAND] section (make the section if it has none), "
            "so ready tasks on the critical path start first\n"
        )
    if ask is None or git_init:  # when asked and declined, the note was shown already
        _git_note(root, is_repo(root), offer=True, out=out)
    out.write("next: read marathon.yaml (agents, checks), then `doit init --spec SPEC --dry-run`\n")
    return 0


def print_summary(detections: list, outcomes: list, out: TextIO) -> None:
    if not detections:
        out.write("detected: nothing (no pyproject.toml, package.json, go.mod or Cargo.toml)\n")
    for d in detections:
        out.write(f"detected: {d.summary}\n")
        out.write("".join(f"  left out: {note}\n" for note in d.notes))
    if not outcomes:
        return
    ran = any(o.status != "not run" for o in outcomes)
    out.write("each check, run once:\n" if ran else "checks (not run):\n")
    commands = {c.name: c.shown for d in detections for c in d.checks}
    rows = [(o.check, o.status, commands[o.check], o.why) for o in outcomes]
    widths = [max(len(r[i]) for r in [("check", "result", "command", ""), *rows]) for i in range(3)]
    head = ("check", "result", "command", "why")
    for row in (head, *rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:3])]
        out.write(("  " + "  ".join(cells) + "  " + row[3]).rstrip() + "\n")


def _print_diff(old: str, new: str, config: Path, out: TextIO) -> None:
    import difflib

    diff = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"{config} (now)",
        tofile=f"{config} (detected)",
    )
    text = "".join(diff)
    out.write(text if text else f"{config}: no change\n")


def _git_note(root: Path, repo: bool, *, offer: bool, out: TextIO) -> None:
    if repo:
        return
    out.write(NOT_A_REPO.format(root=root) + "\n")
    if offer:
        out.write(
            f"  make it one with `git init` in {root} (or `python -m engine setup --git-init`)\n"
        )
