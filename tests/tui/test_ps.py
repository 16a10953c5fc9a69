"""`/ps`: the background processes the model started, with their ports, and none after /clear."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support import call
from tests.tools.sandbox.conftest import requires_session_network
from tests.tui.pilot import chat, chat_app, transcript_text, type_and_send, wait_idle, wait_until

pytestmark = requires_session_network()

SERVE = "python3 -m http.server 8011 --bind 127.0.0.1"


def test_ps_lists_the_server_and_its_port_until_the_conversation_ends(repo: Path) -> None:
    async def scenario() -> None:
        turns = [call("bash", command=SERVE, background=True), "Serving."]
        app = chat_app(repo, turns, approval="auto")
        async with app.run_test(size=(120, 50)) as pilot:
            await type_and_send(pilot, "/ps")
            assert "no background processes" in transcript_text(app)
            await type_and_send(pilot, "start the server")
            await wait_idle(pilot, app)
            session = chat(app).session
            await wait_until(pilot, lambda: session.processes()[0]["ports"] == [8011])
            await type_and_send(pilot, "/ps")
            await wait_until(pilot, lambda: ":8011" in transcript_text(app))
            text = transcript_text(app)
            assert "running" in text and SERVE in text
            pid = session.processes()[0]["pid"]
            await type_and_send(pilot, "/clear")
            assert session.processes() == []
            await wait_until(pilot, lambda: not Path(f"/proc/{pid}/cmdline").exists()
                             or Path(f"/proc/{pid}/cmdline").read_bytes() == b"")  # fmt: skip
            await type_and_send(pilot, "/quit")

    asyncio.run(scenario())
