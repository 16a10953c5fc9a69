"""The message box under Pilot (fast; test_tmux_input.py drives the real executable):
keys that reach the app in one burst act in order, and pastes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import events

from tests.tui.pilot import chat, chat_app, transcript_text, wait_idle, wait_until
from tui.app import TesseraApp


def burst(app: TesseraApp, text: str) -> None:
    """Every key of `text` and then Enter into the app's queue at once, as a terminal's
    single read delivers them (nothing runs in between)."""
    for character in text:
        key = "space" if character == " " else character
        app.post_message(events.Key(key, character))
    app.post_message(events.Key("enter", "\r"))


def test_text_and_enter_in_one_burst_send_the_text(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, ["Got it."])
        async with app.run_test() as pilot:
            burst(app, "hello there")
            await wait_until(pilot, lambda: "hello there" in transcript_text(app))
            await wait_idle(pilot, app)
            assert "Got it." in transcript_text(app)
            assert chat(app).prompt.text == ""

    asyncio.run(scenario())


def test_pastes_wait_whole_or_send_one_line(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, ["First.", "Second."])
        async with app.run_test() as pilot:
            prompt = chat(app).prompt
            app.post_message(events.Paste("def f():\r    return 1\r"))
            await pilot.pause(0.2)
            assert prompt.text == "def f():\n    return 1\n"  # whole, not sent
            assert "def f()" not in transcript_text(app)
            prompt.load_text("")
            app.post_message(events.Paste("no newline"))
            await pilot.pause(0.2)
            assert prompt.text == "no newline"  # waits for Enter
            prompt.load_text("look at ")
            prompt.move_cursor(prompt.document.end)
            app.post_message(events.Paste("calc.py\r\n"))
            await wait_until(pilot, lambda: "look at calc.py" in transcript_text(app))
            await wait_idle(pilot, app)
            assert prompt.text == ""

    asyncio.run(scenario())
