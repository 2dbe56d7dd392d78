"""`isolation: bwrap`: an agent in a bubblewrap sandbox sees the filesystem read-only except its
worktree, a private home and a private /tmp.

Inside the sandbox:
- `/` is read-only; `/tmp` is a fresh tmpfs; HOME is an empty folder of this run's, with only
  the files the agent's CLI keeps its login in (its preset's `home`) bound from the real home.
  The real home stays readable where toolchains live (pyenv, nvm, ~/.local/bin), but the
  usual credential stores in it (~/.ssh, ~/.aws, ~/.netrc ...) are masked;
- the workspace's state folder (`.marathon`: records, tracker, other issues' plans, logs,
  cassettes) is an empty tmpfs, with only the issue's worktree and this run's view of the state
  (`plans/`, a folder of its own, copied back for what the phase may write there) put back;
- the repository's git folder is read-only but for the worktree's own folder (its index and
  HEAD) and the object store: git works in the worktree, but no branch, tag or remote moves;
- the network is shared unless the agent says `network: false` (agents call their model).
The sandbox dies with the process that started it (`--die-with-parent`, its own pid namespace).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from engine import globs
from engine.errors import MarathonError

STATE_VIEW = ("plans",)  # the state folders a sandboxed phase sees (its own copy of them)
# Credential stores under HOME an agent never needs to read (its own login comes through its
# preset's `home`): masked by an empty folder, or /dev/null for a file.
MASKED = (
    ".ssh", ".gnupg", ".aws", ".azure", ".config/gcloud", ".kube", ".docker", ".netrc",
    ".git-credentials", ".config/gh", ".pypirc", ".npmrc", ".cargo/credentials.toml",
    ".config/marathon-engine",
)  # fmt: skip


@dataclass(frozen=True)
class Sandbox:
    worktree: Path
    state_dir: Path
    git_common: Path  # the repository's git folder: read-only
    git_private: Path  # the worktree's own git folder (.git/worktrees/<ID>)
    git_objects: Path
    scratch: Path  # this run's folder: home/, state/
    home: Path  # the real HOME
    home_files: tuple[str, ...] = ()  # relative to HOME: bound into the private home
    reads: tuple[Path, ...] = ()  # more read-only paths (the prompt file, cassettes)
    network: bool = True

    @property
    def private_home(self) -> Path:
        """HOME inside the sandbox (the agent's environment says so)."""
        return self.scratch / "home"


def check_available() -> None:
    """One clear line when the sandbox cannot run here."""
    if not sys.platform.startswith("linux"):
        raise MarathonError(
            f"isolation: bwrap needs Linux (this is {sys.platform}); remove it or use "
            "isolation: none",
            where="isolation",
        )
    if shutil.which("bwrap") is None:
        raise MarathonError(
            "isolation: bwrap needs bubblewrap, which is not installed: install it "
            "(Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)",
            where="isolation",
        )


def prepare(box: Sandbox, issue_id: str) -> None:
    """Make this run's home and state view; the issue's own plan is copied in."""
    box.private_home.mkdir(parents=True, exist_ok=True)
    for folder in STATE_VIEW:
        (box.scratch / "state" / folder).mkdir(parents=True, exist_ok=True)
    plan = box.state_dir / "plans" / f"{issue_id}.md"
    if plan.is_file():
        shutil.copy2(plan, box.scratch / "state" / "plans" / plan.name)


def wrap(box: Sandbox, argv: list[str] | tuple[str, ...]) -> list[str]:
    """The bwrap command line that runs `argv` in the sandbox."""
    args = [
        "bwrap",
        "--die-with-parent",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        *([] if box.network else ["--unshare-net"]),
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--tmpfs", "/tmp",
    ]  # fmt: skip
    for rel in MASKED:
        real = box.home / rel
        if real.is_dir():
            args += ["--tmpfs", str(real)]
        elif real.exists():
            args += ["--ro-bind", "/dev/null", str(real)]
    args += ["--tmpfs", str(box.state_dir), "--bind", str(box.private_home), str(box.private_home)]
    for rel in box.home_files:
        real = box.home / rel
        if real.exists():
            args += ["--bind", str(real), str(box.private_home / rel)]
    for folder in STATE_VIEW:
        args += ["--bind", str(box.scratch / "state" / folder), str(box.state_dir / folder)]
    args += [
        "--bind", str(box.worktree), str(box.worktree),
        # Again after /tmp and the state folder hid them, when the repository lives there.
        "--ro-bind", str(box.git_common), str(box.git_common),
        "--bind", str(box.git_private), str(box.git_private),
        "--bind", str(box.git_objects), str(box.git_objects),
    ]  # fmt: skip
    # The interpreter and the engine itself (the stand-in and replay agents run its code),
    # wherever they are installed: a clone and its virtualenv under /tmp included.
    engine_home = Path(__file__).resolve().parents[2]
    for path in (*box.reads, Path(sys.base_prefix), Path(sys.prefix), engine_home):
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return [*args, "--chdir", str(box.worktree), "--", *argv]


def copy_back(box: Sandbox, writes: tuple[str, ...]) -> list[str]:
    """What the phase wrote in its state view and may write (`writes` under `.marathon/`)
    goes to the state folder; anything else it wrote there is dropped. Returns the paths."""
    view = box.scratch / "state"
    copied = []
    for rel in globs.expand(view, tuple(w.removeprefix(".marathon/") for w in writes
                                        if w.startswith(".marathon/"))):  # fmt: skip
        target = box.state_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(view / rel, target)
        copied.append(f".marathon/{rel}")
    shutil.rmtree(box.scratch, ignore_errors=True)
    return copied
