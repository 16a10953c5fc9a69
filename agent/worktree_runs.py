"""Runs in their own git worktrees: made when a session starts, listed, applied to the
user's tree, discarded, and cleaned up once old.

A worktree run's `session_start` carries its `worktree` (tools.git.worktrees.TaskWorktree
as a dict), so the session itself says where it worked and what it started from; its
`repo` is the folder inside the worktree where the loop works. The worktrees live under
`<data dir>/worktrees/<session-id>`, never inside the repository. docs/worktrees.md.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from agent import events as ev
from agent import paths
from agent.sessions import SessionInfo, SessionNotFound, SessionStore
from tools.git.apply import ApplyResult, Chosen, apply_changes
from tools.git.repo import GitError, GitRepo, NotAGitRepo, open_repo
from tools.git.worktrees import (
    BRANCH_PREFIX,
    DiffSize,
    TaskWorktree,
    WorktreeError,
    create_worktree,
    diff_size,
    remove_worktree,
    result_commit,
    save_result,
)

log = logging.getLogger(__name__)
ENDED = ("done", "budget", "stuck", "error", "cancelled", "interrupted")


def worktrees_root() -> Path:
    return paths.data_dir() / "worktrees"


def start_worktree(repo: Path, session_id: str) -> tuple[TaskWorktree, Path]:
    """A worktree for a new session on the repository holding `repo`; returns it and the
    folder inside it that corresponds to `repo`. Raises WorktreeError."""
    try:
        origin = open_repo(repo)
    except NotAGitRepo as exc:
        raise WorktreeError(f"a worktree run needs a git repository: {exc}") from exc
    worktree = create_worktree(origin, worktrees_root() / session_id, BRANCH_PREFIX + session_id)
    inside = repo.resolve().relative_to(origin.root.resolve())
    return worktree, Path(worktree.path) / inside


def where_inside(worktree: TaskWorktree, folder: Path) -> Path:
    """`folder` of the user's tree, as the same folder in the worktree (else its top)."""
    try:
        return Path(worktree.path) / folder.resolve().relative_to(Path(worktree.origin).resolve())
    except ValueError:
        return Path(worktree.path)


@dataclass
class WorktreeRun:
    """A session that worked in a worktree, as `tessera tasks` shows it."""

    info: SessionInfo
    worktree: TaskWorktree

    @property
    def session_id(self) -> str:
        return self.info.id

    @property
    def present(self) -> bool:
        return Path(self.worktree.path).is_dir()

    @property
    def ended(self) -> bool:
        return self.info.status in ENDED

    def origin_repo(self) -> GitRepo:
        try:
            return open_repo(self.worktree.origin)
        except NotAGitRepo as exc:
            raise WorktreeError(f"the run's repository is gone: {exc}") from exc

    def has_branch(self) -> bool:
        return self.origin_repo().resolve(self.worktree.ref) is not None

    def size(self) -> DiffSize:
        repo = self.origin_repo()
        return diff_size(repo, self.worktree.base, result_commit(repo, self.worktree))


def find_run(store: SessionStore, ref: str) -> WorktreeRun:
    """The worktree run `ref` names (an id, a unique prefix, or `last`)."""
    try:
        session_id = store.resolve(ref)
        events = store.events(session_id)
    except SessionNotFound as exc:
        raise WorktreeError(str(exc)) from exc
    info = store.info(session_id)
    start = events[0] if events else None
    if info is None or not isinstance(start, ev.SessionStart) or not start.worktree:
        raise WorktreeError(f"session {session_id} did not run in a worktree "
                            "(`tessera run --worktree` or the tasks screen start such runs)")
    return WorktreeRun(info, TaskWorktree.from_dict(start.worktree))


def list_runs(store: SessionStore, repo: Path | None = None) -> list[WorktreeRun]:
    """Worktree runs (of the repository holding `repo`, when given), newest first, while
    their worktree or branch is there."""
    common = None
    if repo is not None:
        common = str(open_repo(repo).common_dir.resolve())
    roots = (str(worktrees_root()) + "/", str(worktrees_root().resolve()) + "/")
    runs = []
    for info in store.list(limit=100_000):
        if not info.repo.startswith(roots):
            continue
        try:
            run = find_run(store, info.id)
        except WorktreeError:
            continue
        if common is not None and run.worktree.common_dir != common:
            continue
        try:
            if run.present or run.has_branch():
                runs.append(run)
        except WorktreeError:
            continue  # the repository itself is gone
    return runs


