"""`todo_write` and the `todo` event: the model's list, validated, shown, and carried
byte for byte through a forced compaction (replayed sessions through the driver)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent import events as ev
from agent.compaction import SUMMARY_HEADER, TODO_HEADER
from agent.history import rebuild
from agent.session_driver import SessionDriver, SessionOptions
from agent.todo import render_todo
from tests.agent.conftest import RecordingReplay, of_type, run_session
from tests.support import call

# Odd spacing, backticks, unicode and a quote: what must come back byte for byte.
ITEMS = [
    {"content": "read calc.py  (twice if needed)", "status": "done"},
    {"content": "fix `add` — it subtracts", "status": "in_progress"},
    {"content": 'add a test named "test_add" ✓', "status": "pending"},
]


def test_a_list_is_an_event_and_the_model_reads_it_back(repo: Path) -> None:
    finish, events = run_session(repo, [call("todo_write", items=ITEMS), "Planned."],
                                 approval="auto")
    assert finish.status == "done"
    [result] = [r for r in of_type(events, ev.ToolResult) if r.name == "todo_write"]
    assert result.ok and result.output == render_todo(ITEMS)
    assert result.output.splitlines() == [
        "Todo list (1 of 3 done):", "[x] read calc.py  (twice if needed)",
        "[>] fix `add` — it subtracts", '[ ] add a test named "test_add" ✓']
    [todo] = of_type(events, ev.Todo)
    assert todo.items == ITEMS and todo.step == 1
    assert events.index(todo) == events.index(result) + 1  # right after its result


def test_two_items_in_progress_are_refused_with_a_clear_error(repo: Path) -> None:
    both = [{"content": "a", "status": "in_progress"}, {"content": "b", "status": "in_progress"}]
    bad_status = [{"content": "a", "status": "started"}]
    blank = [{"content": "   ", "status": "pending"}]
    turns = [call("todo_write", items=both), call("todo_write", items=bad_status),
             call("todo_write", items=blank), "Gave up on the list."]
    finish, events = run_session(repo, turns, approval="auto")
    assert finish.status == "done"
    results = [r for r in of_type(events, ev.ToolResult) if r.name == "todo_write"]
    assert [r.ok for r in results] == [False, False, False]
    assert "at most one item may be in_progress, but 2 are: 'a', 'b'" in results[0].output
    assert "items.0.status" in results[1].output and "in_progress" in results[1].output
    assert "content is blank" in results[2].output
    assert not of_type(events, ev.Todo)  # a refused list changes nothing


def test_the_list_survives_a_forced_compaction_byte_for_byte(repo: Path) -> None:
    (repo / "notes.txt").write_text("".join(f"line {i}: some notes about calc\n"
                                            for i in range(400)))
    backend = RecordingReplay([
        call("todo_write", items=ITEMS),
        call("read_file", path="notes.txt"),
        "Read the notes; next I fix add.",
        "Still on fixing add.",
        "Summary: calc.add subtracts; notes read.",  # the compaction's summary turn
        "Going on with the list.",
    ])
    options = SessionOptions(repo, backend="replay:recorded", approval="auto",
                             repo_map_tokens=0)
    driver = SessionDriver(options, backend=backend)

    async def scenario() -> ev.Compaction:
        await driver.start("fix add, keeping a todo list")
        await driver.send("anything else?")
        compaction = await driver.compact()  # forced: the user asked (/compact)
        await driver.send("go on")
        return compaction

    compaction = asyncio.run(scenario())
    seen_before = next(r.output for r in driver.store.events(driver.session_id or "")
                       if isinstance(r, ev.ToolResult) and r.name == "todo_write")
    after = backend.requests[-1].messages
    # The call that set the list was compacted away...
    assert compaction.dropped >= 2
    assert not any(c.name == "todo_write" for m in after for c in m.tool_calls)
    # ...and the list is still there, exactly as the model read it after its call.
    assert after[1].content == (SUMMARY_HEADER + compaction.summary + TODO_HEADER
                                + seen_before)
    assert seen_before == render_todo(ITEMS)
    # A resume rebuilds the same history from the stored events.
    stored = driver.store.events(driver.session_id or "")
    assert driver.loop is not None and rebuild(stored).messages == driver.loop.history.messages
    assert rebuild(stored).todo == ITEMS
    driver.close()
