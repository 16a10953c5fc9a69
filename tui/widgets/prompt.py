"""The message box: multi-line, Enter sends, history on up/down at the edges.

A newline is ctrl+j or alt+enter (terminals rarely report shift+enter). Tab after
`@partial/path` completes a repository path (the model reads what you point at), and after a
leading `/na` the name of a slash command, built-in or custom. Up on the first
line and down on the last walk the history of sent messages; what was being typed is kept
and comes back after the newest entry. The cursor does not blink, so an idle screen
repaints nothing.

Enter, the newline keys and Tab are handled in the widget's own key handler, so every key
that edits the box acts in the order it arrived. Enter was a priority binding, which fires
when the app receives the key while the characters before it still wait in this widget's
queue: text and Enter in one burst (`tmux send-keys "text" Enter`, a paste without bracketed
paste) submitted an empty box and then filled it. A bracketed paste (events.Paste) goes in
whole; a single line ending in a newline is sent, as if typed. A paste of many lines is
a chip that is sent whole, and a pasted image file an attachment (tui/widgets/paste_chips.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from tui.widgets.paste_chips import PastedChips, is_big, pasted_image_files

NEWLINE_KEYS = {"ctrl+j", "alt+enter", "shift+enter"}


class PromptInput(TextArea):
    class Submitted(Message):
        def __init__(self, prompt: PromptInput, text: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.text = text

    class FilesPasted(Message):
        """A paste that names image files only: they are attachments, not text."""

        def __init__(self, paths: list[Path]) -> None:
            super().__init__()
            self.paths = paths

    def __init__(self, root: Path | None = None,
                 commands: Callable[[], list[str]] | None = None, **kwargs) -> None:
        self.root = root  # where @path completion looks
        self.commands = commands  # the slash commands' names, asked for on each Tab
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
        self.chips = PastedChips()

    async def _on_key(self, event: events.Key) -> None:
        """Enter, newline and Tab in arrival order (see the module docstring)."""
        if self.read_only:
            return
        if event.key == "enter":
            handle = self.action_submit
        elif event.key in NEWLINE_KEYS:
            handle = self.action_newline
        elif event.key == "tab":
            handle = self.action_complete
        elif event.key == "ctrl+l":
            handle = self.action_expand_chips
        else:
            return  # a character: TextArea's own handler inserts it
        event.stop()
        event.prevent_default()  # TextArea's handler would insert Enter as a newline
        handle()

    async def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()  # TextArea's own paste would keep a final newline unsent
        if self.read_only:
            return
        text = event.text.replace("\r\n", "\n").replace("\r", "\n")  # terminals send \r
        images = pasted_image_files(text, self.root)
        if images:
            self.post_message(self.FilesPasted(images))
            return
        if is_big(text):
            self.insert(self.chips.make(text))
            return
        line = text.rstrip("\n")
        send = line != text and "\n" not in line  # one line and Enter, as if typed
        pasted = self.replace(line if send else text, *self.selection,
                              maintain_selection_offset=False)
        self.move_cursor(pasted.end_location)
        if send:
            self.action_submit()

    def action_submit(self) -> None:
        typed = self.text.strip()
        if not typed:
            return
        if not self.sent_history or self.sent_history[-1] != typed:
            self.sent_history.append(typed)  # with its chips: ↑ brings back the short form
        text = self.chips.expand(typed)
        if text != typed:  # a chip is the whole paste, its own whitespace included
            text = self.chips.expand(self.text).strip("\n")
        self._history_index = None
        self._draft = ""
        self.load_text("")
        self.post_message(self.Submitted(self, text))

    def action_expand_chips(self) -> None:
        """ctrl+l: the pasted chips become their text in the box."""
        expanded = self.chips.expand(self.text)
        if expanded != self.text:
            self.load_text(expanded)
            self.move_cursor(self.document.end)

    def action_newline(self) -> None:
        self.insert("\n")

    def action_complete(self) -> None:
        """Tab after `@some/pa`: complete the path from the repository."""
        row, column = self.cursor_location
        before = self.document.get_line(row)[:column]
        word = before.rsplit(None, 1)[-1] if before.strip() else ""
        if word.startswith("/") and row == 0 and before == word and self.commands is not None:
            self._complete_command(word[1:].lower())
            return
        if not word.startswith("@") or self.root is None:
            self.screen.focus_next()
            return
        candidates = complete_path(self.root, word[1:])
        if not candidates:
            self.app.notify(f"no file matches {word}", severity="warning", timeout=2)
            return
        common = shared_prefix(candidates)
        if len(common) > len(word) - 1:
            self.insert(common[len(word) - 1 :])
        if len(candidates) > 1:
            shown = ", ".join(candidates[:12]) + (" …" if len(candidates) > 12 else "")
            self.app.notify(shown, title="@ matches", timeout=4)

    def _complete_command(self, partial: str) -> None:
        assert self.commands is not None
        candidates = [name for name in self.commands() if name.startswith(partial)]
        if not candidates:
            self.app.notify(f"no command starts with /{partial}", severity="warning", timeout=2)
            return
        common = shared_prefix(candidates)
        ending = " " if len(candidates) == 1 else ""
        if len(common) > len(partial) or ending:
            self.insert(common[len(partial):] + ending)
        if len(candidates) > 1:
            self.app.notify(", ".join(f"/{name}" for name in candidates), title="/ commands",
                            timeout=4)

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


SKIPPED_DIRS = {".git", "__pycache__", "node_modules", ".venv", ".mypy_cache"}


def complete_path(root: Path, partial: str, limit: int = 200) -> list[str]:
    """Repository paths that start with `partial` (directories end with /), sorted."""
    folder, _, stem = partial.rpartition("/")
    base = (root / folder).resolve()
    try:
        base.relative_to(root.resolve())  # never complete outside the repository
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except (ValueError, OSError):
        return []
    found = []
    for entry in entries:
        if not entry.name.startswith(stem) or entry.name in SKIPPED_DIRS:
            continue
        if entry.name.startswith(".") and not stem.startswith("."):
            continue
        name = f"{folder}/{entry.name}" if folder else entry.name
        found.append(name + "/" if entry.is_dir() else name)
        if len(found) >= limit:
            break
    return found


def shared_prefix(names: list[str]) -> str:
    """The longest start all names share, character by character (partial names count)."""
    first, last = min(names), max(names)
    size = 0
    while size < min(len(first), len(last)) and first[size] == last[size]:
        size += 1
    return first[:size]