def guard_running(run: WorktreeRun, store: SessionStore, verb: str) -> None:
    if run.info.status == "running" and store.running_elsewhere(run.session_id):
        raise WorktreeError(f"session {run.session_id} is still running: stop it before you "
                            f"{verb} it")


def apply_run(store: SessionStore, ref: str, chosen: Chosen | None = None) -> ApplyResult:
    """Bring the run's changes (or the `chosen` hunks of them) into the user's tree as
    uncommitted changes; a checkpoint first, so `tessera undo` reverts it. The worktree
    is removed afterwards; its branch keeps the changes until the run is discarded.
    Raises WorktreeError, tools.git.apply.ApplyConflict (nothing changed)."""
    run = find_run(store, ref)
    guard_running(run, store, "apply")
    repo = run.origin_repo()
    result = result_commit(repo, run.worktree)
    outcome = apply_changes(repo, run.worktree.base, result,
                            f"before applying run {run.session_id}", chosen)
    remove_worktree(repo, run.worktree, branch=False)
    return outcome


def discard_run(store: SessionStore, ref: str) -> WorktreeRun:
    """Remove the run's worktree and its branch (its session stays stored)."""
    run = find_run(store, ref)
    guard_running(run, store, "discard")
    remove_worktree(run.origin_repo(), run.worktree, branch=True)
    return run


def stale_runs(store: SessionStore, max_age_days: float, now: float | None = None
               ) -> list[WorktreeRun]:
    """Ended runs not touched for `max_age_days` whose worktree or branch is still there."""
    if max_age_days <= 0:
        return []
    cutoff = (now or time.time()) - max_age_days * 86400
    return [run for run in list_runs(store) if run.ended and run.info.updated < cutoff]


def orphaned_folders(store: SessionStore) -> list[Path]:
    """Folders under the worktrees root that no stored session knows."""
    root = worktrees_root()
    if not root.is_dir():
        return []
    return [folder for folder in sorted(root.iterdir())
            if folder.is_dir() and store.info(folder.name) is None]


def clean_up(store: SessionStore, max_age_days: float) -> list[WorktreeRun]:
    """Discard the stale runs; returns them."""
    removed = []
    for run in stale_runs(store, max_age_days):
        try:
            remove_worktree(run.origin_repo(), run.worktree, branch=True)
        except WorktreeError:
            continue
        removed.append(run)
    return removed


def discard_unstarted(worktree: TaskWorktree) -> None:
    """Remove the worktree and branch of a session that never started (a failure is
    logged: why the session did not start matters more)."""
    try:
        remove_worktree(open_repo(worktree.origin), worktree, branch=True)
    except (NotAGitRepo, GitError, OSError) as exc:
        log.warning("cannot remove the worktree %s: %s", worktree.path, exc)


def save_quietly(worktree: TaskWorktree) -> None:
    """Commit the worktree's files onto its branch (tools.git.worktrees.save_result), so
    the branch holds the run's work; a failure is logged (apply saves them again)."""
    try:
        save_result(worktree)
    except (WorktreeError, GitError, NotAGitRepo, OSError) as exc:
        log.warning("could not save the worktree %s: %s", worktree.path, exc)


def start_session_worktree(store: SessionStore, repo: Path, workdir: Path | None,
                           session_id: str, max_age_days: float
                           ) -> tuple[TaskWorktree, Path, Path | None]:
    """The worktree of a new session (ended runs past their age are removed first): it,
    and `repo` and `workdir` as the same folders in it."""
    clean_up(store, max_age_days)
    worktree, inside = start_worktree(repo, session_id)
    return worktree, inside, where_inside(worktree, workdir) if workdir else None


def resumed_worktree(session_id: str, events: list[ev.Event]) -> tuple[TaskWorktree, Path] | None:
    """The worktree a stored session works in and its folder there (None: it works in the
    user's tree). Raises WorktreeError when the worktree is gone."""
    start = events[0] if events else None
    if not isinstance(start, ev.SessionStart) or not start.worktree:
        return None
    if not Path(start.repo).is_dir():
        raise WorktreeError(f"session {session_id} ran in a worktree that is gone (applied or "
                            "discarded: see `tessera tasks`); start a new run instead")
    return TaskWorktree.from_dict(start.worktree), Path(start.repo)
