"""The plan a plan-mode run ended with, for the user to approve (with the approval
policy for carrying it out), edit, or reject. Edit turns the plan into a text box;
approving then sends the edited plan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import ClassVar

from rich.markdown import Markdown
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Static, TextArea

# Button id -> the approval policy the plan is carried out under.
POLICIES = {"approve-ask": "ask", "approve-auto-edit": "auto-edit"}


@dataclass(frozen=True)
class PlanAnswer:
    decision: str  # "approved" or "rejected"
    text: str  # the plan as approved (edited or not)
    approval: str | None = None
    edited: bool = False


class PlanPanel(Widget, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "decide('approve-ask')", "Approve, ask before changes"),
        Binding("a", "decide('approve-auto-edit')", "Approve, auto-edit"),
        Binding("e", "edit", "Edit"),
        Binding("n", "decide('reject')", "Reject"),
    ]

    def __init__(self, plan: str, answer: asyncio.Future[PlanAnswer], **kwargs) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.answer = answer
        self.editor: TextArea | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble(("Plan ready", "bold"), (" — nothing has changed yet. "
                                   "Approve it to let the model carry it out.", "dim")),
                     classes="plan-title")
        with VerticalScroll(classes="plan-body"):
            yield Static(Markdown(self.plan), id="plan-text")
        with Horizontal(classes="plan-buttons"):
            yield Button("Approve, ask before changes (y)", id="approve-ask", variant="success")
            yield Button("Approve, auto-edit (a)", id="approve-auto-edit", variant="primary")
            yield Button("Edit (e)", id="edit")
            yield Button("Reject (n)", id="reject", variant="error")

    def on_mount(self) -> None:
        self.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "edit":
            self.action_edit()
        else:
            self.action_decide(event.button.id or "reject")

    async def action_edit(self) -> None:
        if self.editor is not None:
            return
        self.editor = TextArea(self.plan, id="plan-editor", soft_wrap=True)
        body = self.query_one(".plan-body", VerticalScroll)
        await body.remove_children()
        await body.mount(self.editor)
        self.query_one("#edit", Button).disabled = True
        self.editor.focus()

    def action_decide(self, choice: str) -> None:
        if self.answer.done():
            return
        text = self.editor.text.strip() if self.editor is not None else self.plan
        edited = text != self.plan
        if choice == "reject" or not text:
            self.answer.set_result(PlanAnswer("rejected", self.plan))
        else:
            self.answer.set_result(PlanAnswer("approved", text, POLICIES[choice], edited))
