"""Checkpoints: the work tree and the index saved as private git commits, and undo.

A checkpoint is a commit under `refs/tessera/checkpoints/<id>` whose tree is the work
tree exactly as it was on disk (tracked files with their unstaged edits, and untracked
files that are not ignored), in the manner of `git stash` but without touching HEAD,
the branch, the index or the stash. Its parents keep everything it needs reachable, so
`git gc` cannot drop it:

- HEAD at the time (if the repository had a commit), for context;
- a commit whose tree is the index (the staged state), so undo restores staging too;
- when the index had merge conflicts, a commit holding their stages.

Metadata (label, time, work tree, kind) is one JSON line in the commit message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tools.git.repo import GitError, GitRepo
from tools.git.restore import (
    RestoreConflict,
    RestoreError,
    RestoreFailed,
    install_index,
    restore_files,
)
from tools.git.snapshot import (
    MAX_UNTRACKED_BYTES,
    IndexEntry,
    IndexState,
    decode_path,
    encode_path,
    index_state,
    worktree_snapshot,
)

REF_PREFIX = "refs/tessera/checkpoints/"
META_KEY = "Tessera-Checkpoint:"
DEFAULT_KEEP = 200
KIND_CHECKPOINT = "checkpoint"
KIND_SAFETY = "safety"  # taken automatically before a restore

__all__ = [
    "DEFAULT_KEEP",
    "Checkpoint",
    "CheckpointNotFound",
    "NothingToUndo",
    "RestoreConflict",
    "RestoreError",
    "RestoreFailed",
    "RestoreResult",
    "create_checkpoint",
    "get_checkpoint",
    "list_checkpoints",
    "prune_checkpoints",
    "restore_checkpoint",
]


class CheckpointNotFound(Exception):
    pass


class NothingToUndo(Exception):
    pass


@dataclass(frozen=True)
class Checkpoint:
    id: str
    ref: str
    commit_sha: str
    created_at: datetime
    label: str
    files: int  # files in the snapshot
    tree: str = ""  # the work tree
    index_tree: str = ""  # the index's merged entries
    conflicts_tree: str | None = None  # the index's conflict stages, if any
    intent_to_add: tuple[str, ...] = ()  # paths staged with `git add -N`
    head: str | None = None
    branch: str | None = None
    kind: str = KIND_CHECKPOINT
    worktree: str = ""
    warnings: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()  # on disk but not saved (too large, nested repo)
    max_untracked_bytes: int | None = MAX_UNTRACKED_BYTES

    def same_state(self, other: Checkpoint) -> bool:
        mine = (self.tree, self.index_tree, self.conflicts_tree, self.intent_to_add)
        return mine == (other.tree, other.index_tree, other.conflicts_tree, other.intent_to_add)


@dataclass
class RestoreResult:
    checkpoint: Checkpoint
    safety: Checkpoint  # the state just before restoring: restore it to undo the undo
    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept_ignored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    head_moved: tuple[str | None, str | None] | None = None  # (then, now) when HEAD differs


# -- storing ---------------------------------------------------------------------------


def _commit(repo: GitRepo, tree: str, parents: list[str], message: str) -> str:
    args = ["commit-tree", "--no-gpg-sign", tree]
    for parent in parents:
        args += ["-p", parent]
    return repo.out(*args, "-F", "-", input=message.encode("utf-8", "surrogateescape"))


def _store_conflicts(repo: GitRepo, entries: tuple[IndexEntry, ...]) -> tuple[str, str]:
    """A tree listing the conflict stages (and holding their blobs), and a commit of it."""
    listing = b"".join(
        f"{e.mode} {e.sha} {e.stage}\t".encode() + encode_path(e.path) + b"\0" for e in entries
    )
    listing_sha = repo.out("hash-object", "-w", "--stdin", input=listing)
    lines = [f"100644 blob {listing_sha}\tentries"]
    lines += sorted({f"100644 blob {e.sha}\tblob-{e.sha}" for e in entries if e.mode != "160000"})
    tree = repo.out("mktree", input=("\n".join(lines) + "\n").encode())
    return tree, _commit(repo, tree, [], "tessera index conflicts\n")


def _load_conflicts(repo: GitRepo, tree: str) -> tuple[IndexEntry, ...]:
    listing = repo.git.run("cat-file", "blob", f"{tree}:entries").stdout
    entries = []
    for record in listing.split(b"\0"):
        if record:
            meta, _, path = record.partition(b"\t")
            mode, sha, stage = meta.decode().split(" ")
            entries.append(IndexEntry(mode, sha, int(stage), decode_path(path)))
    return tuple(entries)


def _count_files(repo: GitRepo, tree: str) -> int:
    return repo.git.run("ls-tree", "-r", "-z", "--name-only", tree).stdout.count(b"\0")


def create_checkpoint(
    repo: GitRepo,
    label: str,
    *,
    keep: int | None = DEFAULT_KEEP,
    kind: str = KIND_CHECKPOINT,
    max_untracked_bytes: int | None = MAX_UNTRACKED_BYTES,
) -> Checkpoint:
    """Save the work tree and the index; touches neither, nor HEAD, branches or stash.

    `keep` prunes this work tree's checkpoints to the newest `keep` (None: no pruning).
    Untracked files over `max_untracked_bytes` are left out (listed in `warnings`).
    """
    created = datetime.now(UTC)
    snapshot = worktree_snapshot(repo, raw=True, max_untracked_bytes=max_untracked_bytes)
    index = index_state(repo)
    head = repo.head_sha()
    branch = repo.head_branch()
    index_commit = _commit(repo, index.tree, [], "tessera index\n")
    parents = ([head] if head else []) + [index_commit]
    conflicts_tree = None
    if index.unmerged:
        conflicts_tree, conflicts_commit = _store_conflicts(repo, index.unmerged)
        parents.append(conflicts_commit)
    files = _count_files(repo, snapshot.tree)
    meta = {
        "v": 1,
        "label": label,
        "created_at": created.isoformat(),
        "kind": kind,
        "worktree": repo.worktree_id,
        "files": files,
        "tree": snapshot.tree,
        "index_tree": index.tree,
        "conflicts_tree": conflicts_tree,
        "intent_to_add": list(index.intent_to_add),
        "head": head,
        "branch": branch,
        "warnings": list(snapshot.warnings),
        "left_out": list(snapshot.left_out),
        "max_untracked_bytes": max_untracked_bytes,
    }
    subject = " ".join(label.split()) or "(no label)"
    message = f"tessera {kind}: {subject}\n\n{META_KEY} {json.dumps(meta, ensure_ascii=True)}\n"
    sha = _commit(repo, snapshot.tree, parents, message)
    checkpoint_id = f"{created:%Y%m%d-%H%M%S}-{sha[:8]}"
    ref = REF_PREFIX + checkpoint_id
    repo.git.run("update-ref", "--no-deref", ref, sha, "")  # "" = must not exist yet
    if keep is not None:
        prune_checkpoints(repo, keep)
    return _from_meta(checkpoint_id, ref, sha, meta)


def _from_meta(checkpoint_id: str, ref: str, sha: str, meta: dict) -> Checkpoint:
    return Checkpoint(
        id=checkpoint_id,
        ref=ref,
        commit_sha=sha,
        created_at=datetime.fromisoformat(meta["created_at"]),
        label=meta.get("label", ""),
        files=int(meta.get("files", 0)),
        tree=meta["tree"],
        index_tree=meta["index_tree"],
        conflicts_tree=meta.get("conflicts_tree"),
        intent_to_add=tuple(meta.get("intent_to_add", ())),
        head=meta.get("head"),
        branch=meta.get("branch"),
        kind=meta.get("kind", KIND_CHECKPOINT),
        worktree=meta.get("worktree", ""),
        warnings=tuple(meta.get("warnings", ())),
        left_out=tuple(meta.get("left_out", ())),
        max_untracked_bytes=meta.get("max_untracked_bytes", MAX_UNTRACKED_BYTES),
    )


# -- listing ---------------------------------------------------------------------------


def list_checkpoints(repo: GitRepo, *, all_worktrees: bool = False) -> list[Checkpoint]:
    """This work tree's checkpoints, newest first."""
    out = repo.git.run(
        "for-each-ref", "--format=%(refname)%00%(objectname)%00%(contents)%00", REF_PREFIX
    ).stdout
    found = []
    for record in out.split(b"\0\n"):
        parts = record.split(b"\0")
        if len(parts) < 3:
            continue
        ref, sha, message = (p.decode("utf-8", "surrogateescape") for p in parts[:3])
        meta_line = next((ln for ln in message.splitlines() if ln.startswith(META_KEY)), None)
        if meta_line is None:
            continue  # not ours, or damaged: leave it alone
        try:
            meta = json.loads(meta_line[len(META_KEY) :])
            checkpoint = _from_meta(ref[len(REF_PREFIX) :], ref, sha, meta)
        except (ValueError, KeyError):
            continue
        if all_worktrees or checkpoint.worktree == repo.worktree_id:
            found.append(checkpoint)
    found.sort(key=lambda c: (c.created_at, c.id), reverse=True)
    return found


