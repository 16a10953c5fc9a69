"""Autonomous runs (the TUI's `/run`): several at once, each its own stored session.

A run is a session driver (agent/session_driver.py) with no one to ask, as `tessera run`
drives it, awaited as an asyncio task in the caller's event loop: what the approval
policy would ask about is denied. Every event is stored (by the driver), kept (a bounded
tail) for a front end to show, and passed to a listener.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from agent import events as ev
from agent.session_driver import SessionDriver, SessionOptions, SessionSetupError
from agent.sessions import SessionStore

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
    ) -> None:
        self.settings = settings
        self.store = store
        self.listener = listener  # (run, event); event None for a status change
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
        driver = SessionDriver(replace(self.settings, resume=None), store=self.store)
        driver.subscribe(lambda event: self._record(run, driver, event))
        try:
            await asyncio.to_thread(driver.prepare)
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
