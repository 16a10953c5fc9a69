"""The chat's plan mode and the model's questions: the panels that wait for the user
(a plan to approve, edit or reject; an `ask_user` chooser) and the plan-mode toggle.

A mixin of the chat screen (tui/screens/chat.py), which provides the session, the
status line, notes and `_answer_in` (mount a panel until its answer comes).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from textual import work

from agent import events as ev
from agent.ask_user import Question
from agent.plan import undecided_plan
from tui.widgets.plan import PlanAnswer, PlanPanel
from tui.widgets.question import QuestionPanel

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from textual.widget import Widget
    from textual.worker import Worker

    from tui.session import ChatSession
    from tui.widgets.status import Stats, StatusBar


class PlanningMixin:
    session: ChatSession
    stats: Stats
    status_bar: StatusBar
    _question: QuestionPanel | None
    _plan_panel: PlanPanel | None
    _pending_plan: ev.Plan | None
    _worker: Worker | None

    if TYPE_CHECKING:
        def note(self, text: str, level: str = "info") -> None: ...
        def _flush(self) -> None: ...
        def _set_state(self, state: str) -> None: ...
        def ticking(self) -> AbstractAsyncContextManager[None]: ...
        async def _answer_in(self, panel: Widget, answer: asyncio.Future[Any],
                             state: str) -> Any: ...

    async def ask_user(self, question: Question) -> str:
        """The model's question: a chooser above the message box until it is answered
        (Esc stops the run instead)."""
        self._flush()
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        panel = QuestionPanel(question, answer, id="question")
        self._question = panel
        try:
            return await self._answer_in(panel, answer, "waiting for you")
        finally:
            self._question = None
            self._set_state("working")

    async def _decide_plan(self, plan: ev.Plan) -> PlanAnswer:
        answer: asyncio.Future[PlanAnswer] = asyncio.get_running_loop().create_future()
        panel = PlanPanel(plan.text, answer, id="plan")
        self._plan_panel = panel
        try:
            return await self._answer_in(panel, answer, "plan: approve, edit or reject")
        finally:
            self._plan_panel = None

    async def _settle_plans(self) -> None:
        """After a plan-mode turn: the user approves (the same session carries the plan
        out), edits then approves, or rejects (plan mode stays on) its plan."""
        while (plan := self._pending_plan) is not None:
            self._pending_plan = None
            decision = await self._decide_plan(plan)
            if decision.decision == "rejected":
                await self.session.reject_plan(plan.text)
                self.note("plan rejected; plan mode stays on: say what to change")
                return
            self.session.plan_mode = False  # approve_plan ends it too; shown from now
            self._show_plan_mode()
            self._set_state("working")
            await self.session.approve_plan(decision.text, decision.approval or "ask",
                                            decision.edited)

    def action_toggle_plan(self) -> None:
        """shift+tab and /plan: the next messages plan only, with read-only tools."""
        self.set_plan_mode(not self.session.plan_mode)

    def set_plan_mode(self, on: bool) -> None:
        self.session.plan_mode = on
        self._show_plan_mode()
        self.note("plan mode on: the model explores read-only and ends with a plan for "
                  "you to approve (shift+tab or /plan turns it off)" if on else
                  "plan mode off: the next message runs as usual")

    def _show_plan_mode(self) -> None:
        self.stats.mode = "plan" if self.session.plan_mode else ""
        self.status_bar.refresh_stats()

    def offer_undecided_plan(self, events: list[ev.Event]) -> None:
        """A resumed session that stopped at a plan nobody decided on: ask again."""
        plan = undecided_plan(events)
        if plan is None:
            return
        self.session.plan_mode = True
        self._show_plan_mode()
        self._pending_plan = plan
        self._worker = self._settle_resumed_plan()

    @work(exclusive=True, group="turn", exit_on_error=False)
    async def _settle_resumed_plan(self) -> None:
        async with self.ticking():
            await self._settle_plans()
