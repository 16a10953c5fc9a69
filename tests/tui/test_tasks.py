"""Autonomous runs from the TUI: two at once on the replay backend, watched on the tasks
screen (step, status, live events), one stopped; each is a stored session in its own git
worktree, reviewed, applied or discarded from the tasks screen."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from agent.sessions import SessionStore
from tests.support import call, git, write_replay
from tests.tui.conftest import CALC
from tests.tui.pilot import chat, chat_app, plain, transcript_text, type_and_send, wait_until
from tui.screens.review import ReviewScreen
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
            assert (repo / "calc.py").read_text() == CALC  # each run works in its worktree
            for run in manager.runs:
                assert run.worktree is not None
                assert "return a + b" in (Path(run.worktree.path) / "calc.py").read_text()
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


def test_review_apply_and_discard_worktree_runs_from_the_tasks_screen(repo: Path) -> None:
    other = call("edit_file", path="calc.py", old_string="a * b", new_string="b * a")
    turns = [FIX, other, "Fixed add, swapped mul."]

    clash = write_replay(repo.parent / "clash.jsonl", [call(
        "edit_file", path="calc.py", old_string="a - b", new_string="b + a"), "Fixed it too."])

    async def scenario() -> None:
        app = chat_app(repo, turns, approval="auto-edit")
        async with app.run_test(size=(120, 40)) as pilot:
            await type_and_send(pilot, "/run fix both")
            await wait_until(pilot, lambda: app.tasks.runs and not app.tasks.active)
            await type_and_send(pilot, f"/model replay:{clash}")  # later runs use it
            await type_and_send(pilot, "/run fix add your way")
            manager = app.tasks
            await wait_until(pilot, lambda: len(manager.runs) == 2 and not manager.active)
            first, second = manager.runs
            await pilot.press("ctrl+t")
            await pilot.pause(0.3)
            screen = app.screen
            assert isinstance(screen, TasksScreen)
            labels = [plain(item.label.render()) for item in screen.query(RunItem)]
            assert all(f"⎇ tessera/{r.session_id}" in label
                       for r, label in zip(manager.runs, labels, strict=True))
            screen.query_one("#runs").focus()
            await pilot.press("up")  # the first run
            await pilot.pause(0.2)
            assert screen.selected is first
            title = plain(screen.query_one("#run-title").render())
            assert first.worktree.path in title and "v review · a apply" in title

            await pilot.press("v")  # its diff against its start point
            await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen)
                             and app.screen.files)
            review = app.screen
            assert [f.path for f in review.files] == ["calc.py"]
            assert len(review.files[0].hunks) == 1  # add and mul are close: one hunk
            assert "the start of run #1" in plain(review.message.render())
            await pilot.press("a")  # nothing kept yet
            assert "no hunk kept yet" in plain(review.message.render())
            await pilot.press("y", "a")
            await wait_until(pilot, lambda: app.screen is screen)
            assert (repo / "calc.py").read_text() == CALC.replace("a - b", "a + b").replace(
                "a * b", "b * a")
            assert first.landed == "applied" and not Path(first.worktree.path).exists()
            assert "tessera undo" in plain(screen.query_one("#run-title").render())

            await pilot.press("down")  # the second run changed the same lines
            await pilot.pause(0.2)
            before = (repo / "calc.py").read_bytes()
            await pilot.press("a")
            await wait_until(pilot, lambda: "nothing applied" in screen.outcome)
            assert "calc.py" in screen.outcome
            assert (repo / "calc.py").read_bytes() == before
            await pilot.press("d")
            assert "d again discards" in screen.outcome
            assert Path(second.worktree.path).exists()
            await pilot.press("d")
            await wait_until(pilot, lambda: second.landed == "discarded")
            assert not Path(second.worktree.path).exists()
            assert git(repo, "branch", "--list", f"tessera/{second.session_id}") == ""
            assert (repo / "calc.py").read_bytes() == before

    asyncio.run(scenario())


def test_runs_work_in_the_users_tree_when_the_setting_is_off(repo: Path) -> None:
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "tessera" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[worktree]\ntasks = false\n")

    async def scenario() -> None:
        app = chat_app(repo, [FIX, "Fixed add."], approval="auto-edit")
        async with app.run_test(size=(120, 40)) as pilot:
            await type_and_send(pilot, "/run fix add")
            manager = app.tasks
            await wait_until(pilot, lambda: manager.runs and not manager.active)
            assert manager.runs[0].worktree is None
            assert "return a + b" in (repo / "calc.py").read_text()
            await pilot.press("ctrl+t")
            await pilot.pause(0.3)
            await pilot.press("a")
            await pilot.pause(0.2)
            assert "works in your own tree" in app.screen.outcome

    asyncio.run(scenario())
