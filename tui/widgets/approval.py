"""Inline approval: what the call would do (for file changes the diff the tool itself
worked out, `Approval.preview`; the command for shell calls), why the policy asks, and
three answers: yes, no, always for this session."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Static

from tui.widgets.blocks import summarize_arguments
from tui.widgets.diff import render_unified

ANSWERS = {"yes": "once", "always": "always", "no": "deny"}


class ApprovalPanel(Widget, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer('yes')", "Yes"),
        Binding("n", "answer('no')", "No"),
        Binding("a", "answer('always')", "Always (session)"),
    ]

    def __init__(
        self,
        tool: str,
        arguments: dict | str,
        reason: str,
        preview: dict[str, Any],
        answer: asyncio.Future[str],
        always_label: str = "Always this session",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.tool = tool
        self.arguments = arguments
        self.reason = reason
        self.preview = preview
        self.answer = answer
        self.always_label = always_label

    def compose(self) -> ComposeResult:
        title = Text.assemble(
            ("Allow ", "bold"),
            (self.tool, "bold yellow"),
            " ",
            (summarize_arguments(self.arguments, 70), ""),
            ("?", "bold"),
        )
        yield Static(Group(title, Text(self.reason, style="dim")), classes="approval-title")
        body = self._body()
        if body is not None:
            with VerticalScroll(classes="approval-preview"):
                yield Static(body)
        with Horizontal(classes="approval-buttons"):
            yield Button("Yes (y)", id="yes", variant="success")
            yield Button("No (n)", id="no", variant="error")
            yield Button(f"{self.always_label} (a)", id="always", variant="primary")

    def _body(self) -> RenderableType | None:
        """The tool's preview: its diff, or why the call would fail; else the command."""
        parts: list[RenderableType] = []
        if self.preview.get("error"):
            parts.append(Text(f"this call would fail: {self.preview['error']}", style="red"))
        if self.preview.get("diff"):
            parts.append(render_unified(self.preview["diff"]))
            if self.preview.get("diff_truncated"):
                parts.append(Text("(the diff is longer; only its start is shown)", style="dim"))
        command = self.arguments.get("command") if isinstance(self.arguments, dict) else None
        if not parts and isinstance(command, str):
            parts.append(Text("$ " + command, style="bold"))
        if len(parts) < 2:
            return parts[0] if parts else None
        return Group(*parts)

    def on_mount(self) -> None:
        self.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_answer(event.button.id or "no")

    def action_answer(self, choice: str) -> None:
        if not self.answer.done():
            self.answer.set_result(ANSWERS[choice])
        self.remove()
