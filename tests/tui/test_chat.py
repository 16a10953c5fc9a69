"""Real flows of the chat screen against the replay backend: send and stream, approve an
edit and see its diff, deny, always-allow, undo, stop, resume, slash commands."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.sessions import SessionStore
from tests.support import call
from tests.tui.conftest import CALC, sandbox_off
from tests.tui.pilot import (
    chat,
    chat_app,
    entries_of,
    transcript_text,
    type_and_send,
    wait_approval,
    wait_idle,
    wait_until,
)
from tui.widgets.blocks import TextEntry, ThinkingEntry, ToolEntry

FIX = call("edit_file", path="calc.py", old_string="a - b", new_string="a + b")


def test_send_and_stream_a_markdown_answer(repo: Path) -> None:
    answer = (
        "[THINK]The user greets me.[/THINK]Hello! Here is **code**:\n\n```python\nprint(42)\n```"
    )

    async def scenario() -> None:
        app = chat_app(repo, [answer])
        async with app.run_test(size=(100, 40)) as pilot:
            await type_and_send(pilot, "hi there")
            await wait_idle(pilot, app)
            text = transcript_text(app)
            assert "› hi there" in text
            assert "step 1 · effort high" in text and "plan" in text
            assert "print(42)" in text and "Hello!" in text
            thought = entries_of(app, ThinkingEntry)
            assert len(thought) == 1 and not thought[0].record.live
            assert "thought (4 words)" in transcript_text(app)  # folded after the step
            await pilot.click(ThinkingEntry)
            assert "The user greets me." in transcript_text(app)  # unfolds on click
            assert len(entries_of(app, TextEntry)) == 1
            stats = chat(app).stats
            assert stats.completion_tokens > 0 and stats.prompt_tokens > 0
            assert not chat(app).live.display  # nothing left streaming
        store = SessionStore()
        sessions = store.list()
        assert len(sessions) == 1 and sessions[0].task == "hi there"
        assert sessions[0].status == "done"
        store.close()

    asyncio.run(scenario())


def test_approve_an_edit_see_its_diff_then_undo(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, [FIX, "Fixed `add`."], approval="ask")
        async with app.run_test(size=(100, 45)) as pilot:
            await type_and_send(pilot, "fix add")
            panel = await wait_approval(pilot, app)
            assert panel.tool == "edit_file"
            diff = panel.preview["diff"]
            assert "+    return a + b" in diff and "-    return a - b" in diff
            assert (repo / "calc.py").read_text() == CALC  # nothing written before yes
            await pilot.press("y")
            await wait_idle(pilot, app)
            assert "return a + b" in (repo / "calc.py").read_text()
            card = entries_of(app, ToolEntry)[0]
            assert card.record.status == "ok"
            assert card.record.diff and "+    return a + b" in card.record.diff
            text = transcript_text(app)
            assert "+    return a + b" in text and "approved by the user" in text
            assert "checkpoint" in text and "Fixed" in text
            await type_and_send(pilot, "/undo")
            await pilot.pause(1.0)
            assert (repo / "calc.py").read_text() == CALC
            assert "restored checkpoint" in transcript_text(app)

    asyncio.run(scenario())


def test_the_approval_shows_the_tools_own_preview_of_a_crlf_edit(repo: Path) -> None:
    # The model writes LF; the file has CRLF. The edit tool matches it, and so must the
    # preview (the TUI's own preview once said "not found verbatim" here).
    (repo / "calc.py").write_bytes(CALC.replace("\n", "\r\n").encode())
    crlf_fix = call(
        "edit_file", path="calc.py", old_string="def add(a, b):\n    return a - b",
        new_string="def add(a, b):\n    return a + b",
    )

    async def scenario() -> None:
        app = chat_app(repo, [crlf_fix, "Fixed."], approval="ask")
        async with app.run_test(size=(100, 45)) as pilot:
            await type_and_send(pilot, "fix add")
            panel = await wait_approval(pilot, app)
            shown = panel.preview["diff"]
            assert "+    return a + b" in shown and "error" not in panel.preview
            await pilot.press("y")
            await wait_idle(pilot, app)
            card = entries_of(app, ToolEntry)[0]
            assert card.record.status == "ok" and card.record.diff == shown
            assert b"return a + b\r\n" in (repo / "calc.py").read_bytes()

    asyncio.run(scenario())


def test_deny_leaves_the_file_and_tells_the_model(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, [FIX, "Understood, I will not edit."], approval="ask")
        async with app.run_test(size=(100, 45)) as pilot:
            await type_and_send(pilot, "fix add")
            await wait_approval(pilot, app)
            await pilot.press("n")
            await wait_idle(pilot, app)
            assert (repo / "calc.py").read_text() == CALC
            card = entries_of(app, ToolEntry)[0]
            assert card.record.status == "denied"
            assert "denied by the user" in transcript_text(app)
            assert "Understood" in transcript_text(app)

    asyncio.run(scenario())


def test_always_allows_the_tool_for_the_rest_of_the_session(repo: Path) -> None:
    second = call("write_file", path="notes.md", content="# notes\n")
    first = call("write_file", path="todo.md", content="- fix add\n")

    async def scenario() -> None:
        app = chat_app(repo, [first, second, "Both written."], approval="ask")
        async with app.run_test(size=(100, 45)) as pilot:
            await type_and_send(pilot, "write the files")
            await wait_approval(pilot, app)
            await pilot.press("a")
            await wait_idle(pilot, app)  # the second write ran without asking
            assert (repo / "todo.md").exists() and (repo / "notes.md").exists()
            assert "approved by the user for this session" in transcript_text(app)
            cards = entries_of(app, ToolEntry)
            assert [c.record.status for c in cards] == ["ok", "ok"]

    asyncio.run(scenario())


def test_escape_stops_while_asking_and_the_session_goes_on(repo: Path) -> None:
    risky = call("bash", command="rm -rf build")

    async def scenario() -> None:
        app = chat_app(repo, [risky, "Stopped as you asked."], approval="ask")
        async with app.run_test(size=(100, 45)) as pilot:
            await type_and_send(pilot, "clean up")
            await wait_approval(pilot, app)
            await pilot.press("escape")
            await wait_idle(pilot, app)
            assert chat(app)._approval is None
            text = transcript_text(app)
            assert "stopped by you" in text and "› clean up" in text
            await type_and_send(pilot, "never mind")
            await wait_idle(pilot, app)
            assert "Stopped as you asked." in transcript_text(app)
        store = SessionStore()
        events = store.events(store.list()[0].id)
        store.close()
        results = [e for e in events if e.type == "tool_result"]
        assert len(results) == 1 and not results[0].ok  # the stopped call got its result

    asyncio.run(scenario())


def test_resume_shows_the_stored_session_and_continues(repo: Path) -> None:
    turns = ["First answer.", "Second answer."]

    async def first() -> None:
        app = chat_app(repo, turns)
        async with app.run_test(size=(100, 40)) as pilot:
            await type_and_send(pilot, "question one")
            await wait_idle(pilot, app)

    async def second() -> None:
        app = chat_app(repo, None, resume="last")
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            text = transcript_text(app)
            assert "› question one" in text and "First answer." in text
            assert "resumed session" in text
            await type_and_send(pilot, "question two")
            await wait_idle(pilot, app)
            assert "Second answer." in transcript_text(app)

    asyncio.run(first())
    asyncio.run(second())
    store = SessionStore()
    assert len(store.list()) == 1
    store.close()


def test_slash_commands(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, ["Fine."])
        async with app.run_test(size=(100, 60)) as pilot:
            await type_and_send(pilot, "/help")
            text = transcript_text(app)
            for name in (
                "help",
                "effort",
                "undo",
                "checkpoints",
                "review",
                "sessions",
                "compact",
                "model",
                "run",
                "clear",
                "quit",
            ):
                assert f"/{name}" in text
            await type_and_send(pilot, "/compact")
            await wait_until(pilot, lambda: "nothing to compact yet" in transcript_text(app))
            await type_and_send(pilot, "/image shot.png")  # no such file
            await pilot.pause(0.2)
            assert "/image:" in transcript_text(app) and "shot.png" in transcript_text(app)
            await type_and_send(pilot, "/effort high")
            assert chat(app).session.options.effort == "high"
            await type_and_send(pilot, "/effort extreme")
            assert "effort must be one of" in transcript_text(app)
            await type_and_send(pilot, "/checkpoints")
            assert "no checkpoints yet" in transcript_text(app)
            await type_and_send(pilot, "/nonsense")
            assert "unknown command /nonsense" in transcript_text(app)
            await type_and_send(pilot, "hello")
            await wait_idle(pilot, app)
            assert "effort high" in transcript_text(app)  # the fixed effort was used
            await type_and_send(pilot, "/sessions")
            assert "sessions (newest first)" in transcript_text(app)
            await type_and_send(pilot, "/clear")
            assert "Fine." not in transcript_text(app)
            await type_and_send(pilot, "/review")
            await pilot.pause(0.3)
            assert type(app.screen).__name__ == "ReviewScreen"
            await pilot.press("escape")
            await type_and_send(pilot, "/quit")
        assert app.return_code == 0 or app.return_code is None

    asyncio.run(scenario())


def test_input_history_and_multiline(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, ["One.", "Two."])
        async with app.run_test(size=(100, 40)) as pilot:
            prompt = chat(app).prompt
            await pilot.press(*"line one", "ctrl+j", *"line two")
            assert prompt.text == "line one\nline two"
            await pilot.press("enter")
            await wait_idle(pilot, app)
            await pilot.press(*"draft")
            await pilot.press("up")  # at the first line: recall the last message
            assert prompt.text == "line one\nline two"
            await pilot.press("down", "down")
            assert prompt.text == "draft"

    asyncio.run(scenario())


def test_sandbox_off_is_loud(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, ["ok"], probe=sandbox_off)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.3)
            assert chat(app).status_bar.has_class("-unsafe")
            assert "SANDBOX OFF" in transcript_text(app)

    asyncio.run(scenario())


def test_tab_completes_an_at_path(repo: Path) -> None:
    (repo / "src").mkdir()
    (repo / "src" / "parser.py").write_text("")
    (repo / "src" / "printer.py").write_text("")

    async def scenario() -> None:
        app = chat_app(repo, ["ok"])
        async with app.run_test(size=(100, 30)) as pilot:
            prompt = chat(app).prompt
            await pilot.press(*"look at @ca", "tab")
            assert prompt.text == "look at @calc.py"
            await pilot.press(*" and @s", "tab")
            assert prompt.text.endswith("@src/")
            await pilot.press("p", "tab")  # parser.py and printer.py share only "p"
            assert prompt.text.endswith("@src/p")
            await pilot.press("a", "tab")
            assert prompt.text == "look at @calc.py and @src/parser.py"
            await pilot.press(*" @../", "tab")  # nothing outside the repository
            assert prompt.text.endswith("@../")

    asyncio.run(scenario())
