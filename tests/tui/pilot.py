"""Driving the chat app under Pilot: start it on a replay file, send, wait, read."""

from __future__ import annotations

import io
import time
from pathlib import Path

from rich.console import Console

from tests.support import write_replay
from tests.tui.conftest import isolated_sandbox
from tui.app import SandboxProbe, TesseraApp
from tui.screens.chat import ChatScreen
from tui.session import ChatOptions
from tui.widgets.blocks import Entry


def chat_app(
    repo: Path,
    turns: list[str] | None = None,
    *,
    resume: str | None = None,
    approval: str | None = None,
    probe: SandboxProbe = isolated_sandbox,
) -> TesseraApp:
    backend = None
    if turns is not None:
        backend = f"replay:{write_replay(repo.parent / 'turns.jsonl', turns)}"
    options = ChatOptions(repo=repo, backend=backend, resume=resume, approval=approval)
    return TesseraApp(options, sandbox_probe=probe)


def chat(app: TesseraApp) -> ChatScreen:
    assert app.chat is not None
    return app.chat


async def type_and_send(pilot, text: str) -> None:
    await pilot.press(*text)
    await pilot.press("enter")
    await pilot.pause()


async def wait_until(pilot, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


async def wait_idle(pilot, app: TesseraApp) -> None:
    await wait_until(pilot, lambda: not chat(app).session.running)
    await pilot.pause()


async def wait_approval(pilot, app: TesseraApp):
    await wait_until(pilot, lambda: chat(app)._approval is not None)
    await pilot.pause()
    return chat(app)._approval


def plain(renderable) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def transcript_text(app: TesseraApp) -> str:
    entries = chat(app).transcript.query(Entry)
    return "\n".join(plain(entry.render_record()) for entry in entries)


def entries_of(app: TesseraApp, kind: type[Entry]) -> list[Entry]:
    return list(chat(app).transcript.query(kind))
