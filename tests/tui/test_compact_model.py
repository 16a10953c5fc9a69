"""`/compact` compacts the conversation now; `/model SPEC` switches the backend mid-session."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent import events as ev
from agent.compaction import SUMMARY_HEADER
from agent.sessions import SessionStore
from tests.support import write_replay
from tests.tui.pilot import chat, chat_app, transcript_text, type_and_send, wait_idle, wait_until


def footer(app) -> str:
    return chat(app).status_bar.render().plain


def test_compact_on_request(repo: Path) -> None:
    summary = "Summary: three questions answered; open todo: fix add in calc.py."
    turns = ["Answer one.", "Answer two.", "Answer three.", summary, "After the summary."]

    async def scenario() -> None:
        app = chat_app(repo, turns)
        async with app.run_test(size=(100, 50)) as pilot:
            await type_and_send(pilot, "/compact")
            await wait_until(pilot, lambda: "/compact:" in transcript_text(app))
            assert "nothing to compact yet" in transcript_text(app)

            await type_and_send(pilot, "question one")
            await wait_idle(pilot, app)
            await type_and_send(pilot, "/compact")
            await wait_until(pilot, lambda: "too little history" in transcript_text(app))
            await wait_idle(pilot, app)

            for text in ("question two", "question three"):
                await type_and_send(pilot, text)
                await wait_idle(pilot, app)
            session = chat(app).session
            before = list(session.loop.history.messages)
            await type_and_send(pilot, "/compact")
            await wait_until(pilot, lambda: "context compacted on request" in transcript_text(app))
            await wait_idle(pilot, app)
            shown = transcript_text(app)
            assert summary in shown
            assert "problem:" not in shown and "error" not in shown.lower()
            history = list(session.loop.history.messages)
            assert history[0] == before[0]  # the task
            assert history[1].content == SUMMARY_HEADER + summary
            assert history[-1] == before[-1]  # the latest turn, verbatim
            assert len(history) < len(before)
            assert chat(app).stats.context_tokens == session.loop.context_tokens

            await type_and_send(pilot, "go on")
            await wait_idle(pilot, app)
            assert "After the summary." in transcript_text(app)
            session_id = session.session_id

        store = SessionStore()
        stored = store.events(session_id)
        store.close()
        compactions = [e for e in stored if isinstance(e, ev.Compaction)]
        assert len(compactions) == 1 and compactions[0].reason == "user"
        assert compactions[0].summary == summary

    asyncio.run(scenario())


def test_model_switches_backend_and_keeps_history(repo: Path) -> None:
    second = write_replay(repo.parent / "second.jsonl", ["From the second file."])

    async def scenario() -> None:
        app = chat_app(repo, ["From the first file.", "Unused first-file turn."])
        async with app.run_test(size=(100, 50)) as pilot:
            await type_and_send(pilot, "hello")
            await wait_idle(pilot, app)
            assert "From the first file." in transcript_text(app)
            assert "replay:turns.jsonl" in footer(app)

            await type_and_send(pilot, "/model nonsense:thing")
            assert "unknown backend spec 'nonsense:thing'" in transcript_text(app)
            await type_and_send(pilot, f"/model replay:{repo.parent / 'missing.jsonl'}")
            assert "missing.jsonl" in transcript_text(app).split("unknown backend spec")[-1]
            assert "replay:turns.jsonl" in footer(app)  # unchanged after bad specs

            await type_and_send(pilot, f"/model replay:{second}")
            await pilot.pause()
            assert "replay:second.jsonl" in footer(app)
            assert "from the next step on" in transcript_text(app)
            await type_and_send(pilot, "/model")
            assert f"backend: replay:{second}" in transcript_text(app)

            await type_and_send(pilot, "hello again")
            await wait_idle(pilot, app)
            text = transcript_text(app)
            assert "From the second file." in text
            assert "Unused first-file turn." not in text
            contents = [m.content for m in chat(app).session.loop.history.messages]
            assert contents == ["hello", "From the first file.", "hello again",
                                "From the second file."]

    asyncio.run(scenario())
