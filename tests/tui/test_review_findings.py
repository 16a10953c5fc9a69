"""The model's findings in the review screen: the agent's review runs on the replay
backend, its findings show under the lines they name, ] and [ jump between them, and
"ask the model to fix this hunk" carries the hunk's findings."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from textual.app import App

from agent.review_findings import Finding
from agent.sessions import SessionStore
from tests.support import write_replay
from tests.tui.pilot import (
    chat,
    chat_app,
    plain,
    transcript_text,
    type_and_send,
    wait_idle,
    wait_until,
)
from tests.tui.test_review import CHANGED, _dirty
from tools.git.patch import FileDiff, Hunk
from tui.reviewing import ModelReviewer, line_numbers, placement
from tui.screens.review import FileItem, HunkView, ReviewScreen

SUB_LINE = CHANGED.splitlines().index("    return b - a") + 1
FINDINGS = [
    {"file": "calc.py", "line": 2, "severity": "warning",
     "message": "add changed sign; check every caller", "suggestion": None},
    {"file": "calc.py", "line": SUB_LINE, "severity": "error",
     "message": "sub returns b - a: the operands are swapped",
     "suggestion": "    return a - b"},
    {"file": "nowhere.py", "line": 1, "severity": "info", "message": "not in the diff"},
]
ANSWER = (
    "[THINK]Two hunks in calc.py.[/THINK]The sign fix in add looks right, but sub is now "
    "wrong.\n\n```json\n" + json.dumps({"findings": FINDINGS}) + "\n```"
)


def reviewer_for(repo: Path, answer: str = ANSWER) -> ModelReviewer:
    replay = write_replay(repo.parent / "review.jsonl", [answer])
    return ModelReviewer(repo, f"replay:{replay}")


class ReviewApp(App):
    def __init__(self, screen: ReviewScreen) -> None:
        super().__init__()
        self.review_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self.review_screen)


async def _reviewed(pilot, screen: ReviewScreen) -> None:
    await pilot.pause(0.3)
    await pilot.press("m")
    await wait_until(pilot, lambda: not screen.reviewing and bool(screen.findings), 60)
    await pilot.pause(0.2)


def test_findings_shown_under_their_lines_and_jumped_between(repo: Path) -> None:
    _dirty(repo)
    screen = ReviewScreen(repo, reviewer=reviewer_for(repo))

    async def scenario() -> None:
        app = ReviewApp(screen)
        async with app.run_test(size=(120, 40)) as pilot:
            await _reviewed(pilot, screen)
            message = str(screen.message.render())
            assert "2 finding(s): 1 error, 1 warning; 1 rejected" in message
            assert [(f.line, f.severity) for f in screen.findings] == [
                (2, "warning"), (SUB_LINE, "error")]
            views = list(screen.query(HunkView))
            assert [len(v.own_findings) for v in views] == [1, 1]
            first = plain(views[0].content).splitlines()
            at = next(i for i, line in enumerate(first) if "return a + b" in line)
            assert "warning line 2: add changed sign" in first[at + 1]
            second = plain(views[1].content)
            assert "error line" in second and "operands are swapped" in second
            assert "suggestion:     return a - b" in second
            calc_item = screen.query(FileItem).first()
            assert "✖2" in plain(calc_item.query_one("Static").content)

            await pilot.press("right_square_bracket")
            assert screen.current_hunk == 0
            assert "finding 1/2: warning calc.py:2" in str(screen.message.render())
            await pilot.press("right_square_bracket")
            await pilot.pause()
            assert screen.current_hunk == 1
            assert list(screen.query(HunkView))[1].has_class("-current")
            await pilot.press("left_square_bracket")
            await pilot.pause()
            assert screen.current_hunk == 0

            await pilot.press("s")  # side by side keeps the findings, under the hunk
            await pilot.pause(0.2)
            assert "add changed sign" in plain(screen.query(HunkView).first().content)

    asyncio.run(scenario())
    # The review is stored as a session, with its finding events.
    store = SessionStore()
    try:
        stored = store.events(store.resolve("last"))
    finally:
        store.close()
    assert [e.message for e in stored if e.type == "finding"] == [
        FINDINGS[0]["message"], FINDINGS[1]["message"]]


def test_ask_fix_passes_the_hunks_findings(repo: Path) -> None:
    _dirty(repo)
    asked: list[str] = []
    screen = ReviewScreen(repo, ask_model=asked.append, reviewer=reviewer_for(repo))

    async def scenario() -> None:
        app = ReviewApp(screen)
        async with app.run_test(size=(120, 40)) as pilot:
            await _reviewed(pilot, screen)
            await pilot.press("n", "f")
            await pilot.pause()

    asyncio.run(scenario())
    assert len(asked) == 1
    request = asked[0]
    assert f"line {SUB_LINE} (error): sub returns b - a" in request
    assert "suggested replacement: `    return a - b`" in request
    assert "add changed sign" not in request  # the other hunk's finding stays out
    assert "+    return b - a" in request


def test_from_the_chat_findings_stay_for_the_next_review_and_go_with_a_fix(
    repo: Path,
) -> None:
    _dirty(repo)

    async def scenario() -> None:
        # The review and the chat each get their own replay of this file: the review
        # plays the findings answer; the chat answers the fix request with it too.
        app = chat_app(repo, [ANSWER])
        async with app.run_test(size=(120, 40)) as pilot:
            await type_and_send(pilot, "/review")
            await pilot.pause(0.3)
            screen = app.screen
            assert isinstance(screen, ReviewScreen)
            await _reviewed(pilot, screen)
            await pilot.press("escape")
            await pilot.pause()
            await type_and_send(pilot, "/review")
            await pilot.pause(0.3)
            again = app.screen
            assert isinstance(again, ReviewScreen) and again is not screen
            assert len(again.findings) == 2  # no second model review needed
            assert "2 finding(s) of the model's review" in str(again.message.render())
            await pilot.press("n", "f")
            await pilot.pause()
            await wait_idle(pilot, app)
            text = transcript_text(app)
            assert "A review of this change in calc.py found:" in text
            assert "operands are swapped" in text
            assert chat(app).session.session_id is not None

    asyncio.run(scenario())


def test_an_unreadable_answer_and_no_backend_are_said(repo: Path) -> None:
    _dirty(repo)
    screen = ReviewScreen(repo, reviewer=reviewer_for(repo, "Looks fine to me."))
    bare = ReviewScreen(repo)

    async def scenario(target: ReviewScreen, expected: str) -> None:
        app = ReviewApp(target)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.3)
            await pilot.press("m")
            await wait_until(pilot, lambda: not target.reviewing, 60)
            await pilot.pause(0.1)
            assert expected in str(target.message.render())
            await pilot.press("right_square_bracket")
            assert "no findings to jump to" in str(target.message.render())

    asyncio.run(scenario(screen, "ended with error: the answer has no ```json block"))
    asyncio.run(scenario(bare, "needs a backend"))


def test_placement_on_both_sides() -> None:
    hunk = Hunk(3, 3, 3, 2, "@@ -3,3 +3,2 @@", [(" ", "a"), ("-", "b"), ("+", "c"), ("-", "d")])
    modified = FileDiff("x.py", None, "modified", hunks=[hunk])
    assert line_numbers(modified, hunk) == [3, None, 4, None]
    found = [Finding("x.py", 4, "error", "c is wrong"), Finding("x.py", 3, "info", "a"),
             Finding("y.py", 3, "info", "another file")]
    placed = placement(modified, hunk, found)
    assert {row: [f.message for f in fs] for row, fs in placed.items()} == {
        0: ["a"], 2: ["c is wrong"]}
    deleted = FileDiff("x.py", None, "deleted", hunks=[Hunk(1, 2, 0, 0, "@@ -1,2 +0,0 @@",
                                                [("-", "a"), ("-", "b")])])
    assert line_numbers(deleted, deleted.hunks[0]) == [1, 2]
    assert list(placement(deleted, deleted.hunks[0], [Finding("x.py", 2, "error", "b")])) == [1]
