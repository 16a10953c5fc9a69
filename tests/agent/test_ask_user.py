"""`ask_user`: headless runs get the fixed "no user available" answer at once, recorded in
the session; an interactive front end's answer reaches the model (replayed sessions)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent import events as ev
from agent.ask_user import NO_USER, Question
from agent.session_driver import SessionDriver, SessionOptions
from tests.agent.conftest import of_type, run_session
from tests.support import call, write_replay

ASK = call("ask_user", question="Keep the old behaviour behind a flag?",
           options=["yes, behind --legacy", "no, just fix it"])


def test_headless_never_blocks_and_records_the_fixed_answer(repo: Path) -> None:
    finish, events = run_session(
        repo, [ASK, "Nobody answered; I assumed no flag is wanted and fixed add directly."])
    assert finish.status == "done"
    [result] = of_type(events, ev.ToolResult)
    assert result.ok and result.output == NO_USER
    assert result.data == {"question": "Keep the old behaviour behind a flag?",
                           "options": ["yes, behind --legacy", "no, just fix it"],
                           "answer": None, "answered_by": "nobody"}
    assert not of_type(events, ev.Approval)  # a question needs no approval


def test_bad_questions_are_refused_with_the_reason(repo: Path) -> None:
    turns = [call("ask_user", question="Which?", options=["only one"]),
             call("ask_user", question="Which?", options=["a", "b", "c", "d", "e", "f", "g"]),
             call("ask_user", question="Which?", options=["same", "same"]),
             "I decided myself."]
    _, events = run_session(repo, turns)
    outputs = [r.output for r in of_type(events, ev.ToolResult)]
    assert all(not r.ok for r in of_type(events, ev.ToolResult))
    assert "options: List should have at least 2 items" in outputs[0]
    assert "options: List should have at most 6 items" in outputs[1]
    assert "two options are the same" in outputs[2]


def test_an_interactive_answer_reaches_the_model(repo: Path) -> None:
    asked: list[Question] = []

    async def asker(question: Question) -> str:
        asked.append(question)
        return "no, just fix it" if len(asked) == 1 else "  only the docs, please "

    replay = write_replay(repo.parent / "t.jsonl", [ASK, ASK, "Fixing add without a flag."])
    driver = SessionDriver(SessionOptions(repo, backend=f"replay:{replay}", repo_map_tokens=0),
                           asker=asker)
    finish = asyncio.run(driver.start("fix add"))
    assert finish.status == "done"
    events = driver.store.events(driver.session_id or "")
    first, second = of_type(events, ev.ToolResult)
    assert asked[0] == Question(first.call_id, "Keep the old behaviour behind a flag?",
                                ["yes, behind --legacy", "no, just fix it"])
    assert first.output == "The user chose option 2: no, just fix it"
    assert first.data["choice"] == 1 and first.data["answered_by"] == "user"
    assert second.output == "The user answered: only the docs, please"  # free text
    assert second.data["choice"] is None
    assert driver.loop is not None
    assert driver.loop.history.messages[2].content == first.output  # what the model read
    driver.close()
