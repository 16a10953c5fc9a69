"""`tessera checkpoints` lists checkpoints; `tessera undo [--to ID]` restores one."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tools.git.repo import GitRepo

_LIST_LIMIT = 10  # paths shown per group in undo's report


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="repository (default: cwd)")
    if command == "undo":
        parser.add_argument(
            "--to",
            metavar="ID",
            help="checkpoint id or unique prefix (default: the newest that differs from now)",
        )
    else:
        parser.add_argument(
            "--all", action="store_true", help="include checkpoints of other linked worktrees"
        )


def age(when: datetime, now: datetime | None = None) -> str:
    seconds = max(0, int(((now or datetime.now(UTC)) - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _paths(verb: str, paths: list[str]) -> str:
    shown = ", ".join(paths[:_LIST_LIMIT])
    more = f" and {len(paths) - _LIST_LIMIT} more" if len(paths) > _LIST_LIMIT else ""
    noun = "file" if len(paths) == 1 else "files"
    return f"  {verb} {len(paths)} {noun}: {shown}{more}"


def _list(repo: GitRepo, show_all: bool) -> int:
    from tools.git.checkpoints import list_checkpoints

    checkpoints = list_checkpoints(repo, all_worktrees=show_all)
    if not checkpoints:
        print(f"No checkpoints in {repo.root} yet.")
        return 0
    print(f"{'ID':<26} {'AGE':>8}  {'FILES':>6}  LABEL")
    for c in checkpoints:
        label = c.label if c.kind == "checkpoint" else f"[{c.kind}] {c.label}"
        if show_all and c.worktree:
            label += f"  (worktree {c.worktree})"
        print(f"{c.id:<26} {age(c.created_at):>8}  {c.files:>6}  {label}")
    return 0


def _undo(repo: GitRepo, checkpoint_id: str | None) -> int:
    from tools.git.checkpoints import restore_checkpoint

    result = restore_checkpoint(repo, checkpoint_id)
    target = result.checkpoint
    print(f"Restored checkpoint {target.id} ({target.label!r}, {age(target.created_at)}).")
    if result.restored:
        print(_paths("restored", result.restored))
    if result.removed:
        print(_paths("removed (created since)", result.removed))
    if result.kept_ignored:
        print(_paths("kept (ignored)", result.kept_ignored))
    if result.skipped:
        print(_paths("left alone (submodules, or not saved in the checkpoint)", result.skipped))
    if not (result.restored or result.removed):
        print("  the files were already as in the checkpoint; the index was restored")
    if result.head_moved:
        then, now = (sha[:10] if sha else "(no commit)" for sha in result.head_moved)
        print(
            f"Note: HEAD moved since the checkpoint ({then} -> {now}); branches were not changed."
        )
    print(
        f"The state before this undo is saved as {result.safety.id}: "
        f"`tessera undo --to {result.safety.id}` brings it back."
    )
    return 0


def run(args: argparse.Namespace) -> int:
    from tools.git.checkpoints import CheckpointNotFound, NothingToUndo, RestoreError
    from tools.git.repo import GitError, NotAGitRepo, open_repo

    try:
        repo = open_repo(args.repo)
        if args.command == "undo":
            return _undo(repo, args.to)
        return _list(repo, args.all)
    except NotAGitRepo as exc:
        print(f"tessera {args.command}: {exc}", file=sys.stderr)
        return 2
    except (CheckpointNotFound, NothingToUndo, RestoreError, GitError) as exc:
        print(f"tessera {args.command}: {exc}", file=sys.stderr)
        return 1
