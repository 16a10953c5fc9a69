"""The session picker (`/resume`): type to search the stored sessions, Enter resumes one.

The search is `SessionStore.search`: words are looked for in the task, later messages and
answers; a `repo:PART` word keeps the sessions whose repository path contains PART
(`repo:.` this repository). ↓ moves into the list, Enter picks, Esc closes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from agent.sessions import SessionInfo

Search = Callable[[str, str], list[SessionInfo]]  # (text, repository part) → newest first


def parse_query(query: str, here: Path) -> tuple[str, str]:
    """`fix parser repo:tessera` → ("fix parser", "tessera"); `repo:.` is `here`."""
    words, repo = [], ""
    for word in query.split():
        if word.startswith("repo:"):
            part = word.removeprefix("repo:")
            repo = str(here.resolve()) if part == "." else part
        else:
            words.append(word)
    return " ".join(words), repo


def describe(info: SessionInfo) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.updated))
    task = " ".join(info.task.split())
    task = task if len(task) <= 60 else task[:59] + "…"
    return f"{when}  {info.status:<11} {task}  ({Path(info.repo).name})"


class SessionPicker(ModalScreen[str | None]):
    DEFAULT_CSS = """
    SessionPicker { align: center middle; }
    SessionPicker > Vertical {
        width: 90%; height: 80%; border: round $accent; background: $panel; padding: 0 1;
    }
    SessionPicker OptionList { height: 1fr; }
    SessionPicker .hint { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss_none", "Close")]

    def __init__(self, search: Search, here: Path) -> None:
        super().__init__()
        self.search = search
        self.here = here
        self.found: list[SessionInfo] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Resume a session: type to search (repo:PART, repo:. for this "
                         "repository) · ↓ the list · Enter resume · Esc close", classes="hint")
            yield Input(placeholder="search the stored sessions", id="session-query")
            yield OptionList(id="session-list")

    def on_mount(self) -> None:
        self._refresh("")
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._refresh(event.value)

    def _refresh(self, query: str) -> None:
        text, repo = parse_query(query, self.here)
        self.found = self.search(text, repo)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(describe(info), id=info.id) for info in self.found])
        if self.found:
            options.highlighted = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        options = self.query_one(OptionList)
        if self.found and options.highlighted is not None:
            self.dismiss(self.found[options.highlighted].id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def on_key(self, event) -> None:
        if event.key == "down" and self.focused is self.query_one(Input):
            self.query_one(OptionList).focus()
            event.stop()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
