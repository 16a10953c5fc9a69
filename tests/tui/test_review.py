"""The review screen on a real repository: files with status, keep, revert (with a
checkpoint first), undo of the revert, side by side."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.app import App

from tests.support import git
from tests.tui.conftest import CALC
from tools.git.checkpoints import list_checkpoints
from tools.git.repo import open_repo
from tui.screens.review import HunkView, ReviewScreen

FILLER = "".join(f"\n\ndef f{i}():\n    return {i}\n" for i in range(4))
BASE = CALC + FILLER + "\n\ndef sub(a, b):\n    return a - b\n"
# Two changes far apart: two hunks.
CHANGED = BASE.replace("return a - b\n\n", "return a + b\n\n", 1).replace(
    "def sub(a, b):\n    return a - b", "def sub(a, b):\n    return b - a"
)
HALF_REVERTED = BASE.replace("return a - b\n\n", "return a + b\n\n", 1)


class ReviewApp(App):
    def __init__(self, repo: Path) -> None:
        super().__init__()
        self.repo = repo

    def on_mount(self) -> None:
        self.push_screen(ReviewScreen(self.repo))


def _dirty(repo: Path) -> None:
    (repo / "calc.py").write_text(BASE)
    git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qam", "longer")
    (repo / "calc.py").write_text(CHANGED)
    (repo / "notes.md").write_text("# notes\n")


def test_lists_files_with_status_and_hunks(repo: Path) -> None:
    _dirty(repo)

    async def scenario() -> None:
        app = ReviewApp(repo)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.3)
            screen = app.screen
            assert isinstance(screen, ReviewScreen)
            assert [(f.path, f.status) for f in screen.files] == [
                ("calc.py", "modified"),
                ("notes.md", "added"),
            ]
            views = list(screen.query(HunkView))
            assert len(views) == 2
            assert views[0].has_class("-current")
            await pilot.press("n")
            assert screen.current_hunk == 1 and views[1].has_class("-current")
            await pilot.press("n")  # past the last hunk: the next file
            await pilot.pause(0.2)
            assert screen.current_file == 1

    asyncio.run(scenario())


def test_revert_one_hunk_then_undo_it(repo: Path) -> None:
    _dirty(repo)

    async def scenario() -> None:
        app = ReviewApp(repo)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.3)
            screen = app.screen
            await pilot.press("y")  # keep the fix
            assert screen.current_hunk == 1
            await pilot.press("r")  # revert the second change
            await pilot.pause(0.3)
            assert (repo / "calc.py").read_text() == HALF_REVERTED
            assert "u undoes the revert" in str(screen.message.render())
            checkpoints = list_checkpoints(open_repo(repo))
            assert checkpoints and "before reverting a hunk in calc.py" in checkpoints[0].label
            views = list(screen.query(HunkView))
            assert len(views) == 1 and views[0].verdict == "kept"  # the kept mark survives
            await pilot.press("u")
            await pilot.pause(0.3)
            assert (repo / "calc.py").read_text() == CHANGED
            assert (repo / "notes.md").exists()

    asyncio.run(scenario())


def test_side_by_side_and_back(repo: Path) -> None:
    _dirty(repo)

    async def scenario() -> None:
        app = ReviewApp(repo)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.3)
            await pilot.press("s")
            await pilot.pause(0.2)
            views = list(app.screen.query(HunkView))
            assert views and all(v.side for v in views)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, ReviewScreen)

    asyncio.run(scenario())


def test_a_clean_tree_and_a_folder_without_git_say_so(repo: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()

    async def scenario(where: Path, expected: str) -> None:
        app = ReviewApp(where)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.3)
            assert expected in str(app.screen.message.render())

    asyncio.run(scenario(repo, "no changes against HEAD"))
    asyncio.run(scenario(plain, "cannot diff"))


def test_ask_the_model_to_fix_a_hunk(repo: Path) -> None:
    _dirty(repo)
    asked: list[str] = []

    class ChatLike(App):
        def on_mount(self) -> None:
            self.push_screen(ReviewScreen(repo, ask_model=asked.append))

    async def scenario() -> None:
        app = ChatLike()
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.3)
            await pilot.press("n", "f")
            await pilot.pause()
            assert not isinstance(app.screen, ReviewScreen)  # back to the chat

    asyncio.run(scenario())
    assert len(asked) == 1
    assert "calc.py" in asked[0] and "+    return b - a" in asked[0]
    assert asked[0].count("```") == 2