def get_checkpoint(repo: GitRepo, checkpoint_id: str) -> Checkpoint:
    """By full id, or by a prefix that names exactly one of this work tree's."""
    everything = list_checkpoints(repo, all_worktrees=True)
    for checkpoint in everything:
        if checkpoint.id == checkpoint_id:
            return checkpoint
    matches = [
        c for c in everything if c.id.startswith(checkpoint_id) and c.worktree == repo.worktree_id
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CheckpointNotFound(f"no checkpoint {checkpoint_id!r} (see `tessera checkpoints`)")
    raise CheckpointNotFound(
        f"{checkpoint_id!r} matches {len(matches)} checkpoints: "
        + ", ".join(c.id for c in matches[:5])
    )


def prune_checkpoints(repo: GitRepo, keep: int) -> list[str]:
    """Delete this work tree's checkpoints beyond the newest `keep`; returns their ids."""
    if keep < 1:
        raise ValueError("keep must be at least 1: the newest checkpoint is what undo uses")
    old = list_checkpoints(repo)[keep:]
    if old:
        commands = "".join(f"delete {c.ref} {c.commit_sha}\n" for c in old)
        repo.git.run("update-ref", "--stdin", input=commands.encode())
    return [c.id for c in old]


# -- restoring -------------------------------------------------------------------------


def _part_way(exc: Exception, safety: Checkpoint) -> str:
    return (
        f"restore stopped part-way: {exc}. The state before it is saved as {safety.id}: "
        f"`tessera undo --to {safety.id}` brings it back"
    )


def restore_checkpoint(
    repo: GitRepo, checkpoint_id: str | None = None, *, keep: int | None = DEFAULT_KEEP
) -> RestoreResult:
    """Bring back a checkpoint's files (bytes and modes) and index, exactly.

    First saves the current state as a "safety" checkpoint, so this can be undone.
    Without an id, restores the newest ordinary checkpoint that differs from the
    current state: repeated undos step further back instead of toggling.
    Files created since the checkpoint are removed; ignored files and `.git` are not
    touched. HEAD and branches never move (a note says when HEAD moved meanwhile).
    """
    target = get_checkpoint(repo, checkpoint_id) if checkpoint_id else None
    safety = create_checkpoint(
        repo,
        f"before undo to {checkpoint_id or 'newest'}",
        keep=None,
        kind=KIND_SAFETY,
        # The same size rule as the target, so both snapshots leave out the same files.
        max_untracked_bytes=target.max_untracked_bytes if target else MAX_UNTRACKED_BYTES,
    )
    if target is None:
        target = next(
            (
                c
                for c in list_checkpoints(repo)
                if c.kind != KIND_SAFETY and not c.same_state(safety)
            ),
            None,
        )
        if target is None:
            repo.git.run("update-ref", "-d", safety.ref, safety.commit_sha)
            raise NothingToUndo("no checkpoint differs from the current state: nothing to undo")
    unmerged = _load_conflicts(repo, target.conflicts_tree) if target.conflicts_tree else ()
    try:
        outcome = restore_files(repo, safety.tree, target.tree, keep=target.left_out)
    except RestoreConflict as exc:
        raise RestoreConflict(
            f"{exc}. Nothing was changed; the current state is also saved as {safety.id}."
        ) from exc
    except RestoreFailed as exc:
        raise RestoreFailed(_part_way(exc, safety)) from exc
    index = IndexState(target.index_tree, unmerged=unmerged, intent_to_add=target.intent_to_add)
    try:
        install_index(repo, index)
    except (OSError, RestoreError, GitError) as exc:
        raise RestoreFailed(_part_way(exc, safety) + " (the files were restored)") from exc
    if keep is not None:
        prune_checkpoints(repo, keep)
    head_now = repo.head_sha()
    return RestoreResult(
        checkpoint=target,
        safety=safety,
        restored=outcome.restored,
        removed=outcome.removed,
        kept_ignored=outcome.kept_ignored,
        skipped=outcome.skipped,
        head_moved=None if head_now == target.head else (target.head, head_now),
    )
