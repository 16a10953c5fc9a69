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
import uuid
from typing import Any

from acp import helpers as h
from acp.schema import AllowedOutcome, PermissionOption, ToolCallUpdate

from agent import events as ev
from agent.acp import updates as up
from agent.approval import CallFacts
from agent.ask_user import Question
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

PLAN_OPTIONS = [
    PermissionOption(option_id="approve-ask", name="Approve: ask before edits", kind="allow_once"),
    PermissionOption(option_id="approve-auto-edit", name="Approve: edit without asking",
                     kind="allow_always"),
    PermissionOption(option_id="keep-planning", name="Keep planning", kind="reject_once"),
]
PLAN_APPROVALS = {"approve-ask": "ask", "approve-auto-edit": "auto-edit"}

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
        self.plan_mode = False  # the next prompts plan only (the editor's "plan" mode)
        self.busy = False  # a prompt is being answered (its turns, a plan's decision)
        self._plan: ev.Plan | None = None  # the plan the current turn ended with
        self._warming: asyncio.Task[Any] | None = None
        self.driver = SessionDriver(
            options, profile or CODING,
            approver=self._approve, on_delta=self._on_delta, editor=editor, asker=self._ask,
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
        elif isinstance(event, ev.Todo):
            self.post(up.todo_plan(event.items))
        elif isinstance(event, ev.Plan):
            self._plan = event  # its text was streamed or shown as exit_plan's result
            self.post(up.todo_plan([{"content": step, "status": "pending"}
                                    for step in event.steps]))
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

    async def _ask(self, question: Question) -> str:
        """ask_user in an editor: ACP v1 has no question of its own, so the options become
        the buttons of a permission request; skipping (or a cancel) leaves it to the model."""
        await self.flush()
        options = [PermissionOption(option_id=str(index), name=text, kind="allow_once")
                   for index, text in enumerate(question.options)]
        options.append(PermissionOption(option_id="skip", name="Skip: let the agent decide",
                                        kind="reject_once"))
        request = ToolCallUpdate(tool_call_id=question.call_id, title=question.question,
                                 kind="other", status="pending")
        response = await self.conn.request_permission(
            session_id=self.id, tool_call=request, options=options)
        outcome = response.outcome
        if isinstance(outcome, AllowedOutcome) and outcome.option_id.isdigit():
            return question.options[int(outcome.option_id)]
        return ""

    async def _decide_plan(self, plan: ev.Plan) -> str | None:
        """Ask the editor what to do with a finished plan: the approval policy to carry it
        out under, or None to keep planning."""
        call_id = f"plan-{uuid.uuid4().hex[:12]}"
        self.post(h.start_tool_call(call_id, "Plan ready: start coding?", kind="switch_mode",
                                    status="pending",
                                    content=[h.tool_content(h.text_block(plan.text))]))
        await self.flush()
        request = ToolCallUpdate(tool_call_id=call_id, title="Plan ready: start coding?",
                                 kind="switch_mode", status="pending")
        response = await self.conn.request_permission(
            session_id=self.id, tool_call=request, options=PLAN_OPTIONS)
        outcome = response.outcome
        chosen = outcome.option_id if isinstance(outcome, AllowedOutcome) else None
        approval = PLAN_APPROVALS.get(chosen or "")
        self.post(h.update_tool_call(call_id, status="completed" if approval else "failed"))
        return approval

    # -- turns ---------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the tokenizer while the user is still typing (a second or two, which the
        first prompt would otherwise wait for)."""
        loop = self.driver.loop
        if loop is not None:
            self._warming = asyncio.create_task(asyncio.to_thread(lambda: loop.counter))

    async def prompt(self, text: str, images: list[dict[str, Any]]) -> str:
        """Run one turn; the ACP stop reason. In plan mode the turn plans only, and a
        plan it ends with is offered for approval: approved, the same prompt goes on to
        carry it out (plan mode ends); rejected, plan mode stays on."""
        self.busy = True
        try:
            return await self._prompt(text, images)
        finally:
            self.busy = False

    async def _prompt(self, text: str, images: list[dict[str, Any]]) -> str:
        from agent.plan import approve_plan, plan_profile, plan_request, reject_plan

        if self.plan_mode:
            if self.driver.profile.name != "plan":
                self.driver.set_profile(plan_profile())
            text = plan_request(text)
        elif self.driver.profile.name == "plan":  # plan mode was left unapproved
            self.driver.set_profile(CODING)
        self._plan = None
        finish = await self._run(self.driver.send(text, images))
        if self.plan_mode and self._plan is not None and finish.status == "done":
            plan, approval = self._plan, await self._decide_plan(self._plan)
            if approval is None:
                await reject_plan(self.driver, plan.text)
            else:
                self.plan_mode = False
                self.post(h.update_current_mode(approval))
                finish = await self._run(approve_plan(self.driver, plan.text, approval))
        for call_id in list(self._unfinished):  # stopped before it ran (a cancel)
            self.post(up.tool_call_stopped(call_id))
        self._unfinished.clear()
        await self.flush()
        return STOP_REASONS.get(finish.status, "end_turn")

    async def _run(self, work: Any) -> ev.Finish:
        """Await a turn as the task `cancel` stops."""
        self.turn = asyncio.create_task(work)
        try:
            return await self.turn
        finally:
            self.turn = None

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
