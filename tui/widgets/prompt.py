"""The message box: multi-line, Enter sends, history on up/down at the edges.

A newline is ctrl+j or alt+enter (terminals rarely report shift+enter). Up on the first
line and down on the last walk the history of sent messages; what was being typed is kept
and comes back after the newest entry. The cursor does not blink, so an idle screen
repaints nothing.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea


class PromptInput(TextArea):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Send", show=False, priority=True),
        Binding("ctrl+j,alt+enter,shift+enter", "newline", "New line", show=False),
    ]

    class Submitted(Message):
        def __init__(self, prompt: PromptInput, text: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.text = text

    def __init__(self, **kwargs) -> None:
        super().__init__(
            soft_wrap=True,
            show_line_numbers=False,
            highlight_cursor_line=False,
            placeholder="Message Tessera — Enter sends, ctrl+j new line, /help for commands",
            **kwargs,
        )
        self.cursor_blink = False
        self.sent_history: list[str] = []
        self._history_index: int | None = None  # None: editing a fresh message
        self._draft = ""

    def action_submit(self) -> None:
        text = self.text.strip()
        if not text:
            return
        if not self.sent_history or self.sent_history[-1] != text:
            self.sent_history.append(text)
        self._history_index = None
        self._draft = ""
        self.load_text("")
        self.post_message(self.Submitted(self, text))

    def action_newline(self) -> None:
        self.insert("\n")

    def _recall(self, index: int | None) -> None:
        self._history_index = index
        text = self._draft if index is None else self.sent_history[index]
        self.load_text(text)
        self.move_cursor(self.document.end)

    def action_cursor_up(self, select: bool = False) -> None:
        if select or self.cursor_location[0] > 0 or not self.sent_history:
            super().action_cursor_up(select)
            return
        if self._history_index is None:
            self._draft = self.text
            self._recall(len(self.sent_history) - 1)
        elif self._history_index > 0:
            self._recall(self._history_index - 1)

    def action_cursor_down(self, select: bool = False) -> None:
        last_line = self.document.line_count - 1
        if select or self.cursor_location[0] < last_line or self._history_index is None:
            super().action_cursor_down(select)
            return
        if self._history_index < len(self.sent_history) - 1:
            self._recall(self._history_index + 1)
        else:
            self._recall(None)
