"""The footer shows the context the backend's model serves, and a session whose system
prompt cannot fit that context is refused, with what to do, before anything is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.backends.fake_openai import FakeOpenAIServer, Reply, chunk
from tests.tui.pilot import chat, plain, transcript_text, type_and_send, wait_until
from tui.app import TesseraApp
from tui.session import ChatOptions


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    """Lists its model as vLLM does, here with the tiny checkpoint's 256-token context."""
    monkeypatch.setenv("TESSERA_OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer() as fake:
        fake.max_model_len = 256
        fake.replies = [Reply([chunk(content="Done.", finish="stop")])]
        yield fake


def footer(app: TesseraApp) -> str:
    return plain(chat(app).status_bar.render())


def run_chat(repo: Path, server: FakeOpenAIServer) -> str:
    """Send one message; the footer and the transcript afterwards."""
    options = ChatOptions(repo=repo, backend=f"openai:{server.base_url}", repo_map_tokens=0)

    async def scenario() -> str:
        app = TesseraApp(options, sandbox_probe=lambda: (True, "sandbox: test"))
        async with app.run_test(size=(160, 40)) as pilot:
            assert "ctx 0 " in footer(app)  # nothing claimed before the backend says
            await type_and_send(pilot, "fix the bug")
            await wait_until(pilot, lambda: chat(app).stats.state == "idle"
                             and chat(app).stats.context_window is not None)
            await pilot.pause()
            return footer(app) + "\n" + transcript_text(app)

    return asyncio.run(scenario())


def test_a_small_window_is_shown_and_the_first_message_refused_before_sending(
        repo: Path, server: FakeOpenAIServer) -> None:
    seen = run_chat(repo, server)
    assert "ctx 0/256 0%" in seen
    assert "cannot start: the system prompt and the" in seen
    assert "the model's context is 256 tokens: nothing was sent" in " ".join(seen.split())
    assert "--max-model-len" in seen
    assert server.chat_requests() == []


def test_a_window_that_fits_is_the_footers_denominator(repo: Path,
                                                        server: FakeOpenAIServer) -> None:
    server.max_model_len = 131_072
    seen = run_chat(repo, server)
    assert "ctx 0/131.1k 0%" in seen.splitlines()[0]  # the fake reports no usage
    assert len(server.chat_requests()) == 1 and "Done." in seen
