"""The todo panel: the model's todo list as its latest `todo` event set it, above the
message box. Hidden until there is a list; a finished list stays, all ticked."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

MARKS = {"done": ("✔", "green"), "in_progress": ("▶", "bold yellow"), "pending": ("○", "dim")}


class TodoPanel(Static):
    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.items: list[dict[str, str]] = []

    def on_mount(self) -> None:
        self.display = bool(self.items)

    def show_items(self, items: list[dict[str, str]]) -> None:
        self.items = [dict(item) for item in items]
        self.display = bool(self.items)
        self.update(self.render_items())

    def render_items(self) -> Text:
        done = sum(1 for item in self.items if item["status"] == "done")
        text = Text.assemble(("todo ", "bold"), (f"{done}/{len(self.items)} done", "dim"))
        for item in self.items:
            mark, style = MARKS.get(item["status"], ("?", ""))
            text.append(f"\n{mark} ", style)
            text.append(item["content"], "strike dim" if item["status"] == "done" else style
                        if item["status"] == "in_progress" else "")
        return text
