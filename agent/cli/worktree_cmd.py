"""`tessera tasks` lists runs that worked in their own git worktree; `tessera apply
SESSION [--hunks]` brings one's changes into your tree (three-way, a checkpoint first, so
`tessera undo` reverts it); `tessera discard SESSION` removes its worktree and branch.

Exit status: 0 done, 1 when the apply conflicts (nothing was changed) or the session is
not a worktree run, 2 outside a git repository. docs/worktrees.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from agent.sessions import SessionStore
    from agent.worktree_runs import WorktreeRun
    from tools.git.apply import ApplyResult, Chosen

_LIST_LIMIT = 10


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--repo", type=Path, default=None, help="repository (default: cwd)")
    if command == "tasks":
        parser.add_argument("--all", action="store_true", help="runs of every repository")
        return
    parser.add_argument("session", help="the run's session id (or a unique prefix, or `last`)")
    if command == "apply":
        parser.add_argument("--hunks", action="store_true",
                            help="ask about each hunk (y applies it, n leaves it, q stops asking)")


def run(args: argparse.Namespace) -> int:
    from agent.sessions import SessionStore
    from tools.git.apply import ApplyConflict
    from tools.git.checkpoints import RestoreError
    from tools.git.repo import GitError, NotAGitRepo
    from tools.git.worktrees import WorktreeError

    store = SessionStore()
    try:
        if args.command == "tasks":
            return _tasks(store, None if args.all else (args.repo or Path.cwd()))
        if args.command == "discard":
            from agent.worktree_runs import discard_run

            gone = discard_run(store, args.session)
            print(f"Discarded run {gone.session_id}: removed {gone.worktree.path} and branch "
                  f"{gone.worktree.branch}.")
            return 0
        return _apply(store, args.session, args.hunks, sys.stdin, sys.stdout)
    except ApplyConflict as exc:
        print(f"tessera apply: nothing was applied: the run's changes conflict with your "
              f"tree in {len(exc.files)} file(s):", file=sys.stderr)
        for path, why in exc.files.items():
            print(f"  {path}: {'; '.join(why) or 'conflict'}", file=sys.stderr)
        print("Commit or undo your edits to those files, or discard the run.", file=sys.stderr)
        return 1
    except NotAGitRepo as exc:
        print(f"tessera {args.command}: {exc}", file=sys.stderr)
        return 2
    except (WorktreeError, RestoreError, GitError) as exc:
        print(f"tessera {args.command}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _tasks(store: SessionStore, repo: Path | None) -> int:
    from agent.config import ConfigError, load_config
    from agent.worktree_runs import clean_up, list_runs

    try:
        max_age = load_config(repo).worktree_max_age_days
    except ConfigError as exc:
        print(f"tessera tasks: {exc}", file=sys.stderr)
        return 1
    for gone in clean_up(store, max_age):
        print(f"removed run {gone.session_id}: ended over {max_age:g} days ago "
              "(worktree.max_age_days)")
    runs = list_runs(store, repo)
    if not runs:
        where = "" if repo is None else f" of {repo.resolve()}"
        print(f"No worktree runs{where}. `tessera run --worktree \"TASK\"` starts one.")
        return 0
    print(f"{'SESSION':<23} {'STATUS':<11} {'DIFF':<22} {'BRANCH':<31} WORKTREE")
    for item in runs:
        print(f"{item.session_id:<23} {item.info.status:<11} {_size(item):<22} "
              f"{item.worktree.branch:<31} {_where(item)}")
    return 0


def _size(item: WorktreeRun) -> str:
    from tools.git.repo import GitError
    from tools.git.worktrees import WorktreeError

    try:
        return str(item.size())
    except (WorktreeError, GitError) as exc:
        return f"? ({exc})"[:22]


def _where(item: WorktreeRun) -> str:
    if item.present:
        return item.worktree.path
    return "(removed after apply; the branch keeps the changes)"


def _apply(store: SessionStore, ref: str, hunks: bool, stdin: TextIO, out: TextIO) -> int:
    from agent.worktree_runs import apply_run, find_run

    chosen = None
    if hunks:
        chosen = _ask_hunks(find_run(store, ref), stdin, out)
        if not chosen:
            print("No hunk chosen: nothing applied.", file=out)
            return 0
    result = apply_run(store, ref, chosen)
    _report(store, ref, result, out)
    return 0


def _report(store: SessionStore, ref: str, result: ApplyResult, out: TextIO) -> None:
    from agent.worktree_runs import find_run

    run = find_run(store, ref)
    if not result.changed:
        print(f"Run {run.session_id}: your tree already has its changes; nothing to do.",
              file=out)
        return
    print(f"Applied run {run.session_id} as uncommitted changes.", file=out)
    for verb, paths in (("changed", result.written), ("removed", result.removed)):
        if paths:
            more = f" and {len(paths) - _LIST_LIMIT} more" if len(paths) > _LIST_LIMIT else ""
            print(f"  {verb} {len(paths)} file(s): {', '.join(paths[:_LIST_LIMIT])}{more}",
                  file=out)
    print(f"`tessera undo` reverts the apply (checkpoint {result.checkpoint.id}); "
          f"`tessera discard {run.session_id}` drops the branch {run.worktree.branch}.", file=out)


def _ask_hunks(item: WorktreeRun, stdin: TextIO, out: TextIO) -> Chosen:
    """Each hunk of the run's diff, with a question; the ones answered y."""
    from tools.git.diffs import diff_trees
    from tools.git.worktrees import result_commit, tree_of

    repo = item.origin_repo()
    result = result_commit(repo, item.worktree)
    diffs = diff_trees(repo, tree_of(repo, item.worktree.base), tree_of(repo, result))
    chosen: Chosen = []
    for file_diff in diffs:
        for hunk in file_diff.hunks or [None]:
            print(f"\n{file_diff.path} ({file_diff.status})", file=out)
            if hunk is None:
                print("  (binary, a rename or a mode change: the whole file)", file=out)
            else:
                print(hunk.header, file=out)
                for kind, text in hunk.lines:
                    print(f"{kind}{text}", file=out)
            print("Apply this? [y,n,q] ", end="", file=out, flush=True)
            line = stdin.readline()
            answer = line.strip().lower()
            if answer == "q" or not line:  # the end of the input stops the questions too
                return chosen
            if answer == "y":
                chosen.append((file_diff, hunk))
    return chosen
