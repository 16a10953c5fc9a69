"""The transcript of an inline app (`tessera --inline`): finished entries leave the app.

While a turn runs, its entries show here, in the app's live region under the shell
prompt; when the turn ends (and at once for what is added while idle: a command's note, a
resumed history) they are written above the region, into the terminal's own scrollback,
and unmounted. Every record is still kept (for `/export`). What has not been written when
the app closes is printed after it, by `unwritten_text`.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from tui.terminal_io import render_ansi, write_above_inline
from tui.widgets.blocks import Record, make_entry
from tui.widgets.transcript import Transcript

# A resumed session of thousands of entries would take seconds to render into the
# scrollback (Markdown, highlighted code) while the app waits; its newest ones are enough.
MOST_WRITTEN_AT_ONCE = 200


class InlineTranscript(Transcript):
    def __init__(self, busy: Callable[[], bool], **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_class("-inline")
        self.busy = busy  # whether a turn is running: its entries wait for its end
        self.written = 0  # records[:written] are in the terminal's scrollback

    def add_many(self, records: list[Record]) -> None:
        super().add_many(records)
        if not self.busy():
            self.settle()

    def settle(self) -> None:
        """Write every finished entry above the app and drop it from the region."""
        fresh = self.records[self.written :]
        if not fresh or not self.is_mounted:
            return
        text = render_ansi(_renderables(fresh), self.app.size.width)
        if not write_above_inline(self.app, text):
            return  # not running inline (a test's headless app): they stay on screen
        self.written = len(self.records)
        self.remove_children(list(self._entries.values()))
        self._entries.clear()
        self._first = self.written

    def unwritten_text(self, width: int) -> str:
        """What never reached the scrollback (the app closed mid-turn), for printing."""
        fresh = self.records[self.written :]
        self.written = len(self.records)
        return render_ansi(_renderables(fresh), width) if fresh else ""

    def show_earlier(self, count: int = 0) -> int:
        return 0  # the terminal's scrollback has them

    def _update_marker(self) -> None:
        self._marker.display = False

    def clear(self) -> None:
        super().clear()
        self.written = 0


def _renderables(records: list[Record]) -> list:
    shown = [make_entry(r).render_record() for r in records[-MOST_WRITTEN_AT_ONCE:]]
    skipped = len(records) - MOST_WRITTEN_AT_ONCE
    if skipped > 0:
        note = f"… {skipped} earlier entries not repeated here; /export writes them all"
        shown.insert(0, Text(note, style="dim italic"))
    return shown
