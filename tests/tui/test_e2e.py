"""The real `tessera` executable in a real terminal (tmux): start it, type, read the screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import write_replay

TMUX = shutil.which("tmux")
TESSERA = Path(sys.executable).parent / "tessera"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="needs tmux to give the app a real terminal"),
    pytest.mark.skipif(not TESSERA.exists(), reason="needs the installed `tessera` script"),
]


class Terminal:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            [TMUX, "-L", self.socket, *args], check=True, capture_output=True, text=True
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "tessera")

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "tessera", "-l", text)

    def key(self, name: str) -> None:
        self.tmux("send-keys", "-t", "tessera", name)


@pytest.fixture()
def terminal(repo: Path, isolated_home: Path) -> Iterator[Terminal]:
    replay = write_replay(
        repo.parent / "turns.jsonl", ["[THINK]Greet back.[/THINK]Hello from **replay**!"]
    )
    term = Terminal(f"tessera-test-{uuid.uuid4().hex[:8]}")
    env = {
        "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"],
        "TESSERA_HOME": os.environ["TESSERA_HOME"],
        "TERM": "xterm-256color",
    }
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    command = f"env {exports} {TESSERA} chat --repo {repo} --backend replay:{replay}"
    term.tmux("new-session", "-d", "-s", "tessera", "-x", "110", "-y", "35", command)
    try:
        yield term
    finally:
        subprocess.run([TMUX, "-L", term.socket, "kill-server"], capture_output=True)


def test_type_a_message_and_read_the_answer(terminal: Terminal) -> None:
    terminal.wait_for("Message Tessera")
    terminal.wait_for("sandbox")  # the status line is complete: the app is up
    time.sleep(1.0)  # startup terminal queries are answered; a person is not faster
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
