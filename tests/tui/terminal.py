"""The real `tessera` executable in a real terminal: tmux gives it one, these read it back.

`start_tessera` runs the executable in a private tmux server (its own socket, so a
developer's tmux is never touched) with the test's isolated home; `start_chat` runs
`tessera chat` there on a replay backend.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import require_program

TESSERA = Path(sys.executable).parent / "tessera"
CHECKOUT = Path(__file__).resolve().parents[2]


class Terminal:
    def __init__(self, tmux: str, socket: str) -> None:
        self.tmux_path = tmux
        self.socket = socket

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            [self.tmux_path, "-L", self.socket, *args], check=True, capture_output=True, text=True
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

    def paste(self, text: str) -> None:
        """Paste as a terminal does: bracketed (`-p`) when the app asked for it, with
        each newline sent as a carriage return (tmux's default separator)."""
        self.tmux("set-buffer", "-b", "test-paste", "--", text)
        self.tmux("paste-buffer", "-p", "-d", "-b", "test-paste", "-t", "tessera")

    def wait_until_ready(self) -> None:
        self.wait_for("Message Tessera")
        self.wait_for("sandbox")  # the status line is complete: the app is up
        time.sleep(1.0)  # startup terminal queries are answered; a person is not faster


@contextmanager
def start_chat(repo: Path, replay: Path) -> Iterator[Terminal]:
    """`tessera chat` in `repo` on the replay backend, in a 110x35 tmux window."""
    with start_tessera(["chat", "--repo", str(repo), "--backend", f"replay:{replay}"]) as term:
        yield term


@contextmanager
def start_tessera(
    arguments: list[str], width: int = 110, height: int = 35
) -> Iterator[Terminal]:
    """`tessera ARGUMENTS` with the test's isolated home in a `width`x`height` tmux window."""
    tmux = require_program("tmux", "gives the app a real terminal")
    if not TESSERA.exists():
        raise AssertionError(f"the installed `tessera` script is missing: {TESSERA}")
    term = Terminal(tmux, f"tessera-test-{uuid.uuid4().hex[:8]}")
    env = {
        "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"],
        "TESSERA_HOME": os.environ["TESSERA_HOME"],
        "TERM": "xterm-256color",
        # This checkout's code, also where the environment was installed from another one.
        "PYTHONPATH": str(CHECKOUT),
    }
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    command = f"env {exports} {shlex.join([str(TESSERA), *arguments])}"
    size = ["-x", str(width), "-y", str(height)]
    term.tmux("new-session", "-d", "-s", "tessera", *size, command)
    try:
        yield term
    finally:
        subprocess.run([tmux, "-L", term.socket, "kill-server"], capture_output=True)
