"""`tessera map`'s progress display for cold parses."""

from __future__ import annotations

import io

from agent.cli.map_cmd import ParseProgress


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_shows_only_after_a_second_and_then_steadily() -> None:
    stream, clock = io.StringIO(), _Clock()
    progress = ParseProgress(stream, clock)
    progress(32, 1000)
    clock.now += 0.5
    progress(64, 1000)
    assert stream.getvalue() == ""  # a parse under a second shows nothing
    clock.now += 0.6
    progress(96, 1000)
    assert stream.getvalue() == "parsing files: 96 / 1,000\n"
    clock.now += 1
    progress(500, 1000)  # not a terminal: a line every few seconds, not every batch
    clock.now += 5
    progress(900, 1000)
    progress(1000, 1000)
    progress.finish()
    assert stream.getvalue().splitlines() == [
        "parsing files: 96 / 1,000",
        "parsing files: 900 / 1,000",
        "parsing files: 1,000 / 1,000",
    ]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_line_is_redrawn_in_place() -> None:
    stream, clock = _Terminal(), _Clock()
    progress = ParseProgress(stream, clock)
    clock.now += 2
    progress(10, 20)
    progress(20, 20)
    progress.finish()
    assert stream.getvalue() == "\rparsing files: 10 / 20\rparsing files: 20 / 20\n"
