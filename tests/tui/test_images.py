"""Images in chat: `/image PATH` and image paths typed in a message go with it to the
agent (stored, in the message event) and show as a chip: name, size, token cost."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PIL import Image

from agent import events as ev
from agent.sessions import SessionStore
from tests.tui.pilot import chat, chat_app, transcript_text, type_and_send, wait_idle, wait_until


def _png(path: Path, size: tuple[int, int], colour: str) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


def _stored() -> list[ev.Event]:
    store = SessionStore()
    try:
        return store.events(store.resolve("last"))
    finally:
        store.close()


def test_image_command_and_typed_paths_attach_to_the_next_message(repo: Path) -> None:
    _png(repo / "shot.png", (40, 30), "red")
    _png(repo / "other.png", (64, 64), "blue")

    async def scenario() -> None:
        app = chat_app(repo, ["A red rectangle.", "A blue square."])
        async with app.run_test(size=(110, 45)) as pilot:
            await type_and_send(pilot, "/image shot.png")
            await wait_until(pilot, lambda: bool(chat(app).pending_images))
            await pilot.pause()
            assert "📎 shot.png · 40×30" in transcript_text(app)
            assert "goes with your next message" in transcript_text(app)

            await type_and_send(pilot, "what is this")
            await wait_idle(pilot, app)
            assert not chat(app).pending_images  # sent, not kept for the next one
            await type_and_send(pilot, "and other.png?")
            await wait_idle(pilot, app)
            text = transcript_text(app)
            assert "› what is this" in text and "A red rectangle." in text
            assert "› and other.png?" in text and "A blue square." in text
            chips = [line for line in text.splitlines() if "📎" in line]
            # The /image note, then one chip under each user message.
            assert len(chips) == 3 and "other.png · 64×64" in chips[2]
            assert "tokens" in chips[1] and " B ·" in chips[1]

            await type_and_send(pilot, "/image missing.png")
            await pilot.pause(0.2)
            assert "/image:" in transcript_text(app) and "missing.png" in transcript_text(app)
            assert not chat(app).pending_images

    asyncio.run(scenario())
    events = _stored()
    start = events[0]
    assert isinstance(start, ev.SessionStart) and start.task == "what is this"
    assert [(i["width"], i["height"]) for i in start.images] == [(40, 30)]
    assert Path(start.images[0]["path"]).is_file()
    follow = [e for e in events if isinstance(e, ev.UserMessage)]
    assert [(i["width"], i["height"]) for e in follow for i in e.images] == [(64, 64)]
    assert start.images[0]["tokens"] > 0


def test_a_resumed_session_shows_its_images(repo: Path) -> None:
    _png(repo / "shot.png", (40, 30), "red")

    async def first() -> None:
        app = chat_app(repo, ["A red rectangle."])
        async with app.run_test(size=(110, 40)) as pilot:
            await type_and_send(pilot, "look at shot.png")
            await wait_idle(pilot, app)

    async def resumed() -> None:
        app = chat_app(repo, [], resume="last")
        async with app.run_test(size=(110, 40)) as pilot:
            await pilot.pause(0.3)
            text = transcript_text(app)
            assert "› look at shot.png" in text
            assert "📎 image " in text and "40×30" in text

    asyncio.run(first())
    asyncio.run(resumed())


def test_a_typed_path_that_is_not_an_image_is_not_sent(repo: Path) -> None:
    (repo / "fake.png").write_text("not a png")

    async def scenario() -> None:
        app = chat_app(repo, ["never played"])
        async with app.run_test(size=(110, 40)) as pilot:
            await type_and_send(pilot, "see fake.png")
            await wait_until(pilot, lambda: "not sent" in transcript_text(app))
            assert "› see fake.png" not in transcript_text(app)
            assert chat(app).session.session_id is None  # nothing went to the model

    asyncio.run(scenario())
