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
from agent.ask_user import Question
from agent.backend import Delta
from agent.session_driver import (
    CODING,
    Profile,
    SessionDriver,
    SessionOptions,
    SessionSetupError,
)
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

    def ask_user(self, question: Question) -> Awaitable[str]:
        """The model's question (`ask_user`): resolves to the chosen option or the user's
        own words."""
        ...


class ChatSession:
    """One chat: a conversation at a time (`new_conversation` starts another), each
    driven by its own SessionDriver over the chat's one session store."""

    def __init__(self, options: ChatOptions, listener: SessionListener | None = None):
        self.options = options
        self.listener: SessionListener | None = listener  # the screen sets itself here
        self.store = SessionStore(options.db_path)
        self.driver = self._driver(options)
        self.plan_mode = False  # the next messages plan only (/plan, shift+tab)

    def _driver(self, options: ChatOptions, profile: Profile = CODING) -> SessionDriver:
        # The listener may be set after this object is made (the screen is made with
        # it), so the driver's collaborators ask for the current one.
        driver = SessionDriver(options, profile, approver=self._approve, on_delta=self._delta,
                               on_progress=self._progress, store=self.store,
                               asker=self._ask)
        driver.subscribe(self._event)
        driver.start_mcp_servers()  # in the background: up by the first message
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

    async def _ask(self, question: Question) -> str:
        if self.listener is None:
            return ""  # the model is told nobody answered
        return await self.listener.ask_user(question)

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
        `images` are stored images (agent.attachments.attach) shown with the text.
        In plan mode the turn runs under the plan profile (agent/plan.py) and ends with
        a `plan` event for `approve_plan` or `reject_plan`."""
        from agent.plan import plan_profile, plan_request

        if self.plan_mode:
            if self.driver.profile.name != "plan":
                self.driver.set_profile(plan_profile())
            text = plan_request(text)
        elif self.driver.profile.name == "plan":  # plan mode was switched off unapproved
            self.driver.set_profile(CODING)
        return await self.driver.send(text, images)

    async def approve_plan(self, plan: str, approval: str, edited: bool = False) -> ev.Finish:
        """Carry the plan out in this session under `approval`; plan mode ends."""
        from agent.plan import approve_plan

        self.plan_mode = False
        self.options.approval = approval
        return await approve_plan(self.driver, plan, approval, edited)

    async def reject_plan(self, plan: str) -> None:
        """Record the rejection; plan mode stays on for the next message."""
        from agent.plan import reject_plan

        await reject_plan(self.driver, plan)

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

    def mcp_servers(self):
        """The MCP servers' states (tools.mcp.hub.ServerStatus) and the configuration's
        warnings about them (`/mcp`)."""
        hub = self.driver.mcp
        return (hub.status() if hub is not None else []), list(self.driver.mcp_warnings)

    def sessions(self, limit: int = 20, text: str = "", repo: str = ""):
        """Newest first; with `text` or `repo`, those that match (SessionStore.search)."""
        return self.store.search(text, repo, limit)

    def processes(self) -> list[dict]:
        """The conversation's background processes (SessionDriver.processes)."""
        return self.driver.processes()

    def new_conversation(self, profile: Profile = CODING) -> None:
        """Forget the conversation (the stored session stays); the next message starts
        a fresh session, on the backend and effort in use now, of the kind `profile`
        says (`/init` starts one that writes AGENTS.md)."""
        old = self.driver
        old.close(reason="clear")
        self.options.backend = old.backend_spec or self.options.backend
        self.driver = self._driver(replace(self.options, resume=None), profile)

    def close(self) -> None:
        self.driver.close()
        self.store.close()
