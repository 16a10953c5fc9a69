"""The bridge between the screen and the agent: one interactive session.

The TUI never calls tools or backends itself. It hands user intents (a message, an
approval answer, a stop, an effort choice, an undo) to this object, which drives the
agent loop through its public API and passes every event, stored first, to a listener.
No Textual import here, so the bridge is tested without a terminal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent import events as ev
from agent.approval import CallFacts
from agent.backend import Delta
from agent.sessions import SessionNotFound, SessionStore, new_session_id


class SessionSetupError(Exception):
    """The session cannot start (bad repository, unusable backend, unknown session)."""


class SessionListener(Protocol):
    def session_event(self, event: ev.Event) -> None: ...

    def session_delta(self, delta: Delta) -> None: ...

    def request_approval(self, facts: CallFacts, call: ev.ToolCall) -> Awaitable[str]:
        """Resolves to "once", "always" or "deny"."""
        ...

    def session_progress(self, text: str) -> None:
        """A line about a slow start (the local engine loading); may come from any thread."""
        ...


@dataclass
class ChatOptions:
    repo: Path
    backend: str | None = None
    resume: str | None = None  # a session id (or prefix), or "last"
    db_path: Path | None = None
    approval: str | None = None
    effort: str | None = None
    repo_map_tokens: int = 1024  # the map of the repository in the system prompt (0: none)


class ChatSession:
    def __init__(self, options: ChatOptions, listener: SessionListener | None = None):
        self.options = options
        self.listener: SessionListener | None = listener  # the screen sets itself here
        self.store = SessionStore(options.db_path)
        self.session_id: str | None = None
        self.loop = None  # agent.loop.AgentLoop once the first message is sent
        self.backend_spec: str | None = options.backend
        self._stored: list[ev.Event] = []
        # A resumed replay session skips the turns it has used, unless /model switched
        # to another backend before the loop was built.
        self._skip_replayed = True
        self.running = False

    # -- opening -------------------------------------------------------------------

    def load_resumed(self) -> list[ev.Event]:
        """The stored events of the session to continue (empty for a new session)."""
        if not self.options.resume:
            return []
        try:
            self.session_id = self.store.resolve(self.options.resume)
            self._stored = self.store.events(self.session_id)
        except SessionNotFound as exc:
            raise SessionSetupError(str(exc)) from exc
        start = self._stored[0] if self._stored else None
        if isinstance(start, ev.SessionStart) and not self.options.backend:
            self.backend_spec = start.backend
            self.options.approval = self.options.approval or start.approval
            self.options.effort = self.options.effort or start.effort
        return list(self._stored)

    def _build(self) -> None:
        from agent.runner import RunOptions, RunSetupError, build_loop

        run_options = RunOptions(
            task=None,
            repo=self.options.repo,
            backend=self.options.backend,
            effort=self.options.effort,
            approval=self.options.approval,
            db_path=self.options.db_path,
        )
        try:
            loop, spec = build_loop(run_options, self._emit, self.backend_spec)
        except RunSetupError as exc:
            raise SessionSetupError(str(exc)) from exc
        # The loop takes its live-delta callback and its approver as settings; an
        # interactive session sets both after building it the way headless runs do.
        assert self.listener is not None, "a session needs a listener before it runs"
        loop.settings.on_delta = self.listener.session_delta
        loop.runner.approver = self._approve
        if hasattr(loop.backend, "progress") and loop.backend.progress is None:
            # The local backend reports the engine's start (minutes on first use).
            loop.backend.progress = self.listener.session_progress
        self.loop, self.backend_spec = loop, spec
        if self._stored:
            self._restore(loop)

    def _restore(self, loop) -> None:
        from agent.resume import CannotResume, replayed_turns, restore

        try:
            restore(loop, self._stored)
        except CannotResume as exc:
            raise SessionSetupError(str(exc)) from exc
        skip = getattr(loop.backend, "skip", None)
        if skip is not None and self._skip_replayed:
            skip(replayed_turns(self._stored))

    # -- driving -------------------------------------------------------------------

    def _emit(self, event: ev.Event) -> None:
        assert self.session_id is not None
        self.store.append(self.session_id, event)  # stored before it is shown
        if self.listener is not None:
            self.listener.session_event(event)

    async def _approve(self, facts: CallFacts, call: ev.ToolCall) -> str:
        if self.listener is None:
            return "deny"
        return await self.listener.request_approval(facts, call)

    def prepare(self) -> None:
        """Build the loop now (it is otherwise built on the first message); raises
        SessionSetupError when the backend or the repository is unusable."""
        if self.loop is None:
            self._build()

    async def send(self, text: str, images: list[dict] | None = None) -> ev.Finish:
        """One user turn, run until the model answers, a budget ends it, or it is
        cancelled (cancelling the task that awaits this ends it with `cancelled`).
        `images` are stored images (agent.attachments.attach) shown with the text."""
        self.prepare()
        loop = self.loop
        assert loop is not None
        self.running = True
        try:
            if self.session_id is None:
                from agent import paths
                from agent.context import build_system_context

                repo = self.options.repo.resolve()
                # The repository map can take a while on a big tree: off the UI thread.
                context = await asyncio.to_thread(
                    build_system_context,
                    repo,
                    repo,
                    repo_map_tokens=self.options.repo_map_tokens,
                    cache_dir=paths.data_dir() / "cache",
                )
                self.session_id = new_session_id()
                start = ev.SessionStart(
                    self.session_id,
                    text,
                    str(repo),
                    self.backend_spec or "",
                    loop.settings.effort.mode,
                    loop.settings.approval.mode,
                    context.prompt,
                    context.instruction_files,
                    list(images or []),
                )
                return await loop.run(start)
            await self._settle(loop)
            loop.add_user_message(text, images=images)
            return await loop.continue_run()
        finally:
            self.running = False

    async def _settle(self, loop) -> None:
        if self._stored or loop.history.pending_calls():
            # After a crash or a stop mid-step, every call gets its one result first.
            from agent.resume import finish_interrupted_calls

            await finish_interrupted_calls(loop)
            self._stored = []

    async def compact(self) -> ev.Compaction:
        """Compact the conversation now (`/compact`): the model summarises the older
        turns (agent.loop.AgentLoop.compact). Raises agent.compaction.CompactionError
        (NothingToCompact when the history is too short), SessionSetupError, or the
        backend's BackendError; cancelling the task that awaits it changes nothing."""
        from agent.compaction import NothingToCompact

        if self.session_id is None:
            raise NothingToCompact("nothing to compact yet: the conversation has not started")
        self.prepare()
        loop = self.loop
        assert loop is not None
        self.running = True
        try:
            await self._settle(loop)
            return await loop.compact(reason="user")
        finally:
            self.running = False

    # -- settings and safety ---------------------------------------------------------

    def set_effort(self, mode: str) -> str:
        from agent.effort import MODES

        if mode not in MODES:
            raise ValueError(f"effort must be one of {', '.join(MODES)}")
        self.options.effort = mode
        if self.loop is not None:
            self.loop.settings.effort.mode = mode
        return mode

    def switch_backend(self, spec: str) -> str:
        """Use the backend `spec` (`replay:FILE`, `local`, `openai:URL`) from the next step
        on, keeping the conversation; raises SessionSetupError for a spec
        agent.backends.make_backend refuses. Returns the spec."""
        from agent.backend import BackendError
        from agent.backends import make_backend

        if self.running:
            raise SessionSetupError("stop the model first (Esc): it is working")
        try:
            backend = make_backend(spec)
        except BackendError as exc:
            raise SessionSetupError(str(exc)) from exc
        if self.loop is not None:
            if hasattr(backend, "progress") and backend.progress is None and self.listener:
                backend.progress = self.listener.session_progress
            self.loop.backend = backend
        else:  # built with the next message, on this backend, from its first turn
            self._skip_replayed = False
        self.backend_spec = self.options.backend = spec
        return spec

    def undo(self):
        """Restore the newest checkpoint that differs from the work tree (blocking: run it
        in a thread). Returns tools.git.checkpoints.RestoreResult."""
        from tools.git.checkpoints import restore_checkpoint
        from tools.git.repo import open_repo

        return restore_checkpoint(open_repo(self.options.repo))

    def checkpoints(self):
        from tools.git.checkpoints import list_checkpoints
        from tools.git.repo import open_repo

        return list_checkpoints(open_repo(self.options.repo))

    def sessions(self, limit: int = 20):
        return self.store.list(limit)

    def new_conversation(self) -> None:
        """Forget the conversation (the stored session stays); the next message starts
        a fresh session."""
        self.loop = None
        self.session_id = None
        self._stored = []

    def close(self) -> None:
        self.store.close()
