"""The transcript: every record kept, only a bounded window of them mounted as widgets.

Textual's layout and compositing cost grows with the number of widgets on a screen, and
that is what makes long sessions lag. Here the newest `window` entries are mounted; older
ones leave the DOM (a batch at a time) but stay as records, and come back a page at a
time when the reader asks for them ("show earlier" at the top, or ctrl+up). A session of thousands
of messages therefore costs the same per keypress as one of a hundred.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.widgets.blocks import Entry, Record, make_entry

DEFAULT_WINDOW = 100
DEFAULT_SLACK = 20
PAGE = 60


class EarlierMarker(Static):
    """Says how many entries are not mounted; a click shows a page of them."""

    def on_click(self) -> None:
        transcript = self.parent
        if isinstance(transcript, Transcript):
            transcript.show_earlier()


class Transcript(VerticalScroll, can_focus=False):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+up", "show_earlier", "Earlier", show=False)
    ]

    def __init__(self, window: int = DEFAULT_WINDOW, slack: int = DEFAULT_SLACK, **kwargs) -> None:
        super().__init__(**kwargs)
        self.window = window
        self.slack = slack
        self.records: list[Record] = []
        self._entries: dict[int, Entry] = {}  # id(record) -> mounted entry
        self._first = 0  # index of the first mounted record
        self._marker = EarlierMarker("", id="earlier")

    def compose(self):
        yield self._marker

    def on_mount(self) -> None:
        self._marker.display = False
        self.anchor()

    # -- adding and updating ----------------------------------------------------------

    def add(self, record: Record) -> None:
        self.add_many([record])

    def add_many(self, records: list[Record]) -> None:
        """Append records; mount what falls inside the window, in one batch."""
        if not records:
            return
        old_len = len(self.records)
        self.records.extend(records)
        start = len(self.records) - self.window
        if start >= old_len and self._following():
            # The batch alone fills the window: everything mounted now goes.
            self.remove_children(list(self._entries.values()))
            self._entries.clear()
            self._first = start
            fresh = self.records[start:]
        else:
            fresh = records
        entries = [make_entry(r) for r in fresh]
        for record, entry in zip(fresh, entries, strict=True):
            self._entries[id(record)] = entry
        self.mount_all(entries)
        self._trim()

    def update_record(self, record: Record) -> None:
        """Re-render a record whose fields changed (cheap when it is not mounted)."""
        entry = self._entries.get(id(record))
        if entry is not None:
            entry.sync()

    def is_mounted_record(self, record: Record) -> bool:
        return id(record) in self._entries

    @property
    def mounted_count(self) -> int:
        return len(self._entries)

    def _trim(self) -> None:
        """Drop the oldest mounted entries beyond the window, unless the reader is up
        there reading them. Trimming waits for `slack` extra entries and then drops them
        together: one removal (and one re-layout) per `slack` additions, not per addition."""
        if len(self._entries) <= self.window + self.slack:
            return
        excess = len(self._entries) - self.window
        if not self._following():
            self._update_marker()
            return
        doomed = []
        while excess > 0 and self._first < len(self.records):
            entry = self._entries.pop(id(self.records[self._first]), None)
            if entry is not None:
                doomed.append(entry)
                excess -= 1
            self._first += 1
        if doomed:
            self.remove_children(doomed)
        self._update_marker()

    def _following(self) -> bool:
        return self.is_anchored or self.scroll_y >= self.max_scroll_y - 2

    def _update_marker(self) -> None:
        hidden = self._first
        self._marker.display = hidden > 0
        if hidden:
            self._marker.update(
                f"▲ {hidden} earlier entries — click or ctrl+↑ to show {min(PAGE, hidden)} more"
            )

    # -- reading back -----------------------------------------------------------------

    def action_show_earlier(self) -> None:
        self.show_earlier()

    def show_earlier(self, count: int = PAGE) -> int:
        """Mount up to `count` earlier records above the window; returns how many."""
        if self._first == 0:
            return 0
        start = max(0, self._first - count)
        records = self.records[start : self._first]
        entries = [make_entry(r) for r in records]
        for record, entry in zip(records, entries, strict=True):
            self._entries[id(record)] = entry
        self.release_anchor()
        self.mount_all(entries, after=self._marker)
        self._first = start
        self._update_marker()
        return len(entries)

    def settle(self) -> None:
        """The turn ended: a full-screen transcript keeps everything where it is (the
        inline one writes it to the terminal's scrollback)."""

    def clear(self) -> None:
        self.remove_children([e for e in self.children if isinstance(e, Entry)])
        self.records.clear()
        self._entries.clear()
        self._first = 0
        self._update_marker()
        self.anchor()
