"""One editor session: a SessionDriver whose events, live stream and approval questions
go to the ACP client.

Updates are queued in the order they happen and sent by one task, so the editor sees
them in order; a prompt's answer waits until every update of its turn has gone out, and
an approval question waits until the editor has seen the call it asks about. Approvals
become `session/request_permission` with allow once / allow always / reject, which map
onto the same answers the terminal UI gives ("once", "always", "deny"); a cancelled
request is a denial. Cancelling the turn (`session/cancel`) cancels the task running it:
the loop records what streamed and the run finishes `cancelled`, stored and resumable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from acp.schema import AllowedOutcome, PermissionOption, ToolCallUpdate

from agent import events as ev
from agent.acp import updates as up
from agent.approval import CallFacts
from agent.backend import Delta
from agent.session_driver import CODING, Profile, SessionDriver, SessionOptions
from tools.base import SideEffect
from tools.editor_files import EditorFiles

log = logging.getLogger(__name__)

PERMISSION_OPTIONS = [
    PermissionOption(option_id="once", name="Allow once", kind="allow_once"),
    PermissionOption(option_id="always", name="Allow always (this session)", kind="allow_always"),
    PermissionOption(option_id="deny", name="Reject", kind="reject_once"),
]

STOP_REASONS = {"done": "end_turn", "budget": "max_turn_requests", "stuck": "end_turn",
                "error": "end_turn", "cancelled": "cancelled"}


class AcpSession:
    def __init__(self, conn: Any, session_id: str, options: SessionOptions, *,
                 editor: EditorFiles | None, profile: Profile | None = None,
                 resume: bool = False) -> None:
        self.conn, self.id = conn, session_id
        self.repo = options.repo.resolve()
        self._outbox: asyncio.Queue[Any] = asyncio.Queue()
        self._sender = asyncio.create_task(self._send_updates())
        self._loop = asyncio.get_running_loop()
        self._arguments: dict[str, dict[str, Any] | str] = {}
        self._previews: dict[str, dict[str, Any]] = {}
        self._unfinished: dict[str, None] = {}  # calls shown without a result yet, in order
        self.turn: asyncio.Task[ev.Finish] | None = None
        self._warming: asyncio.Task[Any] | None = None
        self.driver = SessionDriver(
            options, profile or CODING,
            approver=self._approve, on_delta=self._on_delta, editor=editor,
            session_id=None if resume else session_id,
        )
        self.driver.subscribe(self._on_event)

    # -- updates -------------------------------------------------------------------------

    def post(self, update: Any) -> None:
        """Queue an update for the editor (from any thread)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._outbox.put_nowait(update)
        else:
            self._loop.call_soon_threadsafe(self._outbox.put_nowait, update)

    async def flush(self) -> None:
        """Wait until every queued update has been sent."""
        await self._outbox.join()

    async def _send_updates(self) -> None:
        while True:
            update = await self._outbox.get()
            try:
                await self.conn.session_update(session_id=self.id, update=update)
            except Exception:  # a gone editor: the session is stored all the same
                log.exception("could not send an update of session %s", self.id)
            finally:
                self._outbox.task_done()

    def _side_effects(self) -> dict[str, SideEffect]:
        loop = self.driver.loop
        return {t.name: t.side_effect for t in loop.settings.tools} if loop else {}

    def _on_delta(self, delta: Delta) -> None:
        update = up.delta_update(delta)
        if update is not None:
            self.post(update)

    def _on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.ToolCall):
            self._arguments[event.id] = event.arguments
            self._unfinished[event.id] = None
            self.post(up.tool_call_start(self.repo, event, self._side_effects().get(event.name)))
        elif isinstance(event, ev.Approval) and event.decision == "requested":
            self._previews[event.call_id] = event.preview
        elif isinstance(event, ev.ToolResult):
            self._unfinished.pop(event.call_id, None)
            self.post(up.tool_call_done(self.repo, event, self._arguments.get(event.call_id)))
        elif isinstance(event, ev.Error):
            self.post(up.stored_updates(self.repo, [event], {})[0])

    def replay_history(self, events: list[ev.Event]) -> None:
        for update in up.stored_updates(self.repo, events, self._side_effects()):
            self.post(update)

    # -- approvals -----------------------------------------------------------------------

    async def _approve(self, facts: CallFacts, call: ev.ToolCall) -> str:
        await self.flush()  # the editor shows the call before it is asked about it
        preview = self._previews.pop(call.id, {})
        content = up.diff_content(self.repo, preview) if preview else []
        request = ToolCallUpdate(
            tool_call_id=call.id, title=up.tool_title(call.name, call.arguments),
            kind=up.tool_kind(call.name, facts.side_effect), status="pending",  # type: ignore[arg-type]
            content=content or None, locations=up.locations(self.repo, call.arguments) or None,
            raw_input=call.arguments,
        )
        response = await self.conn.request_permission(
            session_id=self.id, tool_call=request, options=PERMISSION_OPTIONS)
        outcome = response.outcome
        if isinstance(outcome, AllowedOutcome) and outcome.option_id in ("once", "always"):
            return outcome.option_id
        return "deny"  # rejected, or the request was cancelled

    # -- turns ---------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the tokenizer while the user is still typing (a second or two, which the
        first prompt would otherwise wait for)."""
        loop = self.driver.loop
        if loop is not None:
            self._warming = asyncio.create_task(asyncio.to_thread(lambda: loop.counter))

    async def prompt(self, text: str, images: list[dict[str, Any]]) -> str:
        """Run one turn; the ACP stop reason."""
        self.turn = asyncio.create_task(self.driver.send(text, images))
        try:
            finish = await self.turn
        finally:
            self.turn = None
        for call_id in list(self._unfinished):  # stopped before it ran (a cancel)
            self.post(up.tool_call_stopped(call_id))
        self._unfinished.clear()
        await self.flush()
        return STOP_REASONS.get(finish.status, "end_turn")

    def cancel(self) -> None:
        if self.turn is not None and not self.turn.done():
            self.turn.cancel()

    async def close(self) -> None:
        """End a turn still running (the editor is gone) and let go of the store."""
        if self.turn is not None and not self.turn.done():
            self.turn.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.turn
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 2)
        self._sender.cancel()
        self.driver.close()
