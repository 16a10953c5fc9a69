"""Input that arrives in one burst, in the real executable under tmux: text and Enter sent
together (a script, a fast typist, a paste without bracketed paste) send the message;
a bracketed paste of several lines waits in the box, whole; one line ending in a newline
sends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import write_replay
from tests.tui.terminal import Terminal, start_chat

pytestmark = pytest.mark.slow

ANSWERS = ["First answer.", "Second answer.", "Third answer."]


@pytest.fixture()
def terminal(repo: Path, isolated_home: Path) -> Iterator[Terminal]:
    replay = write_replay(repo.parent / "turns.jsonl", ANSWERS)
    with start_chat(repo, replay) as term:
        term.wait_until_ready()
        yield term


def assert_not_sent(terminal: Terminal, echo: str, settle_s: float = 1.5) -> None:
    time.sleep(settle_s)  # a send would show the echo within this
    assert echo not in terminal.screen(), terminal.screen()


def test_text_and_enter_in_one_burst_send_the_message(terminal: Terminal) -> None:
    terminal.tmux("send-keys", "-t", "tessera", "hello there", "Enter")  # one write
    screen = terminal.wait_for("First answer.", timeout=20)
    assert "› hello there" in screen
    assert "│ hello there" not in screen  # the box was emptied by the send


def test_a_multiline_paste_waits_whole_and_a_one_line_paste_sends(terminal: Terminal) -> None:
    terminal.paste("first line\nsecond line\n")
    screen = terminal.wait_for("│ second line")
    assert "│ first line" in screen  # both lines are in the box
    assert_not_sent(terminal, "› first line")
    terminal.key("Enter")  # the person reads it and sends it: one message
    screen = terminal.wait_for("First answer.", timeout=20)
    echo = screen.splitlines()
    start = next(i for i, line in enumerate(echo) if "› first line" in line)
    assert "second line" in echo[start + 1]
    terminal.paste("one pasted line\n")
    screen = terminal.wait_for("Second answer.", timeout=20)
    assert "› one pasted line" in screen
    assert "│ one pasted line" not in screen
