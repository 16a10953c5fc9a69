"""The real `tessera` executable in a real terminal (tmux): start it, type, read the screen."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import write_replay
from tests.tui.terminal import Terminal, start_chat

pytestmark = pytest.mark.slow


@pytest.fixture()
def terminal(repo: Path, isolated_home: Path) -> Iterator[Terminal]:
    replay = write_replay(
        repo.parent / "turns.jsonl", ["[THINK]Greet back.[/THINK]Hello from **replay**!"]
    )
    with start_chat(repo, replay) as term:
        yield term


def test_type_a_message_and_read_the_answer(terminal: Terminal) -> None:
    terminal.wait_until_ready()
    terminal.type("hello tessera")
    terminal.wait_for("│ hello tessera")  # typed into the box
    terminal.key("Enter")
    screen = terminal.wait_for("Hello from replay!")
    assert "› hello tessera" in screen
    assert "replay:" in screen  # the status line names the backend
    terminal.type("/quit")
    terminal.key("Enter")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if "Message Tessera" not in terminal.screen():
                break
        except subprocess.CalledProcessError:  # the session ended with the app
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the app did not quit on /quit")
