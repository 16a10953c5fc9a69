"""The model's question (`ask_user`): its options as buttons (keys 1–6) and a line for
an answer in the user's own words (f focuses it; Enter sends it)."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from agent.ask_user import Question


class QuestionPanel(Widget, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(str(n), f"choose({n})", show=False) for n in range(1, 7)),
        Binding("f", "free_text", "Own answer"),
    ]

    def __init__(self, question: Question, answer: asyncio.Future[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.question = question
        self.answer = answer

    def compose(self) -> ComposeResult:
        title = Text.assemble(("The model asks: ", "bold"), self.question.question)
        yield Static(title, classes="question-title")
        with Horizontal(classes="question-options"):
            for number, option in enumerate(self.question.options, 1):
                yield Button(f"{number} {option}", id=f"option-{number}", variant="primary")
        yield Input(placeholder="or write your own answer (f), Enter sends", id="own-answer")

    def on_mount(self) -> None:
        self.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose(int((event.button.id or "option-1").removeprefix("option-")))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self._give(event.value)

    def action_choose(self, number: int) -> None:
        if 1 <= number <= len(self.question.options):
            self._give(self.question.options[number - 1])

    def action_free_text(self) -> None:
        self.query_one("#own-answer", Input).focus()

    def _give(self, text: str) -> None:
        if not self.answer.done():
            self.answer.set_result(text)
