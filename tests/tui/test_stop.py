"""Esc in the middle of a real stream (an OpenAI-compatible server streaming slowly):
what streamed stays on screen, the run ends `cancelled`, and the session goes on. The
partial answer is recorded: the model sees it in its next request, a resume shows it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.sessions import SessionStore
from tests.agent.backends.fake_openai import FakeOpenAIServer, Reply, chunk
from tests.tui.conftest import isolated_sandbox
from tests.tui.pilot import chat, transcript_text, type_and_send, wait_idle, wait_until
from tui.app import TesseraApp
from tui.session import ChatOptions
from tui.widgets.blocks import TextEntry

USAGE = {"prompt_tokens": 900, "completion_tokens": 30, "total_tokens": 930}


def slow_answer() -> Reply:
    words = [chunk(content=f"word{i} ") for i in range(300)]
    return Reply(
        chunks=[chunk(reasoning="Think first. "), *words, chunk(finish="stop"), chunk(usage=USAGE)],
        chunk_delay=0.03,
    )


def test_escape_mid_stream_keeps_the_partial_answer(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer() as server:
        done = Reply(
            chunks=[chunk(content="Continuing."), chunk(finish="stop"), chunk(usage=USAGE)]
        )
        server.replies = [slow_answer(), done]

        async def scenario() -> None:
            options = ChatOptions(repo=repo, backend=f"openai:{server.base_url}")
            app = TesseraApp(options, sandbox_probe=isolated_sandbox)
            async with app.run_test(size=(100, 40)) as pilot:
                await type_and_send(pilot, "write a long answer")
                screen = chat(app)
                await wait_until(
                    pilot,
                    lambda: (
                        screen.builder.live_text is not None
                        and "word5 " in screen.builder.live_text.text
                    ),
                )
                assert screen.live.display  # the live area shows the stream
                await pilot.press("escape")
                await wait_idle(pilot, app)
                answers = list(screen.transcript.query(TextEntry))
                assert len(answers) == 1
                partial = answers[0].record
                assert partial.stopped and partial.text.startswith("word0 word1 ")
                assert "word299" not in partial.text
                assert "stopped by you" in transcript_text(app)
                assert not screen.live.display
                assert len(list(screen.transcript.query(TextEntry))) == 1  # not twice
                await type_and_send(pilot, "go on")
                await wait_idle(pilot, app)
                assert "Continuing." in transcript_text(app)

        asyncio.run(scenario())
        second = server.chat_requests()[-1].body
    assert second is not None
    said = [m for m in second["messages"] if m["role"] == "assistant"]
    assert len(said) == 1 and str(said[0]["content"]).startswith("word0 word1 ")
    store = SessionStore()
    info = store.list()[0]
    events = store.events(info.id)
    store.close()
    assert [e.status for e in events if e.type == "finish"] == ["cancelled", "done"]
    texts = [e.text for e in events if e.type == "text"]
    assert texts[0].startswith("word0 ") and texts[1] == "Continuing."

    async def resumed() -> None:
        app = TesseraApp(ChatOptions(repo=repo, resume="last", backend="replay:/dev/null"),
                         sandbox_probe=isolated_sandbox)
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause(0.3)
            shown = transcript_text(app)
            assert "word0 word1" in shown and "Continuing." in shown

    asyncio.run(resumed())
