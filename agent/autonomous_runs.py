"""Autonomous runs (the TUI's `/run`): several at once, each its own stored session.

A run is a session driver (agent/session_driver.py) with no one to ask, as `tessera run`
drives it, awaited as an asyncio task in the caller's event loop: what the approval
policy would ask about is denied. Every event is stored (by the driver), kept (a bounded
tail) for a front end to show, and passed to a listener.

Each run works in its own git worktree (agent/worktree_runs.py) unless the config's
`worktree.tasks` is off: runs then never see each other's half-done edits, the user's
tree is untouched until `apply`, and `discard` drops a run's work.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from agent import events as ev
from agent.session_driver import SessionDriver, SessionOptions, SessionSetupError
from agent.sessions import SessionStore

if TYPE_CHECKING:
    from tools.git.apply import ApplyResult, Chosen
    from tools.git.worktrees import TaskWorktree

KEPT_EVENTS = 2000
ACTIVE = ("starting", "running")


@dataclass(eq=False)
class TaskRun:
    number: int
    task: str
    max_steps: int
    session_id: str = ""
    status: str = "starting"  # then running, or a finish status
    summary: str = ""
    step: int = 0
    spent_tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    events: deque[ev.Event] = field(default_factory=lambda: deque(maxlen=KEPT_EVENTS))
    handle: asyncio.Task | None = None
    worktree: TaskWorktree | None = None  # where it works, when in a worktree of its own
    landed: str = ""  # "applied" or "discarded" once its worktree is gone
    note: str = ""  # why it works in the user's tree although worktrees are on

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started


class TaskManager:
    def __init__(
        self,
        settings: SessionOptions,
        store: SessionStore,
        listener: Callable[[TaskRun, ev.Event | None], None],
        worktree: bool | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.listener = listener  # (run, event); event None for a status change
        self.worktree = worktree  # runs in worktrees of their own; None: the config says
        self.runs: list[TaskRun] = []

    def start(self, task: str) -> TaskRun:
        run = TaskRun(len(self.runs) + 1, task, self.settings.max_steps)
        self.runs.append(run)
        run.handle = asyncio.get_running_loop().create_task(self._drive(run))
        return run

    def cancel(self, run: TaskRun) -> bool:
        if run.handle is None or run.handle.done():
            return False
        run.handle.cancel()
        return True

    @property
    def active(self) -> list[TaskRun]:
        return [r for r in self.runs if r.active]

    async def _drive(self, run: TaskRun) -> None:
        # Each run is a new session on the settings in force when it starts (`/model`
        # changes them for later runs).
        try:
            worktree = await asyncio.to_thread(self._use_worktree, run)
        except Exception as exc:  # a broken config: the driver would refuse it too
            self._fail(run, f"cannot start: {exc}")
            return
        driver = SessionDriver(replace(self.settings, resume=None, worktree=worktree),
                               store=self.store)
        driver.subscribe(lambda event: self._record(run, driver, event))
        try:
            await asyncio.to_thread(driver.prepare)
            run.worktree = driver.worktree
            run.status = "running"
            self.listener(run, None)
            await driver.start(run.task)
        except SessionSetupError as exc:
            self._fail(run, f"cannot start: {exc}")
        except asyncio.CancelledError:  # once the loop runs, it finishes `cancelled` itself
            self._fail(run, "cancelled before it started", status="cancelled")
        except Exception as exc:  # a bug must end this run visibly, not the app
            self._fail(run, f"internal error: {exc!r}")
        finally:
            driver.close()

    def _use_worktree(self, run: TaskRun) -> bool:
        if self.worktree is not None:
            return self.worktree
        from agent.config import load_config
        from tools.git.repo import NotAGitRepo, open_repo

        if not load_config(self.settings.repo).worktree_tasks:
            return False
        try:
            open_repo(self.settings.repo)
        except NotAGitRepo:  # no worktree is possible: the run works in the folder itself
            run.note = "not a git repository: the run works in your folder, without a worktree"
            return False
        return True

    # -- landing a run's work (blocking: call these in a thread) -------------------------

    def apply(self, run: TaskRun, chosen: Chosen | None = None) -> ApplyResult:
        """Bring the run's changes (or the `chosen` hunks) into the user's tree
        (agent.worktree_runs.apply_run). Raises WorktreeError, ApplyConflict."""
        from agent.worktree_runs import apply_run

        self.check_landable(run)
        result = apply_run(self.store, run.session_id, chosen)
        run.landed = "applied"
        return result

    def discard(self, run: TaskRun) -> None:
        from agent.worktree_runs import discard_run

        self.check_landable(run)
        discard_run(self.store, run.session_id)
        run.landed = "discarded"

    def check_landable(self, run: TaskRun) -> None:
        from tools.git.worktrees import WorktreeError

        if run.worktree is None or not run.session_id:
            raise WorktreeError(f"run #{run.number} works in your own tree: its changes are "
                                "there already (`tessera undo` reverts them)")
        if run.active:
            raise WorktreeError(f"run #{run.number} is still running: stop it first (x)")
        if run.landed:
            raise WorktreeError(f"run #{run.number} was {run.landed} already")

    def _record(self, run: TaskRun, driver: SessionDriver, event: ev.Event) -> None:
        run.events.append(event)
        match event:
            case ev.SessionStart(session_id=session_id):
                run.session_id = session_id
            case ev.Effort(step=step):
                run.step = step
            case ev.Finish(status=status, summary=summary):
                run.status, run.summary, run.ended = status, summary, time.monotonic()
        if driver.loop is not None:
            run.spent_tokens = driver.loop.spent_tokens
        self.listener(run, event)

    def _fail(self, run: TaskRun, message: str, status: str = "error") -> None:
        run.status, run.summary, run.ended = status, message, time.monotonic()
        self.listener(run, None)
