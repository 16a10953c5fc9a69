"""`AgentLoop.compact()`: compaction when the user asks, through the same path as near the
context limit (the model's summary replaces the older turns; the rest stays verbatim)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent import events as ev
from agent.backend import Message
from agent.compaction import (
    SUMMARY_HEADER,
    SUMMARY_REQUEST,
    CompactionError,
    CompactionSettings,
    NothingToCompact,
)
from agent.history import rebuild
from agent.loop import AgentLoop, LoopSettings
from agent.sessions import SessionStore
from tests.agent.conftest import RecordingReplay, of_type
from tests.support import call
from tools.base import ToolContext
from tools.files import ReadFile

SYSTEM = "You are a coding assistant.\n\nAGENTS.md: never touch the vendored folder."
TASK = "Explain calc.py, then keep a todo list: 1. fix add 2. add tests."


def make_loop(repo: Path, turns: list[str], compaction: CompactionSettings | None = None
              ) -> tuple[AgentLoop, RecordingReplay, list[ev.Event]]:
    backend = RecordingReplay(turns)
    emitted: list[ev.Event] = []
    settings = LoopSettings(repo=repo, tools=[ReadFile()], tool_context=ToolContext(repo),
                            compaction=compaction)
    return AgentLoop(backend, settings, emitted.append), backend, emitted


def start(repo: Path) -> ev.SessionStart:
    return ev.SessionStart("s1", TASK, str(repo), "replay:t", "auto", "auto", SYSTEM)


async def three_exchanges(loop: AgentLoop, repo: Path) -> None:
    await loop.run(start(repo))
    loop.add_user_message("Now look at the tests.")
    await loop.continue_run()
    loop.add_user_message("What is left?")
    await loop.continue_run()


@pytest.mark.parametrize("limit", [None, 100_000])
def test_compact_on_request_summarises_older_turns(repo: Path, limit: int | None) -> None:
    turns = [
        "Reading it." + call("read_file", path="calc.py"),
        "calc.py defines add, which subtracts. Todo: 1. fix add 2. add tests.",
        "There are no tests yet. Todo unchanged.",
        "Left: fixing add and writing the tests.",
        "Summary: add subtracts; no tests exist. Open todos: 1. fix add 2. add tests.",
        "Next I fix add.",
    ]
    compaction_settings = CompactionSettings(limit) if limit else None
    loop, backend, emitted = make_loop(repo, turns, compaction_settings)

    async def scenario() -> ev.Compaction:
        await three_exchanges(loop, repo)
        return await loop.compact(reason="user")

    compaction = asyncio.run(scenario())
    before = rebuild([e for e in emitted if not isinstance(e, ev.Compaction)]).messages

    # The summary request went with the whole history, and nothing else changed in it.
    summary_request = backend.requests[4]
    assert summary_request.system == SYSTEM
    assert summary_request.messages[:-1] == before
    assert summary_request.messages[-1] == Message("user", SUMMARY_REQUEST)

    assert of_type(emitted, ev.Compaction) == [compaction]
    assert compaction.reason == "user"
    assert compaction.summary.startswith("Summary: add subtracts")
    assert compaction.dropped >= 1 and compaction.kept >= 1
    assert compaction.dropped + compaction.kept == len(before) - 1
    history = list(loop.history.messages)
    assert history[0] == Message("user", TASK)
    assert history[1].content == SUMMARY_HEADER + compaction.summary
    assert history[2:] == before[-compaction.kept:]  # the recent turns, verbatim
    assert history[-1].content == "Left: fixing add and writing the tests."
    assert len(history) < len(before)

    # The next step sees the compacted history under the same system prompt.
    loop.add_user_message("Go on.")
    finish = asyncio.run(loop.continue_run())
    assert finish.status == "done" and finish.summary == "Next I fix add."
    assert backend.requests[-1].system == SYSTEM
    assert backend.requests[-1].messages[:len(history)] == history

    # Stored and read back, the events rebuild the same history (a resumed session).
    store = SessionStore(repo.parent / "sessions.db")
    for event in emitted:
        store.append("s1", event)
    stored = store.events("s1")
    store.close()
    assert next(e for e in stored if isinstance(e, ev.Compaction)).reason == "user"
    assert rebuild(stored).messages == loop.history.messages


def test_too_little_history_is_refused_without_asking_the_model(repo: Path) -> None:
    loop, backend, emitted = make_loop(repo, ["calc.py adds badly.", "unused"])
    asyncio.run(loop.run(start(repo)))
    asked = len(backend.requests)
    with pytest.raises(NothingToCompact, match="too little history to compact"):
        asyncio.run(loop.compact())
    assert len(backend.requests) == asked
    assert not of_type(emitted, ev.Compaction)
    assert len(loop.history.messages) == 2


def test_no_summary_leaves_the_history_unchanged(repo: Path) -> None:
    turns = ["One.", "Two.", "Three.", call("read_file", path="calc.py")]
    loop, _backend, emitted = make_loop(repo, turns, CompactionSettings(100_000))

    async def scenario() -> None:
        await loop.run(start(repo))
        loop.add_user_message("more")
        await loop.continue_run()
        loop.add_user_message("and more")
        await loop.continue_run()

    asyncio.run(scenario())
    before = list(loop.history.messages)
    with pytest.raises(CompactionError, match="no summary"):
        asyncio.run(loop.compact())
    assert loop.history.messages == before
    assert not of_type(emitted, ev.Compaction)
    assert "compaction failed" in of_type(emitted, ev.Error)[-1].message
