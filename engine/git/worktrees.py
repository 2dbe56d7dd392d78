"""One git worktree per issue, on its own branch, merged back at EXIT.

An issue's phases run in `.marathon/worktrees/<ID>` on branch `marathon/<ID>`, created from the
target branch when the issue starts (after the issues it depends on have merged), reused after
a crash, and removed when the issue has merged. Merging happens under the repository lock; a
conflict is aborted and reported, never recorded as success.

Every step survives a kill at any instant:
- a worktree is reused only once it was made completely (checkout done, state link in place:
  a marker in its git folder says so, written last); anything less is removed and made again
  from the branch, which holds every finished phase's commit;
- the merge is a sequence whose every step checks where the last attempt got to: a branch
  already in the target is merged; a rebase left half-done is aborted and redone; a
  fast-forward killed mid-checkout leaves the workspace's files between the two commits, and
  those files (and only those, with exactly those contents) are put back before it is redone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.errors import MarathonError
from engine.files import write_atomic
from engine.git import objects, refs, repo
from engine.git.repo import git, identity_args, repo_lock, restore

READY_MARKER = "marathon-ready"  # in the worktree's git folder, written when it is complete

BRANCH_PREFIX = "marathon/"


@dataclass(frozen=True)
class MergeResult:
    merged: bool
    conflicts: tuple[str, ...] = ()
    message: str = ""
    moved: bool = False  # the target moved since the branch was put on it (and checked there)


def worktree_path(state_dir: Path, issue_id: str) -> Path:
    return state_dir / "worktrees" / issue_id


def branch_name(issue_id: str) -> str:
    return f"{BRANCH_PREFIX}{issue_id}"


def current_branch(root: Path) -> str:
    result = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if result.returncode != 0:
        raise MarathonError(
            f"{root} is on a detached HEAD; check out the branch issues should merge into "
            "(or set git.target in marathon.yaml)"
        )
    return result.stdout.strip()


def ensure_worktree(root: Path, state_dir: Path, issue_id: str, target: str) -> Path:
    """The issue's worktree, created from its branch (or from `target` for a new issue) if
    it does not exist yet or was left half-made."""
    path = worktree_path(state_dir, issue_id)
    if is_ready(path, state_dir):
        return path  # the common case, without the lock
    with repo_lock(state_dir, issue_lock(issue_id)):
        if not is_ready(path, state_dir):
            _make_worktree(root, state_dir, issue_id, target)
    return path


def is_ready(path: Path, state_dir: Path) -> bool:
    """Made completely: its git folder carries the marker, and `.marathon` is the link."""
    link = path / ".marathon"
    if not (git_dir(path) / READY_MARKER).is_file():
        return False
    try:
        named = os.readlink(link)
    except OSError:
        return False  # missing, or not a link
    # The link is made with the state folder's resolved path, which the pipeline's already is
    # (its root is resolved at load): equal text needs no resolving, and every phase start
    # asks; any other text is resolved and compared.
    return named == str(state_dir) or link.resolve() == state_dir.resolve()


def _make_worktree(root: Path, state_dir: Path, issue_id: str, target: str) -> None:
    """Under the issue's lock: (re)make the worktree; a half-made one is removed first.

    git's record of it is written whole and renamed in (`_add_record`): only that rename is
    under the records lock, where at -n 16 issues waited 0.11 s each for a lock held around
    whole `worktree add`s. Its files are checked out after, beside other issues'."""
    path = worktree_path(state_dir, issue_id)
    branch = branch_name(issue_id)
    if not branch_head(root, branch):
        # A new issue's branch, made by `update-ref`, which reads no worktree's record (`worktree
        # add -b` would make it under the lock). One left by an interrupted run keeps its
        # finished phases' commits.
        git(root, "update-ref", f"refs/heads/{branch}", target, "")
    if _records_of(root, path) != [] or path.exists() or path.is_symlink():
        with repo_lock(state_dir, RECORDS_LOCK):
            _remove_folder(root, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not _claim_spare(root, state_dir, path):
        if not _add_record(root, state_dir, path, branch):
            with repo_lock(state_dir, RECORDS_LOCK):
                # -f -f: a `worktree add` killed half-way leaves its record locked
                # ("initializing"), which prune keeps and a plain add refuses; the folder is
                # gone now: the record is stale.
                git(root, "worktree", "add", "-f", "-f", "-q", "--no-checkout", str(path), branch)
        # The checkout `worktree add` would have made, its post-checkout hook included.
        git(path, "checkout", "-q", "-f")
        # The worktree shares the workspace's state (plans, logs, prompts) by a link.
        os.symlink(state_dir.resolve(), path / ".marathon")
    (git_dir(path) / READY_MARKER).write_text(branch + "\n")


# Worktrees of merged issues, kept for the issues that start after them: a new worktree then
# checks out only the files that differ from a recent target instead of all of them (in a
# repository of 2 000 files a worktree took 0.28 s to make at -n 4), and a merged one is not
# deleted file by file. In `.marathon/spare/<ID of the issue that left it>`, on a detached HEAD,
# with nothing uncommitted. They never outlive the run that parked them: `drop_spares` at its
# end, and the repair at the start of the next.
SPARES = "spare"


def park(root: Path, state_dir: Path, issue_id: str, *, keep: int) -> bool:
    """After the issue merged: its worktree becomes a spare, unless `keep` are there already
    or it is not plainly laid out; True when it did (the caller still deletes the branch).

    Under the issue's lock and the records' (no prune of ours may see the record between its
    two moves): the ready marker goes first, so a kill part way leaves a half-made worktree,
    which the repair removes; the record names the spare's folder before the folder is moved
    there, so a claimer never finds a spare whose record is not yet its."""
    path = worktree_path(state_dir, issue_id)
    spares = state_dir / SPARES
    records = root / ".git" / "worktrees"
    with repo_lock(state_dir, issue_lock(issue_id)), repo_lock(state_dir, RECORDS_LOCK):
        folder = git_dir(path)
        if not is_ready(path, state_dir) or folder.parent != records:
            return False
        spares.mkdir(exist_ok=True)
        spare = spares / issue_id
        if sum(1 for _ in spares.iterdir()) >= keep or spare.exists():
            return False
        head = head_of(path)
        (folder / READY_MARKER).unlink()
        write_atomic(folder / "HEAD", head + "\n")  # detached: the branch can be deleted
        write_atomic(folder / "gitdir", os.path.join(os.path.realpath(spare), ".git") + "\n")
        os.rename(path, spare)
    return True


def _claim_spare(root: Path, state_dir: Path, path: Path) -> bool:
    """Under the issue's lock, with nothing at `path`: a spare moved there and made the issue's
    worktree (its record pointed at the new folder, what git ignores cleaned away, its branch
    checked out, as in a new one); False when there is none to take. A kill part way leaves a
    worktree without its ready marker: removed by the repair, or by the next make.

    The record keeps the name it was made with (another issue's): every git that lists the
    worktrees (a `checkout <branch>` asking where a branch is checked out) reads a record in
    several steps, and dies when one vanishes between them, as a renamed record does (2 runs
    in 11 at -n 16 did). Only its `gitdir` and `HEAD` change, each replaced whole."""
    spares = state_dir / SPARES
    try:
        candidates = sorted(spares.iterdir())
    except FileNotFoundError:
        return False
    records = root / ".git" / "worktrees"
    for spare in candidates:
        with repo_lock(state_dir, RECORDS_LOCK):
            try:
                os.rename(spare, path)  # one claimer wins it
            except FileNotFoundError:
                continue  # taken by another issue meanwhile
            record = git_dir(path)
            if record.parent != records or not (record / "commondir").is_file():
                _remove_folder(root, path)  # not a spare as parked (a prune took its record)
                git(root, "worktree", "prune")
                return False
            write_atomic(record / "gitdir", os.path.join(os.path.realpath(path), ".git") + "\n")
        # -e: the link to the state folder stays (git ignores it, as it ignores build output).
        git(path, "clean", "-ffdxq", "-e", "/.marathon")
        if not (path / ".marathon").is_symlink():
            os.symlink(state_dir.resolve(), path / ".marathon")
        # HEAD onto the branch by its file, then the checkout of HEAD a new worktree gets (post-
        # checkout hook included): `checkout <branch>` would list every worktree first, to
        # refuse a branch checked out elsewhere, and dies on a record removed meanwhile.
        write_atomic(record / "HEAD", f"ref: refs/heads/{branch_name(path.name)}\n")
        git(path, "checkout", "-q", "-f")
        return True
    return False


def drop_spares(root: Path, state_dir: Path) -> int:
    """Remove every spare worktree (at the end of a run, and when the next one starts)."""
    spares = state_dir / SPARES
    if not spares.is_dir():
        return 0
    dropped = 0
    with repo_lock(state_dir, RECORDS_LOCK):
        for spare in sorted(spares.iterdir()):
            _remove_folder(root, spare)
            dropped += 1
        if dropped:
            git(root, "worktree", "prune")  # a record a kill mid-claim left naming nothing
        with contextlib.suppress(OSError):
            spares.rmdir()  # no empty folder left in .marathon after the run
    return dropped


def _add_record(root: Path, state_dir: Path, path: Path, branch: str) -> bool:
    """git's record of a new worktree at `path` on `branch`, as `worktree add --no-checkout`
    writes it (gitrepository-layout: `worktrees/<name>/gitdir`, `commondir` and `HEAD`, and
    the worktree's `.git` naming that folder), but whole at once: written beside the records
    and renamed in, so no git reading the records (another `worktree add`, a `checkout -B`
    asking where a branch is checked out) ever meets it half-written; only the rename itself
    waits for the records lock.

    Under the issue's lock, with no folder at `path`. False, with nothing left behind, when
    the repository is not laid out plainly (`root` a linked worktree or a submodule) or a
    record of that name exists (another worktree's): the caller runs `git worktree add`."""
    common = root / ".git"
    if not common.is_dir():
        return False
    records = common / "worktrees"
    record = records / path.name
    if record.exists() or record.is_symlink():
        return False
    # Outside `worktrees/`, which git lists; one a kill left is this issue's (its lock is held).
    new = common / f"marathon-new-worktree-{path.name}"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir()
    (new / "gitdir").write_text(os.path.join(os.path.realpath(path), ".git") + "\n")
    (new / "commondir").write_text("../..\n")
    (new / "HEAD").write_text(f"ref: refs/heads/{branch}\n")
    records.mkdir(exist_ok=True)
    path.mkdir()
    dot_git = path / ".git"
    dot_git.write_text(f"gitdir: {os.path.join(os.path.realpath(records), path.name)}\n")
    # Under the records' lock: a rename replaces an empty folder, and `worktree add` (ours, in
    # the fallback, holds this lock) makes its record as one before it fills it.
    with repo_lock(state_dir, RECORDS_LOCK):
        taken = record.exists() or record.is_symlink()
        if not taken:
            os.rename(new, record)  # a record is listed whole, and only once its folder exists
    if taken:
        shutil.rmtree(new, ignore_errors=True)  # made meanwhile, by another git
        dot_git.unlink()
        path.rmdir()
        return False
    return True


# Who may change git's records of the worktrees (`worktree add`, `remove`, `prune`; each
# reads them all): one at a time. Taken after an issue's lock.
RECORDS_LOCK = "worktrees"


def _remove_folder(root: Path, path: Path) -> None:
    """A worktree folder and git's record of it, whatever state a kill left them in; the
    caller holds RECORDS_LOCK.

    git's record of the worktree is looked at in the repository's folder first, so a new
    issue (no folder, no record) or a clean removal costs no `unlock` or `prune` process.
    Where the record cannot be read (a kill mid-`worktree add`), both run."""
    records = _records_of(root, path)
    on_disk = path.exists() or path.is_symlink()
    if records == [] and not on_disk:
        return
    # A record left locked by a killed `worktree add` is one prune keeps: unlock it first.
    if records is None or any((record / "locked").exists() for record in records):
        git(root, "worktree", "unlock", str(path), check=False)
    if on_disk:
        git(root, "worktree", "remove", "--force", "--force", str(path), check=False)
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
    if _records_of(root, path) != []:
        git(root, "worktree", "prune")


def _records_of(root: Path, path: Path) -> list[Path] | None:
    """git's records of the worktree at `path` (folders under `.git/worktrees` whose `gitdir`
    names it: named after it, or after the issue whose spare it was); None when that cannot be
    told from the files."""
    common = root / ".git"
    if not common.is_dir():
        return None  # `root` is itself a linked worktree or a submodule: ask git
    folder = common / "worktrees"
    if not folder.is_dir():
        return []
    wanted = (path / ".git").resolve()
    found = []
    for record, named in _records(folder):
        if named is None:
            if record.name == path.name:
                return None  # half-made by a killed `worktree add`
            continue  # another worktree's, maybe being made or removed right now
        if named == wanted or named.resolve() == wanted:
            found.append(record)
    return found


def _records(folder: Path) -> Iterator[tuple[Path, Path | None]]:
    """Each of git's worktree records in `folder` (`.git/worktrees`), with the `.git` its
    `gitdir` names (None when that cannot be read)."""
    for record in folder.iterdir():
        try:
            yield record, Path((record / "gitdir").read_text().strip())
        except OSError:
            yield record, None


def repair(root: Path, state_dir: Path) -> list[str]:
    """After a killed run: a fast-forward of the workspace cut short is put back, worktrees
    left half-made are removed (remade from their branch when a phase needs them), rebases and
    merges left half-done are aborted. One phrase per repair."""
    repairs = []
    with repo_lock(state_dir):
        if settle_fast_forward(root):
            repairs.append("put back the files of a fast-forward of the workspace a kill cut short")
    spares = drop_spares(root, state_dir)
    if spares:
        repairs.append(f"removed {spares} spare worktree(s) a killed run left")
    folder = state_dir / "worktrees"
    if not folder.is_dir():
        return repairs
    removed = False
    for path in sorted(folder.iterdir()):
        if not is_ready(path, state_dir):
            with repo_lock(state_dir, issue_lock(path.name)):
                if is_ready(path, state_dir):
                    continue  # made meanwhile, by a phase of this run
                with repo_lock(state_dir, RECORDS_LOCK):
                    _remove_folder(root, path)
            removed = True
            repairs.append(f"removed the half-made worktree of {path.name}")
        elif _abort_unfinished_merge(path):
            repairs.append(f"aborted a half-done rebase or merge in {path.name}")
    if removed or _names_a_missing_folder(root, state_dir):
        with repo_lock(state_dir, RECORDS_LOCK):
            # A claim, or the removal of a spare at a run's end, cut short by a kill can leave
            # a record naming no folder.
            git(root, "worktree", "prune")
    return repairs


def _names_a_missing_folder(root: Path, state_dir: Path) -> bool:
    """Does one of git's worktree records name a folder of ours (under the state folder) that
    is gone? The user's own worktrees are theirs to prune."""
    folder = root / ".git" / "worktrees"
    if not folder.is_dir():
        return False
    ours = str(state_dir.resolve()) + os.sep
    return any(
        named is not None and str(named).startswith(ours) and not named.parent.exists()
        for _, named in _records(folder)
    )


def head_of(worktree: Path) -> str:
    return _head_file(git_dir(worktree))[1] or git(worktree, "rev-parse", "HEAD").stdout.strip()


def _head_file(folder: Path) -> tuple[str, str]:
    """(the ref HEAD names or "", the commit it resolves to or "") from a git folder's files;
    "" where the files do not say it plainly."""
    try:
        text = (folder / "HEAD").read_text().strip()
    except OSError:
        return "", ""
    if objects.OBJECT_ID.fullmatch(text):
        return "", text  # detached
    if not text.startswith("ref: "):
        return "", ""
    ref = text[len("ref: ") :].strip()
    return ref, refs.loose_ref(refs.common_dir(folder), ref)


def undo_agent_commits(worktree: Path, branch: str, before: str, agent_email: str) -> bool:
    """Agents do not commit: when the agent committed during its phase (a commit under its
    identity since `before`), or left its branch, the branch goes back to `before` with those
    commits turned into changes in the worktree (its files stay as it left them), for the
    write-set check to judge. Commits the engine made meanwhile (TEST's beside QA's) are not
    the agent's. True when it undid something."""
    named, at = _head_file(git_dir(worktree))
    if named == f"refs/heads/{branch}" and at == before:
        return False  # still on its branch, where it was: nothing committed (no git needed)
    ref = git(worktree, "symbolic-ref", "-q", "HEAD", check=False).stdout.strip()
    on_branch = ref == f"refs/heads/{branch}"
    if on_branch:
        emails = git(worktree, "log", "--format=%ce", f"{before}..HEAD", "--").stdout.split()
        if agent_email not in emails:
            return False
    git(worktree, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
    git(worktree, "update-ref", f"refs/heads/{branch}", before)
    git(worktree, "reset", "-q")
    return True


def branch_head(root: Path, branch: str) -> str:
    """The commit `branch` points at, or "" when there is no such branch."""
    known = refs.read_ref(refs.common_dir(git_dir(root)), f"refs/heads/{branch}")
    if known is not None:
        return known
    found = git(root, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", check=False)
    return found.stdout.strip() if found.returncode == 0 else ""


def _merge_base(root: Path, one: str, other: str) -> str:
    """The best common ancestor of two commits ("" when they have none). When `other` is a few
    commits back in `one`'s history, it is: mostly a branch on its target, commits the engine
    has just made, told from their files without a process."""
    if objects.reaches(refs.common_dir(git_dir(root)), one, other):
        return other
    found = git(root, "merge-base", one, other, check=False)
    return found.stdout.strip() if found.returncode == 0 else ""


def update_branch(
    root: Path, state_dir: Path, issue_id: str, target: str, strategy: str
) -> MergeResult:
    """Rebase (or merge) the issue's branch onto `target` in its worktree, without moving
    `target`: what a gate before the merge checks. `merged` here means "on top of target"."""
    with repo_lock(state_dir, issue_lock(issue_id)):
        return _update_branch(root, state_dir, issue_id, target, strategy)


def issue_lock(issue_id: str) -> str:
    return f"locks/{issue_id}"


def _update_branch(
    root: Path, state_dir: Path, issue_id: str, target: str, strategy: str, onto: str = ""
) -> MergeResult:
    """Under the issue's lock: the worktree made if needed, a half-done rebase aborted,
    uncommitted changes refused, then the rebase (or merge) onto `onto` (a commit of the
    target; by default where the target is now); a conflict is aborted."""
    path = worktree_path(state_dir, issue_id)
    branch = branch_name(issue_id)
    if not is_ready(path, state_dir):  # the caller holds the issue's lock
        _make_worktree(root, state_dir, issue_id, target)
    # One commit, read once: every git below would resolve a name again, and a merge landing
    # between two of them would give a commit the new target as parent and the old one's tree.
    onto = onto or branch_head(root, target)
    if not onto:
        return MergeResult(False, message=f"{target} is not a branch of {root}")
    _abort_unfinished_merge(path)
    dirty = git(
        path, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all"
    ).stdout.splitlines()
    if dirty:
        # Removing the worktree after the merge would lose them.
        files = ", ".join(line[3:] for line in dirty[:10])
        return MergeResult(
            False,
            message=f"uncommitted changes in {path}: {files}; commit "
            f"them on {branch} or remove them, then run again",
        )
    who = identity_args(root)
    if strategy == "rebase":
        if _replay(path, branch, onto, who):
            return MergeResult(True)
        step = git(path, *who, "rebase", onto, check=False)
    else:
        step = git(
            path, *who, "merge", "--no-edit", "-m", f"Merge {target} into {branch}", onto,
            check=False,
        )  # fmt: skip
    if step.returncode != 0:
        conflicts = _conflicted(path)
        _abort_unfinished_merge(path)
        if conflicts:
            message = f"{strategy} onto {target} conflicts in {', '.join(conflicts)}"
        else:  # not a conflict: say what git said
            said = (step.stderr or step.stdout).strip().splitlines()
            message = f"{strategy} onto {target} failed: {said[-1] if said else step.returncode}"
        return MergeResult(False, conflicts=conflicts, message=message)
    return MergeResult(True)


# In a worktree's git folder while a replay moves it: the commit it is moving to.
REPLAY_MARKER = "marathon-replay"
_END = "\x1e"  # after each commit of `_replay`'s log


def _replay(path: Path, branch: str, onto: str, who: tuple[str, ...]) -> bool:
    """Rebase the branch checked out at `path` onto `onto` without `git rebase`, when every
    commit applies cleanly; False when it does not try or cannot (a merge commit among them,
    a conflict, anything git refuses): the caller runs `git rebase`, which says what
    conflicts, and leaves everything as it was.

    Each commit's tree is `onto` merged with the commit (`merge-tree --write-tree`: objects
    only, no checkout; the merge base is where the branch left the target, so the tree is
    `onto` plus the branch's changes up to that commit, as the rebase makes it), committed
    with the commit's author and message (`commit-tree`); a commit that adds nothing on
    `onto` is dropped, as the rebase drops it. Then one checkout moves the branch, writing
    only the files that differ. `git rebase` checks `onto` out first and then writes each
    commit's files again: 123 ms a rebase at -n 16, most of a gate's time."""
    head = head_of(path)
    out = git(path, "log", "--reverse", f"--format=%H %P%x00%an%x00%ae%x00%ad%x00%B{_END}",
              "--date=raw", f"{onto}..{head}", check=False)  # fmt: skip
    commits = [entry.lstrip("\n") for entry in out.stdout.split(_END)[:-1]]
    if out.returncode != 0 or not commits:
        return False  # nothing of its own (the rebase fast-forwards it), or git refused
    parent, parent_tree = onto, _tree_of(path, onto)
    for commit in commits:
        fields = commit.split("\0", 4)
        if len(fields) != 5:
            return False  # a message holding the separator: git rebase reads it properly
        shas, name, email, date, message = fields
        sha, *parents = shas.split()
        if len(parents) != 1:
            return False  # a merge commit: git rebase knows what to do with it
        if parents[0] == parent and parent == onto:
            return True  # the branch already sits on `onto`
        merged = git(path, "merge-tree", "--write-tree", onto, sha, check=False)
        if merged.returncode != 0:
            return False  # a conflict
        tree = merged.stdout.split("\n", 1)[0].strip()
        if tree == parent_tree:
            continue
        author = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date}
        parent = git(path, *who, "commit-tree", tree, "-p", parent, "-m", message.rstrip("\n"),
                     env=author).stdout.strip()  # fmt: skip
        parent_tree = tree
    # Killed while the checkout writes files, the worktree is between its HEAD and `parent`:
    # the marker says so to the next run (`_abort_unfinished_merge`).
    marker = git_dir(path) / REPLAY_MARKER
    marker.write_text(parent + "\n")
    # Its exit code is the post-checkout hook's, if there is one: judged by where HEAD is.
    git(path, "checkout", "-q", "-B", branch, parent, check=False)
    moved = head_of(path) == parent
    if not moved:
        _undo_partial_checkout(path, parent, cut_short=True)  # what it wrote before it stopped
    marker.unlink()
    return moved


def _tree_of(path: Path, commit: str) -> str:
    """The tree of `commit` (a commit id), from its file where it says it."""
    found = objects.loose_commit(refs.common_dir(git_dir(path)), commit)
    return found.tree if found else git(path, "rev-parse", f"{commit}^{{tree}}").stdout.strip()


def merge_back(
    root: Path,
    state_dir: Path,
    issue_id: str,
    target: str,
    strategy: str,
    *,
    target_in_root: bool,
    rebase: bool = True,
    serialized: bool = False,
) -> MergeResult:
    """Bring `marathon/<ID>` into `target`: rebase (or merge) in the worktree, then fast-forward.

    With `rebase=False` the branch must already sit on the target (a gate checked it there):
    when the target has moved since, nothing is merged and the result says `moved`, for the
    caller to check the branch again on the new target first.

    The rebase holds only the issue's lock and the target moves by compare-and-swap under the
    merge lock; after FAST_TRIES lost swaps (many merges at once) the whole attempt holds the
    merge lock, so it cannot lose again: progress is certain. `serialized`: the caller holds
    the merge lock already (`merge_lock`).

    When `target` is checked out in the main worktree (`target_in_root`) it is fast-forwarded
    there, which refuses (and reports) rather than overwrite local changes. Safe to call again
    after a kill at any point: it carries on from where the last call got to.
    """
    for attempt in range(MERGE_ATTEMPTS):
        if serialized or attempt < FAST_TRIES:
            result = _merge_attempt(
                root, state_dir, issue_id, target, strategy, target_in_root, rebase, serialized
            )
        else:
            with merge_lock(state_dir):
                result = _merge_attempt(
                    root, state_dir, issue_id, target, strategy, target_in_root, rebase, True
                )
        if result is not None:
            return result
    return MergeResult(
        False,
        message=f"{target} kept moving while {branch_name(issue_id)} was rebased onto it "
        f"({MERGE_ATTEMPTS} tries); run again",
    )


def merge_lock(state_dir: Path) -> contextlib.AbstractContextManager[None]:
    """Who may move the target: taken before the issue's lock and the repository's."""
    return repo_lock(state_dir, "merge")


def _merge_attempt(
    root: Path,
    state_dir: Path,
    issue_id: str,
    target: str,
    strategy: str,
    target_in_root: bool,
    rebase: bool,
    serialized: bool,
) -> MergeResult | None:
    """One try; None when the swap lost (the target moved meanwhile) and a rebase may win."""
    path = worktree_path(state_dir, issue_id)
    branch = branch_name(issue_id)
    # The rebase, the slow part, holds only the issue's own lock.
    with repo_lock(state_dir, issue_lock(issue_id)):
        head, base = branch_head(root, branch), branch_head(root, target)
        # One merge base answers both questions: the branch is in the target when it is the
        # branch's head, and the branch sits on the target when it is the target's.
        common = _merge_base(root, head, base) if head and base else ""
        if not head or common == head:
            return MergeResult(True)  # merged already (a run killed after the fast-forward)
        if not rebase:
            if common != base:
                return MergeResult(False, moved=True, message=f"{target} moved since")
            merged = head
        else:
            updated = _update_branch(root, state_dir, issue_id, target, strategy, onto=base)
            if not updated.merged:
                return updated
            merged = head_of(path)
    # Then a compare-and-swap of the target: when another merge moved it meanwhile, the
    # branch goes onto the new target and tries again.
    with contextlib.ExitStack() as locks:
        if not serialized:
            locks.enter_context(merge_lock(state_dir))
        locks.enter_context(repo_lock(state_dir))
        if branch_head(root, target) != base:
            if not rebase:
                return MergeResult(False, moved=True, message=f"{target} moved since")
            return None
        refs.engine_moved(root, f"refs/heads/{target}", merged)
        if target_in_root:
            settle_fast_forward(root)  # one a kill cut short
            _undo_partial_checkout(root, merged)  # one cut short before there was a marker
            # A kill while the fast-forward writes files leaves them between HEAD and
            # `merged`, one maybe half-written: the marker says so to the next run.
            marker = git_dir(root) / FAST_FORWARD_MARKER
            marker.write_text(merged + "\n")
            ff = git(root, "merge", "--ff-only", "-q", merged, check=False)
            marker.unlink()
            if ff.returncode != 0:
                reason = (ff.stderr or ff.stdout).strip().splitlines()
                return MergeResult(
                    False,
                    message=f"cannot fast-forward {target} in {root}: "
                    f"{reason[-1] if reason else 'refused'}",
                )
        elif git(root, "update-ref", f"refs/heads/{target}", merged, base,
                 check=False).returncode:  # fmt: skip
            return None
        return MergeResult(True)


# Lost swaps before an attempt holds the merge lock throughout. One: when a merge lost, others
# are merging at the same moment, and trying again beside them mostly loses again, each round
# another rebase and gate for every one of them (64 issues at -n 32: 4.7 rebases per issue
# with 3, 2.9 with 1, and the run 2.6 x its bound instead of 3.4-4.0 x; bench/wide_marathon.py).
FAST_TRIES = 1
MERGE_ATTEMPTS = 20


# In the workspace's git folder while the merge fast-forwards it: the commit it moves to.
FAST_FORWARD_MARKER = "marathon-fast-forward"


def settle_fast_forward(root: Path) -> bool:
    """Put back what a fast-forward of the workspace left when a kill cut it short (its
    marker is there); True when there was one. Under the repository's lock."""
    marker = git_dir(root) / FAST_FORWARD_MARKER
    try:
        new = marker.read_text().strip()
    except FileNotFoundError:
        return False
    if new:
        _undo_partial_checkout(root, new, cut_short=True)
    marker.unlink(missing_ok=True)
    return True


def _undo_partial_checkout(root: Path, new: str, *, cut_short: bool = False) -> list[str]:
    """A checkout toward `new` killed half-way (a fast-forward of the workspace, a rebase, a
    replay) leaves its files between HEAD and `new`: put back those files. Returns the paths
    put back.

    Without more to go on, only when each changed file is exactly HEAD's or `new`'s version
    (any other change is the user's, and the fast-forward then refuses and says so).
    `cut_short`: a marker proves a checkout toward `new` was cut short, so a file it was
    writing when killed (a prefix of `new`'s version, empty included) is its too, and its
    files are put back even beside the user's own changes, which stay."""
    status = git(
        root, "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all"
    ).stdout
    dirty = [entry[3:] for entry in status.split("\0") if len(entry) > 3]
    if not dirty:
        return []
    between = set(git(root, "diff", "--name-only", "-z", "HEAD", new).stdout.split("\0")) - {""}
    if not cut_short and not set(dirty) <= between:
        return []
    candidates = [rel for rel in dirty if rel in between]
    versions = {rev: _blobs(root, rev, candidates) for rev in ("HEAD", new)}
    checkouts = []
    for rel in candidates:
        file = root / rel
        have = git(root, "hash-object", "--", rel).stdout.strip() if file.is_file() else ""
        if have in (versions["HEAD"].get(rel, ""), versions[new].get(rel, "")) or (
            cut_short and file.is_file() and _written_from(root, new, rel)
        ):
            checkouts.append(rel)
        elif not cut_short:
            return []
    restore(root, checkouts)  # under the lock that covers `root`, which the caller holds
    return checkouts


def _written_from(root: Path, rev: str, rel: str) -> bool:
    """Is the file at `rel` the start of `rev`'s version of it, as a checkout writes it
    (filters applied): what a write cut short by a kill leaves?"""
    written = (root / rel).read_bytes()
    wanted = repo.show_bytes(root, f"{rev}:{rel}")
    return wanted is not None and wanted.startswith(written)


def _blobs(root: Path, rev: str, paths: list[str]) -> dict[str, str]:
    """path -> blob id in `rev`'s tree, for those of `paths` it has."""
    out = git(root, "ls-tree", "-z", rev, "--", *paths).stdout
    blobs = {}
    for entry in out.split("\0"):
        if "\t" in entry:
            meta, rel = entry.split("\t", 1)
            blobs[rel] = meta.split()[2]
    return blobs


def remove_worktree(root: Path, state_dir: Path, issue_id: str) -> bool:
    """Remove the issue's worktree and branch; False when there was nothing to remove."""
    path = worktree_path(state_dir, issue_id)
    branch = branch_name(issue_id)
    with repo_lock(state_dir, RECORDS_LOCK):
        removed = path.exists() or path.is_symlink()
        _remove_folder(root, path)  # a folder removed by hand: git forgets it too
    # No worktree has the branch now; `update-ref` reads no record (`branch -D` reads them all).
    if branch_head(root, branch):
        git(root, "update-ref", "-d", f"refs/heads/{branch}")
        removed = True
    return removed


def checked_out_in(root: Path) -> str:
    result = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def _conflicted(path: Path) -> tuple[str, ...]:
    out = git(path, "diff", "--name-only", "--diff-filter=U", check=False).stdout
    return tuple(sorted(set(out.split())))


def _abort_unfinished_merge(path: Path) -> bool:
    """A rebase or merge interrupted by a crash is undone before anything else happens;
    True when there was one."""
    folder = git_dir(path)
    found = False
    if (folder / "rebase-merge").exists() or (folder / "rebase-apply").exists():
        found = True
        onto = _read_first(folder / "rebase-merge" / "onto", folder / "rebase-apply" / "onto")
        if git(path, "rebase", "--abort", check=False).returncode != 0:
            # An abort that cannot finish (the rebase was killed before it wrote its state):
            # back to the commit it started from, then forget the rebase.
            orig = folder / "rebase-merge" / "orig-head"
            if orig.is_file():
                git(path, "reset", "-q", "--hard", orig.read_text().strip(), check=False)
            shutil.rmtree(folder / "rebase-merge", ignore_errors=True)
            shutil.rmtree(folder / "rebase-apply", ignore_errors=True)
        if onto:
            # Killed while checking out the target's files, the rebase left some behind as
            # untracked files its abort does not know (one maybe half-written).
            _undo_partial_checkout(path, onto, cut_short=True)
    if (folder / "MERGE_HEAD").exists():
        found = True
        git(path, "merge", "--abort", check=False)
    picked = _read_first(folder / "CHERRY_PICK_HEAD")
    if picked or (folder / "sequencer").exists():
        # A worker's commit replayed on the coordinator (engine/git/remote.py: integrate),
        # cut short: every later cherry-pick would refuse ("cherry-pick failed").
        found = True
        git(path, "cherry-pick", "--abort", check=False)
        git(path, "cherry-pick", "--quit", check=False)  # whatever the abort could not end
        if picked:
            _undo_partial_checkout(path, picked, cut_short=True)
    replaying = folder / REPLAY_MARKER
    if replaying.exists():
        found = True
        _undo_partial_checkout(path, replaying.read_text().strip(), cut_short=True)
        replaying.unlink()
    return found


def _read_first(*paths: Path) -> str:
    for path in paths:
        with contextlib.suppress(OSError):
            return path.read_text().strip()
    return ""


def git_dir(worktree: Path) -> Path:
    """A linked worktree's `.git` is a file naming its git folder; read it (every phase asks,
    and a `git rev-parse` each time costs a process)."""
    dot_git = worktree / ".git"
    if dot_git.is_file():
        text = dot_git.read_text().strip()
        if text.startswith("gitdir:"):
            found = Path(text[len("gitdir:") :].strip())
            return found if found.is_absolute() else worktree / found
    return dot_git
