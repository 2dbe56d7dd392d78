"""The git pre-push hook that runs the verify checks.

* Where: `core.hooksPath` when set (absolute, `~/...`, or relative to the top of the working
  tree, as git reads it), else the hooks folder of the repository's common git dir (shared by
  all worktrees).
* Chaining: a pre-push hook that is not ours is moved aside to `pre-push.marathon-chained`;
  our hook runs it first with the same arguments and stdin (the refs being pushed) and stops the
  push when it fails. Uninstalling puts it back.
* Idempotent: installing again rewrites our hook in place (a marker comment identifies it),
  so there is only ever one.
* Safe: the only text the script contains besides fixed lines is the command, each argument
  quoted with shlex.quote. The repository path is not baked in: git starts hooks at the top of
  the working tree, and the chained hook is found next to `$0`, so moving the clone keeps the
  hook working.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engine.errors import MarathonError

HOOK_NAME = "pre-push"
CHAINED_NAME = "pre-push.marathon-chained"
MARKER = "# marathon-engine pre-push hook"

_SCRIPT = """\
#!/bin/sh
{marker}: verifies the pushed commits before each push.
# Written by `doit hooks install`; `doit hooks uninstall` removes it and restores any hook it
# chains. Skip it once with `git push --no-verify`.
chained="$(dirname -- "$0")/{chained}"
top="$(git rev-parse --show-toplevel)" || exit 1
if [ -x "$chained" ]; then
    # The hook that was here before ours: same arguments, same stdin (the pushed refs, kept
    # for ours too); its failure stops the push.
    refs="$(cat)"
    printf '%s\n' "$refs" | "$chained" "$@" || exit $?
    cd "$top" || exit 1
    printf '%s\n' "$refs" | {command} "$@"
    exit $?
fi
cd "$top" || exit 1
# stdin is git's list of pushed refs: what the checks verify.
exec {command} "$@"
"""


@dataclass(frozen=True)
class HookStatus:
    path: Path  # where the pre-push hook is (or would be)
    installed: bool  # our hook is there
    foreign: bool  # some other pre-push hook is there instead of ours
    chained: Path | None  # the hook ours runs first, when there is one


def hooks_dir(repo: Path) -> Path:
    """The folder git runs hooks from for `repo` (MarathonError if repo is not a git work tree)."""
    top = Path(_git(repo, "rev-parse", "--show-toplevel"))
    configured = _git(repo, "config", "--type=path", "--get", "core.hooksPath", check=False)
    if configured:
        path = Path(configured)
        # git resolves a relative core.hooksPath against where hooks run: the work tree top.
        return path if path.is_absolute() else top / path
    common = Path(_git(repo, "rev-parse", "--git-common-dir"))
    return (common if common.is_absolute() else repo / common).resolve() / "hooks"


def hook_script(command: list[str]) -> str:
    if not command:
        raise MarathonError("the pre-push hook needs a command to run")
    return _SCRIPT.format(
        marker=MARKER,
        chained=CHAINED_NAME,
        command=" ".join(shlex.quote(str(arg)) for arg in command),
    )


def install_hook(repo: Path, *, command: list[str]) -> Path:
    """Install (or refresh) our pre-push hook, chaining an existing foreign one; its path."""
    script = hook_script(command)
    directory = hooks_dir(repo)
    directory.mkdir(parents=True, exist_ok=True)
    hook, chained = directory / HOOK_NAME, directory / CHAINED_NAME
    if _exists(hook) and not is_ours(hook):
        if _exists(chained):
            raise MarathonError(
                f"{hook} is another pre-push hook and {chained} already exists;"
                " move one of them away, then install again"
            )
        # os.replace keeps the file as it is (mode, symlink) so restoring it is exact.
        os.replace(hook, chained)
    _write_executable(hook, script)
    return hook


def uninstall_hook(repo: Path) -> bool:
    """Remove our pre-push hook and restore the one it chained; False if ours was not there."""
    directory = hooks_dir(repo)
    hook, chained = directory / HOOK_NAME, directory / CHAINED_NAME
    if not _exists(hook) or not is_ours(hook):
        return False
    hook.unlink()
    if _exists(chained):
        os.replace(chained, hook)
    return True


def hook_status(repo: Path) -> HookStatus:
    directory = hooks_dir(repo)
    hook, chained = directory / HOOK_NAME, directory / CHAINED_NAME
    ours = _exists(hook) and is_ours(hook)
    return HookStatus(
        path=hook,
        installed=ours,
        foreign=_exists(hook) and not ours,
        chained=chained if ours and _exists(chained) else None,
    )


def is_ours(hook: Path) -> bool:
    try:
        with open(hook, encoding="utf-8", errors="replace") as handle:
            return MARKER in handle.read(4096)
    except OSError:  # a dangling symlink or unreadable file is somebody else's
        return False


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _write_executable(path: Path, text: str) -> None:
    # Write then rename: a push running at this moment sees the old hook or the new one.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, 0o755)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _git(repo: Path, *args: str, check: bool = True) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise MarathonError("git is not installed (or not on PATH)") from error
    except NotADirectoryError as error:
        raise MarathonError(f"{repo} is not a directory") from error
    if done.returncode != 0:
        if not check:
            return ""
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "git failed"
        raise MarathonError(f"{repo} is not a git work tree ({reason})")
    return done.stdout.strip()
