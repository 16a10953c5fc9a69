"""Autonomous runs from the TUI: two at once on the replay backend, watched on the tasks
screen (step, status, live events), one stopped; each is a stored session."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.sessions import SessionStore
from tests.support import call
from tests.tui.conftest import CALC
from tests.tui.pilot import chat, chat_app, transcript_text, type_and_send, wait_until
from tui.screens.tasks import RunItem, TasksScreen
from tui.widgets.blocks import Entry

FIX = call("edit_file", path="calc.py", old_string="a - b", new_string="a + b")


def test_two_runs_at_once_watched_on_the_tasks_screen(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, [FIX, "Fixed add."], approval="auto-edit")
        async with app.run_test(size=(120, 40)) as pilot:
            await type_and_send(pilot, "/run fix add")
            await type_and_send(pilot, "/run fix add again")
            assert "started task #2" in transcript_text(app)
            manager = app.tasks
            await wait_until(pilot, lambda: not manager.active)
            assert [r.status for r in manager.runs] == ["done", "done"]
            assert all(r.step == 2 and r.spent_tokens > 0 for r in manager.runs)
            assert "return a + b" in (repo / "calc.py").read_text()
            assert "task #1 done: Fixed add." in transcript_text(app)
            await pilot.press("ctrl+t")
            await pilot.pause(0.3)
            screen = app.screen
            assert isinstance(screen, TasksScreen)
            items = list(screen.query(RunItem))
            assert [i.run.number for i in items] == [1, 2]
            assert screen.selected is manager.runs[1]
            assert any(getattr(r, "name", "") == "edit_file" for r in screen.transcript.records)
            assert screen.transcript.query(Entry)
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is chat(app)
        store = SessionStore()
        sessions = store.list()
        store.close()
        assert sorted(s.task for s in sessions) == ["fix add", "fix add again"]
        assert {s.status for s in sessions} == {"done"}

    asyncio.run(scenario())


def test_start_and_stop_a_run_from_the_tasks_screen(repo: Path) -> None:
    ask = call("bash", command="sleep 4")

    async def scenario() -> None:
        app = chat_app(repo, [ask, "unreachable"], approval="auto")
        async with app.run_test(size=(120, 40)) as pilot:
            await type_and_send(pilot, "/run")
            await pilot.pause(0.2)
            screen = app.screen
            assert isinstance(screen, TasksScreen)
            await pilot.press(*"sleep a while", "enter")
            manager = app.tasks
            await wait_until(pilot, lambda: manager.runs and manager.runs[0].step == 1)
            assert screen.selected is manager.runs[0]
            await pilot.pause(0.3)
            await pilot.press("escape")  # back to the chat, the run goes on
            await pilot.press("ctrl+t")
            await pilot.pause(0.2)
            screen = app.screen
            screen.query_one("#runs").focus()
            await pilot.press("x")
            await wait_until(pilot, lambda: not manager.active)
            assert manager.runs[0].status == "cancelled"
            assert (repo / "calc.py").read_text() == CALC

    asyncio.run(scenario())
