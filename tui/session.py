"""The bridge between the chat screen and the session driver (agent/session_driver.py).

The TUI never calls tools or backends itself. It hands user intents (a message, an
approval answer, an effort choice, a backend switch, an undo) to this object, which
passes them to the driver of the current conversation, and it hears back through one
listener: every event (stored first, by the driver), the live stream, approval requests
and engine-start progress. No Textual import here, so the bridge is tested without a
terminal.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import replace
from typing import Protocol

from agent import events as ev
from agent.approval import CallFacts
from agent.backend import Delta
from agent.session_driver import SessionDriver, SessionOptions, SessionSetupError
from agent.sessions import SessionStore

# The chat's options are a session's: repository, backend, resume, approval, effort, ...
ChatOptions = SessionOptions

__all__ = ["ChatOptions", "ChatSession", "SessionListener", "SessionSetupError"]


class SessionListener(Protocol):
    def session_event(self, event: ev.Event) -> None: ...

    def session_delta(self, delta: Delta) -> None: ...

    def request_approval(self, facts: CallFacts, call: ev.ToolCall) -> Awaitable[str]:
        """Resolves to "once", "always" or "deny"."""
        ...

    def session_progress(self, text: str) -> None:
        """A line about a slow start (the local engine loading); may come from any thread."""
        ...


class ChatSession:
    """One chat: a conversation at a time (`new_conversation` starts another), each
    driven by its own SessionDriver over the chat's one session store."""

    def __init__(self, options: ChatOptions, listener: SessionListener | None = None):
        self.options = options
        self.listener: SessionListener | None = listener  # the screen sets itself here
        self.store = SessionStore(options.db_path)
        self.driver = self._driver(options)

    def _driver(self, options: ChatOptions) -> SessionDriver:
        # The listener may be set after this object is made (the screen is made with
        # it), so the driver's collaborators ask for the current one.
        driver = SessionDriver(options, approver=self._approve, on_delta=self._delta,
                               on_progress=self._progress, store=self.store)
        driver.subscribe(self._event)
        return driver

    def _event(self, event: ev.Event) -> None:
        if self.listener is not None:
            self.listener.session_event(event)

    def _delta(self, delta: Delta) -> None:
        if self.listener is not None:
            self.listener.session_delta(delta)

    def _progress(self, text: str) -> None:
        if self.listener is not None:
            self.listener.session_progress(text)

    async def _approve(self, facts: CallFacts, call: ev.ToolCall) -> str:
        if self.listener is None:
            return "deny"
        return await self.listener.request_approval(facts, call)

    # -- the conversation's state ------------------------------------------------------

    @property
    def loop(self):
        """The conversation's agent.loop.AgentLoop, once built (else None)."""
        return self.driver.loop

    @property
    def session_id(self) -> str | None:
        return self.driver.session_id

    @property
    def backend_spec(self) -> str | None:
        return self.driver.backend_spec

    @property
    def running(self) -> bool:
        return self.driver.running

    @property
    def context_window(self) -> int | None:
        """Tokens the model serves, once the backend said (learned before the first send)."""
        return self.driver.context_window

    # -- intents ---------------------------------------------------------------------

    def load_resumed(self) -> list[ev.Event]:
        """The stored events of the session to continue (empty for a new session); raises
        SessionSetupError when there is no such session."""
        events = self.driver.open()
        self.options.approval = self.driver.options.approval
        self.options.effort = self.driver.options.effort
        return events

    def prepare(self) -> None:
        """Build the loop now (it is otherwise built on the first message); raises
        SessionSetupError when the backend or the repository is unusable."""
        self.driver.prepare()

    async def send(self, text: str, images: list[dict] | None = None) -> ev.Finish:
        """One user turn, run until the model answers, a budget ends it, or it is
        cancelled (cancelling the task that awaits this ends it with `cancelled`).
        `images` are stored images (agent.attachments.attach) shown with the text."""
        return await self.driver.send(text, images)

    async def compact(self) -> ev.Compaction:
        """Compact the conversation now (`/compact`); SessionDriver.compact says what it
        raises."""
        return await self.driver.compact()

    def set_effort(self, mode: str) -> str:
        mode = self.driver.set_effort(mode)
        self.options.effort = mode
        return mode

    def switch_backend(self, spec: str) -> str:
        """Use the backend `spec` (`replay:FILE`, `local`, `openai:URL`) from the next step
        on, keeping the conversation; raises SessionSetupError for a spec
        agent.backends.make_backend refuses. Returns the spec."""
        self.driver.switch_backend(spec)
        self.options.backend = spec
        return spec

    def undo(self):
        """Restore the newest checkpoint that differs from the work tree (blocking: run it
        in a thread). Returns tools.git.checkpoints.RestoreResult."""
        return self.driver.undo()

    def checkpoints(self):
        return self.driver.checkpoints()

    def sessions(self, limit: int = 20, text: str = "", repo: str = ""):
        """Newest first; with `text` or `repo`, those that match (SessionStore.search)."""
        return self.store.search(text, repo, limit)

    def processes(self) -> list[dict]:
        """The conversation's background processes (SessionDriver.processes)."""
        return self.driver.processes()

    def new_conversation(self) -> None:
        """Forget the conversation (the stored session stays); the next message starts
        a fresh session, on the backend and effort in use now."""
        old = self.driver
        old.close()
        self.options.backend = old.backend_spec or self.options.backend
        self.driver = self._driver(replace(self.options, resume=None))

    def close(self) -> None:
        self.driver.close()
        self.store.close()
