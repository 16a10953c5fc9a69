"""Plan mode, the todo panel and the model's questions in the chat, under Pilot against
the replay backend: a plan approved (as is, or edited) and carried out, a plan
rejected, the live todo list, and ask_user's chooser answered by key and in free text."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent import events as ev
from agent.sessions import SessionStore
from tests.support import call
from tests.tui.conftest import CALC
from tests.tui.pilot import chat, chat_app, transcript_text, type_and_send, wait_idle, wait_until
from tui.widgets.plan import PlanPanel
from tui.widgets.question import QuestionPanel

PLAN = "1. Change `a - b` to `a + b` in calc.py\n2. Check add(2, 3)"
PLANNING = [call("read_file", path="calc.py"), call("exit_plan", plan=PLAN)]
FIX = call("edit_file", path="calc.py", old_string="a - b", new_string="a + b")
PROGRESS = call("todo_write", items=[
    {"content": "Change `a - b` to `a + b` in calc.py", "status": "done"},
    {"content": "Check add(2, 3)", "status": "in_progress"}])
ASK = call("ask_user", question="Which name for the helper?",
           options=["plus", "add_numbers", "sum2"])


def stored_events() -> list[ev.Event]:
    store = SessionStore()
    [info] = store.list()
    events = store.events(info.id)
    store.close()
    return events


async def wait_plan(pilot, app) -> PlanPanel:
    await wait_until(pilot, lambda: chat(app)._plan_panel is not None)
    await pilot.pause()
    panel = chat(app)._plan_panel
    assert panel is not None
    return panel


def test_a_plan_approved_with_auto_edit_is_carried_out(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, [*PLANNING, FIX, PROGRESS, "Fixed add as planned."],
                       approval="ask")
        async with app.run_test(size=(100, 45)) as pilot:
            await pilot.press("shift+tab")
            assert chat(app).session.plan_mode and chat(app).stats.mode == "plan"
            await type_and_send(pilot, "fix add")
            panel = await wait_plan(pilot, app)
            assert panel.plan == PLAN
            assert (repo / "calc.py").read_text() == CALC  # nothing changed while planning
            await pilot.press("a")  # approve, carried out with auto-edit
            await wait_until(pilot, lambda: not chat(app)._worker.is_running)
            await pilot.pause()
            assert "return a + b" in (repo / "calc.py").read_text()
            assert not chat(app).session.plan_mode and chat(app).stats.mode == ""
            todo = chat(app).todo_panel
            assert todo.display and todo.items[1] == {"content": "Check add(2, 3)",
                                                      "status": "in_progress"}
            text = transcript_text(app)
            assert "plan ready (2 step(s))" in text
            assert "plan approved, carried out with approval auto-edit" in text
            assert "Fixed add as planned." in text
            await type_and_send(pilot, "/clear")  # a fresh conversation has no list yet
            assert not todo.display
        events = stored_events()
        decision = next(e for e in events if isinstance(e, ev.PlanDecision))
        assert decision == ev.PlanDecision("approved", PLAN, "auto-edit")
        first_todo = next(e for e in events if isinstance(e, ev.Todo))
        assert [i["content"] for i in first_todo.items] == [
            "Change `a - b` to `a + b` in calc.py", "Check add(2, 3)"]

    asyncio.run(scenario())


def test_an_edited_plan_is_what_gets_approved(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, [*PLANNING, "Done."], approval="ask")
        async with app.run_test(size=(100, 45)) as pilot:
            await type_and_send(pilot, "/plan on")
            await type_and_send(pilot, "fix add")
            panel = await wait_plan(pilot, app)
            await pilot.press("e")
            await pilot.pause()
            assert panel.editor is not None and panel.editor.has_focus
            panel.editor.move_cursor(panel.editor.document.end)
            await pilot.press("enter", *"3. Add a test")
            await pilot.click("#approve-ask")
            await wait_until(pilot, lambda: not chat(app)._worker.is_running)
        decision = next(e for e in stored_events() if isinstance(e, ev.PlanDecision))
        assert decision.text == PLAN + "\n3. Add a test" and decision.approval == "ask"
        note = [e for e in stored_events() if isinstance(e, ev.UserMessage)][-1]
        assert "approved the plan, with the user's edits" in note.text

    asyncio.run(scenario())


def test_a_rejected_plan_keeps_plan_mode_and_changes_nothing(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, PLANNING, approval="auto")
        async with app.run_test(size=(100, 45)) as pilot:
            await type_and_send(pilot, "/plan")
            await type_and_send(pilot, "fix add")
            await wait_plan(pilot, app)
            await pilot.press("n")
            await wait_until(pilot, lambda: not chat(app)._worker.is_running)
            await pilot.pause()
            assert chat(app).session.plan_mode
            assert "plan rejected; plan mode stays on" in transcript_text(app)
        assert (repo / "calc.py").read_text() == CALC
        assert stored_events()[-1] == ev.PlanDecision("rejected", PLAN)

    asyncio.run(scenario())


def test_ask_user_chooser_by_key_and_in_free_text(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, [ASK, ASK, "Named it add_numbers; docs noted."])
        async with app.run_test(size=(100, 45)) as pilot:
            await type_and_send(pilot, "add a helper")
            await wait_until(pilot, lambda: chat(app)._question is not None)
            await pilot.pause()
            panel = chat(app)._question
            assert isinstance(panel, QuestionPanel)
            assert panel.question.options == ["plus", "add_numbers", "sum2"]
            await pilot.press("2")
            await wait_until(pilot, lambda: chat(app)._question not in (None, panel))
            await pilot.pause()
            await pilot.press("f", *"call it adder", "enter")
            await wait_idle(pilot, app)
        results = [e for e in stored_events() if isinstance(e, ev.ToolResult)]
        assert [r.output for r in results] == ["The user chose option 2: add_numbers",
                                               "The user answered: call it adder"]

    asyncio.run(scenario())


def test_a_resumed_session_offers_its_undecided_plan_again(repo: Path) -> None:
    async def plan_then_quit() -> None:
        app = chat_app(repo, PLANNING)
        async with app.run_test(size=(100, 45)) as pilot:
            await type_and_send(pilot, "/plan on")
            await type_and_send(pilot, "fix add")
            await wait_plan(pilot, app)  # left without a decision

    async def resume_and_approve() -> None:
        # A resumed replay skips the turns the session already took (the plan's two).
        app = chat_app(repo, [*PLANNING, FIX, "Fixed."], resume="last")
        async with app.run_test(size=(100, 45)) as pilot:
            panel = await wait_plan(pilot, app)
            assert panel.plan == PLAN and chat(app).stats.mode == "plan"
            await pilot.press("a")
            await wait_until(pilot, lambda: not chat(app)._worker.is_running)

    asyncio.run(plan_then_quit())
    asyncio.run(resume_and_approve())
    assert "return a + b" in (repo / "calc.py").read_text()
    events = stored_events()
    assert len([e for e in events if isinstance(e, ev.SessionStart)]) == 1
    assert ev.PlanDecision("approved", PLAN, "auto-edit") in events


def test_esc_while_the_model_asks_stops_the_run_and_removes_the_chooser(repo: Path) -> None:
    async def scenario() -> None:
        app = chat_app(repo, [ASK, "unused"])
        async with app.run_test(size=(100, 45)) as pilot:
            await type_and_send(pilot, "add a helper")
            await wait_until(pilot, lambda: chat(app)._question is not None)
            await pilot.press("escape")
            await wait_until(pilot, lambda: not chat(app)._worker.is_running)
            await pilot.pause()
            assert chat(app)._question is None and not list(app.query(QuestionPanel))
            assert "stopped by you" in transcript_text(app)
        assert stored_events()[-1] == ev.Finish("cancelled", "the run was cancelled", 1)

    asyncio.run(scenario())
