"""Task worktrees: a linked git worktree on a branch of its own, started from what the
user sees (HEAD plus uncommitted and untracked changes), where an autonomous run works
without touching the user's tree. tools/git/apply.py brings its changes back.

The start point is a commit whose tree is the user's work tree exactly as on disk (the
same raw snapshot a checkpoint takes) and whose parent is HEAD (none in a repository
without commits). The branch `tessera/<session-id>` points at it, and the worktree is
checked out from it with filters off and then checked byte for byte against it, so the
run sees the bytes the user has. docs/worktrees.md describes the whole flow.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tools.git.repo import GitError, GitRepo, open_repo
from tools.git.restore import restore_files
from tools.git.snapshot import (
    EMPTY_TREE,
    decode_path,
    raw_settings,
    worktree_snapshot,
)

BRANCH_PREFIX = "tessera/"
GITLINK = "160000"
# Never recurse into submodules while checking out the start point (filters are off too).
_CHECKOUT_SETTINGS = ("submodule.recurse=false", "core.sparseCheckout=false")


class WorktreeError(Exception):
    """A worktree cannot be made, found or removed; the message says why and what to do."""


@dataclass(frozen=True)
class TaskWorktree:
    """Where a run works and what it started from (stored in its session_start)."""

    path: str  # the linked worktree's top folder
    branch: str  # tessera/<session-id>
    base: str  # the start-point commit: the user's files when the run started
    origin: str  # top folder of the user's work tree
    common_dir: str  # the repository's shared git dir (identifies the repository)
    head: str | None = None  # HEAD of the user's tree then (None: no commits yet)
    notes: list[str] = field(default_factory=list)  # what the user should know

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskWorktree:
        try:
            return cls(**data)
        except TypeError as exc:
            raise WorktreeError(f"unreadable worktree record: {exc}") from exc

    @property
    def ref(self) -> str:
        return "refs/heads/" + self.branch


def lfs_attributes(repo: GitRepo, tree: str) -> list[str]:
    """The .gitattributes files in `tree` that hand files to Git LFS."""
    out = repo.git.run("ls-tree", "-r", "-z", tree).stdout
    found = []
    for record in out.split(b"\0"):
        meta, _, raw_path = record.partition(b"\t")
        path = decode_path(raw_path)
        if not (path == ".gitattributes" or path.endswith("/.gitattributes")):
            continue
        blob = meta.split()[2].decode()
        text = repo.git.run("cat-file", "blob", blob).stdout
        if b"filter=lfs" in text:
            found.append(path)
    return found


def submodules(repo: GitRepo, tree: str) -> list[str]:
    out = repo.git.run("ls-tree", "-r", "-z", tree).stdout
    return [decode_path(rec.partition(b"\t")[2]) for rec in out.split(b"\0")
            if rec.startswith(GITLINK.encode())]


def commit(repo: GitRepo, tree: str, parents: list[str], message: str) -> str:
    args = ["commit-tree", "--no-gpg-sign", tree]
    for parent in parents:
        args += ["-p", parent]
    return repo.out(*args, "-F", "-", input=message.encode("utf-8", "surrogateescape"))


def create_worktree(repo: GitRepo, path: Path, branch: str) -> TaskWorktree:
    """A worktree at `path` on a new `branch`, holding the user's files as they are now.

    Refuses (WorktreeError, nothing left behind) a repository that uses Git LFS, a
    branch or folder that exists already. Submodules are not checked out there (a note
    says so); ignored files (build outputs, virtualenvs) are not copied."""
    if path.exists():
        raise WorktreeError(f"{path} exists already; a worktree needs a new folder")
    check = repo.git.run("check-ref-format", "--branch", branch, check=False)
    if check.returncode != 0:
        raise WorktreeError(f"{branch!r} is not a valid branch name")
    snapshot = worktree_snapshot(repo, raw=True)
    if lfs := lfs_attributes(repo, snapshot.tree):
        raise WorktreeError(
            f"this repository uses Git LFS ({', '.join(lfs)} has filter=lfs): in a worktree "
            "the large files would be copied into .git/objects and the run's git would see "
            "every one of them as changed. Run without a worktree (`tessera run` without "
            "--worktree; for the tasks screen set `worktree.tasks = false`)")
    head = repo.head_sha()
    notes = _notes(repo, snapshot.tree, head, snapshot.warnings)
    message = f"tessera: start point of {branch}\n\nThe work tree as it was, uncommitted " \
              "and untracked changes included.\n"
    base = commit(repo, snapshot.tree, [head] if head else [], message)
    ref = "refs/heads/" + branch
    try:
        repo.git.run("update-ref", ref, base, "")  # "": the branch must not exist yet
    except GitError as exc:
        raise WorktreeError(f"cannot create branch {branch}: {exc}") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    settings, _ = raw_settings(repo)
    try:
        repo.git.run("worktree", "add", "--quiet", str(path), branch,
                     config=[*settings, *_CHECKOUT_SETTINGS])
        _make_exact(path, snapshot.tree)
    except Exception as exc:
        _remove(repo, path, ref)
        raise WorktreeError(f"cannot create the worktree: {exc}") from exc
    return TaskWorktree(str(path), branch, base, str(repo.root), str(repo.common_dir.resolve()),
                        head, notes)


def _make_exact(path: Path, tree: str) -> None:
    """Rewrite whatever checkout converted (gitattributes eol, ident) to the exact bytes."""
    linked = open_repo(path)
    now = worktree_snapshot(linked, raw=True, max_untracked_bytes=None).tree
    if now == tree:
        return
    rewritten = restore_files(linked, now, tree).restored
    # Their index entries still carry the converted files' sizes, which git would take
    # for a change: entries without stat data make it compare the contents instead.
    entries = linked.git.run("ls-tree", "-r", "-z", "--full-tree", tree, "--",
                             *(f":(literal){p}" for p in rewritten)).stdout
    info = b"".join(meta.split(b" ")[0] + b" " + meta.split(b" ")[2] + b"\t" + name + b"\0"
                    for meta, _, name in (r.partition(b"\t") for r in entries.split(b"\0") if r))
    linked.git.run("update-index", "-z", "--index-info", input=info)
    linked.git.run("update-index", "-q", "--refresh", check=False)


def _notes(repo: GitRepo, tree: str, head: str | None, warnings: tuple[str, ...]) -> list[str]:
    notes = []
    if head is None:
        notes.append("the repository has no commits yet: the start point is a commit of "
                      "your files alone")
    elif repo.head_branch() is None:
        notes.append(f"HEAD is detached (at {head[:10]}): the run starts from that commit")
    if subs := submodules(repo, tree):
        notes.append(f"submodules are not checked out in the worktree (empty folders there): "
                     f"{', '.join(subs)}; the run cannot change them and apply leaves them alone")
    notes += [f"not copied: {w.removeprefix('left out ')}" for w in warnings]
    return notes


def save_result(worktree: TaskWorktree) -> str:
    """Commit the worktree's files as they are now onto its branch (when they changed);
    returns the branch's commit. The run's own index and HEAD follow it."""
    linked = open_repo(worktree.path)
    tree = worktree_snapshot(linked, raw=True).tree
    tip = linked.resolve(worktree.ref)
    if tip is None:
        raise WorktreeError(f"branch {worktree.branch} is gone")
    if linked.resolve(f"{tip}^{{tree}}") == tree:
        return tip
    new = commit(linked, tree, [tip], "tessera: the run's changes\n")
    linked.git.run("update-ref", worktree.ref, new, tip)
    linked.git.run("read-tree", "-m", tree, check=False)  # the index follows HEAD
    linked.git.run("update-index", "-q", "--refresh", check=False)
    return new


def result_commit(repo: GitRepo, worktree: TaskWorktree) -> str:
    """The run's changes as a commit: saved from its worktree when that is still there,
    else its branch."""
    if Path(worktree.path).is_dir():
        return save_result(worktree)
    tip = repo.resolve(worktree.ref)
    if tip is None:
        raise WorktreeError(f"the run's worktree and its branch {worktree.branch} are gone "
                            "(discarded): nothing to apply")
    return tip


def tree_of(repo: GitRepo, rev: str) -> str:
    return repo.resolve(f"{rev}^{{tree}}") or EMPTY_TREE


@dataclass(frozen=True)
class DiffSize:
    files: int = 0
    added: int = 0
    removed: int = 0

    def __str__(self) -> str:
        return f"{self.files} file(s) +{self.added} -{self.removed}"


def diff_size(repo: GitRepo, old: str, new: str) -> DiffSize:
    out = repo.git.run("diff-tree", "-r", "-z", "--numstat", "--no-renames", old, new).stdout
    files = added = removed = 0
    for record in out.split(b"\0"):
        parts = record.split(b"\t")
        if len(parts) < 3:
            continue
        files += 1
        added += int(parts[0]) if parts[0].isdigit() else 0
        removed += int(parts[1]) if parts[1].isdigit() else 0
    return DiffSize(files, added, removed)


def remove_worktree(repo: GitRepo, worktree: TaskWorktree, *, branch: bool) -> None:
    """Remove the worktree folder (and the branch too when `branch`)."""
    _remove(repo, Path(worktree.path), worktree.ref if branch else None)


def _remove(repo: GitRepo, path: Path, ref: str | None) -> None:
    if path.exists():
        proc = repo.git.run("worktree", "remove", "--force", "--force", str(path), check=False)
        if proc.returncode != 0 and path.exists():
            shutil.rmtree(path)  # ours alone: made under the data dir for this run
    repo.git.run("worktree", "prune", check=False)
    if ref is not None and repo.resolve(ref) is not None:
        repo.git.run("update-ref", "-d", ref)
