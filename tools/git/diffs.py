"""Structured diffs for review, and reverting one hunk.

Every diff is tree against tree: the work tree side is a snapshot taken through a
temporary index (so untracked files show up as added, and the user's index is never
written), compared with `git diff-tree -p -M`.
"""

from __future__ import annotations

import os
import stat

from tools.atomic import write_atomically
from tools.git.checkpoints import Checkpoint, create_checkpoint, get_checkpoint
from tools.git.patch import DiffParseError, FileDiff, Hunk, parse_diff
from tools.git.repo import GitRepo
from tools.git.snapshot import EMPTY_TREE, index_state, worktree_snapshot

__all__ = [
    "DiffParseError",
    "FileDiff",
    "Hunk",
    "HunkMismatch",
    "diff_checkpoints",
    "diff_staged",
    "diff_trees",
    "diff_worktree_vs_base",
    "diff_worktree_vs_checkpoint",
    "parse_diff",
    "revert_hunk",
]

_DIFF_OPTIONS = (
    "-p",
    "-r",
    "-M",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)


class HunkMismatch(Exception):
    """The file no longer contains the hunk's new side (edited since the diff)."""


def diff_trees(repo: GitRepo, old_tree: str, new_tree: str, context: int = 3) -> list[FileDiff]:
    out = repo.git.run("diff-tree", *_DIFF_OPTIONS, f"-U{context}", old_tree, new_tree).stdout
    return parse_diff(out)


def _tree_of(repo: GitRepo, rev: str) -> str:
    tree = repo.resolve(f"{rev}^{{tree}}")
    if tree is None:
        if rev == "HEAD" and repo.head_sha() is None:
            return EMPTY_TREE  # no commits yet: everything is new
        raise ValueError(f"{rev!r} does not name a commit or tree in {repo.root}")
    return tree


def diff_worktree_vs_checkpoint(repo: GitRepo, checkpoint_id: str) -> list[FileDiff]:
    """What changed on disk since a checkpoint (exact bytes on both sides)."""
    checkpoint = get_checkpoint(repo, checkpoint_id)
    return diff_trees(repo, checkpoint.tree, worktree_snapshot(repo, raw=True).tree)


def diff_worktree_vs_base(repo: GitRepo, base: str = "HEAD") -> list[FileDiff]:
    """The work tree (untracked files included) against a commit, as `git diff` sees it."""
    return diff_trees(repo, _tree_of(repo, base), worktree_snapshot(repo, raw=False).tree)


def diff_staged(repo: GitRepo) -> list[FileDiff]:
    """The index against HEAD (`git diff --cached`); conflicted paths are left out."""
    return diff_trees(repo, _tree_of(repo, "HEAD"), index_state(repo).tree)


def diff_checkpoints(repo: GitRepo, old_id: str, new_id: str) -> list[FileDiff]:
    old, new = get_checkpoint(repo, old_id), get_checkpoint(repo, new_id)
    return diff_trees(repo, old.tree, new.tree)


# -- reverting one hunk ----------------------------------------------------------------


def hunk_side_bytes(lines: list[str], missing_newline: bool) -> list[bytes]:
    block = [line.encode("utf-8", "surrogateescape") + b"\n" for line in lines]
    if block and missing_newline:
        block[-1] = block[-1][:-1]
    return block


def split_lines(data: bytes) -> list[bytes]:
    """Lines as git counts them: split on LF only, each keeping its LF."""
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _find(content: list[bytes], block: list[bytes], expected: int) -> int:
    """Where `block` sits in `content`: at `expected` if it is there, else the nearest."""
    if content[expected : expected + len(block)] == block:
        return expected
    found = [
        i for i in range(len(content) - len(block) + 1) if content[i : i + len(block)] == block
    ]
    if not found or not block:
        raise HunkMismatch("the file has changed since this diff: the hunk is no longer there")
    return min(found, key=lambda i: abs(i - expected))


def revert_hunk(repo: GitRepo, file_diff: FileDiff, hunk: Hunk) -> Checkpoint:
    """Undo one hunk in the work tree (new side back to old side); returns the checkpoint
    taken first, so the revert itself can be undone."""
    if file_diff.binary:
        raise HunkMismatch(f"{file_diff.path} is binary: restore the whole file instead")
    if "120000" in (file_diff.old_mode, file_diff.new_mode):
        raise HunkMismatch(f"{file_diff.path} is a symlink: restore the whole file instead")
    target = repo.root / file_diff.path
    checkpoint = create_checkpoint(repo, f"before reverting a hunk in {file_diff.path}")
    try:
        current = os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):
        current = None
    if current is not None and not stat.S_ISREG(current.st_mode):
        raise HunkMismatch(f"{file_diff.path} is not a regular file")
    content = split_lines(target.read_bytes()) if current else []
    new_block = hunk_side_bytes(hunk.side(new=True), hunk.new_missing_newline)
    old_block = hunk_side_bytes(hunk.side(new=False), hunk.old_missing_newline)
    expected = hunk.new_start - 1 if hunk.new_lines else hunk.new_start
    at = _find(content, new_block, expected) if new_block else min(expected, len(content))
    result = b"".join(content[:at] + old_block + content[at + len(new_block) :])
    if not result and file_diff.status == "added":
        target.unlink()  # the whole file was the addition
        return checkpoint
    if current is not None:
        perms = stat.S_IMODE(current.st_mode)
    else:
        perms = 0o755 if file_diff.old_mode == "100755" else 0o644
    write_atomically(target, result, mode=perms)
    return checkpoint
