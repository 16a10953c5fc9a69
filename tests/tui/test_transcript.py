"""The bounded transcript: a long session mounts a window, the rest comes back on demand."""

from __future__ import annotations

import asyncio
import io

from rich.console import Console
from textual.app import App, ComposeResult

from tui.records import NoteRecord, ToolRecord, UserRecord
from tui.widgets.blocks import Entry
from tui.widgets.transcript import Transcript


class TranscriptApp(App):
    def __init__(self, window: int, slack: int = 0) -> None:
        super().__init__()
        self.transcript = Transcript(window=window, slack=slack)

    def compose(self) -> ComposeResult:
        yield self.transcript


def plain(entry: Entry) -> str:
    console = Console(width=100, record=True, file=io.StringIO())
    console.print(entry.render_record())
    return console.export_text()


def _entries(app: TranscriptApp) -> list[Entry]:
    return list(app.transcript.query(Entry))


def test_only_the_newest_window_is_mounted() -> None:
    async def scenario() -> None:
        app = TranscriptApp(window=30)
        async with app.run_test(size=(80, 24)) as pilot:
            app.transcript.add_many([UserRecord(f"message {i}") for i in range(500)])
            await pilot.pause()
            for i in range(500, 520):  # and one at a time, as a live session adds them
                app.transcript.add(NoteRecord(f"note {i}"))
            await pilot.pause()
            entries = _entries(app)
            assert len(entries) == 30
            assert len(app.transcript.records) == 520
            assert entries[-1].record.text == "note 519"
            assert entries[0].record.text == "message 490"
            marker = app.transcript.query_one("#earlier")
            assert marker.display and "490 earlier entries" in str(marker.render())

    asyncio.run(scenario())


def test_earlier_entries_come_back_a_page_at_a_time() -> None:
    async def scenario() -> None:
        app = TranscriptApp(window=20)
        async with app.run_test(size=(80, 24)) as pilot:
            app.transcript.add_many([UserRecord(f"m{i}") for i in range(100)])
            await pilot.pause()
            shown = app.transcript.show_earlier(25)
            await pilot.pause()
            assert shown == 25
            texts = [e.record.text for e in _entries(app)]
            assert texts[0] == "m55" and texts[-1] == "m99" and len(texts) == 45
            assert app.transcript.show_earlier(1000) == 55
            await pilot.pause()
            assert len(_entries(app)) == 100
            assert not app.transcript.query_one("#earlier").display
            assert app.transcript.show_earlier() == 0

    asyncio.run(scenario())


def test_updates_reach_mounted_entries_and_spare_dropped_ones() -> None:
    async def scenario() -> None:
        app = TranscriptApp(window=5)
        async with app.run_test(size=(80, 24)) as pilot:
            old = ToolRecord("c0", "bash", {"command": "make"})
            app.transcript.add(old)
            app.transcript.add_many([UserRecord(f"m{i}") for i in range(10)])
            await pilot.pause()
            assert not app.transcript.is_mounted_record(old)
            old.status = "ok"
            app.transcript.update_record(old)  # must not fail or mount it
            new = ToolRecord("c1", "bash", {"command": "make test"})
            app.transcript.add(new)
            await pilot.pause()
            new.status, new.output = "failed", "1 test failed"
            app.transcript.update_record(new)
            await pilot.pause()
            card = _entries(app)[-1]
            assert "1 test failed" in plain(card)
            assert card.has_class("-failed")
            app.transcript.clear()
            await pilot.pause()
            assert _entries(app) == [] and app.transcript.records == []

    asyncio.run(scenario())


def test_trimming_waits_for_a_batch() -> None:
    async def scenario() -> None:
        app = TranscriptApp(window=10, slack=5)
        async with app.run_test(size=(80, 24)) as pilot:
            for i in range(15):
                app.transcript.add(NoteRecord(f"n{i}"))
            await pilot.pause()
            assert len(_entries(app)) == 15  # within the slack: nothing removed yet
            app.transcript.add(NoteRecord("n15"))
            await pilot.pause()
            texts = [e.record.text for e in _entries(app)]
            assert texts == [f"n{i}" for i in range(6, 16)]  # back to the window at once

    asyncio.run(scenario())
