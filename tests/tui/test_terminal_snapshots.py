"""Snapshots of the terminal features: the inline app's live region during a turn, a big
paste as a chip, and `/export`'s Markdown. Refresh after an intended change with
`pytest tests/tui/test_terminal_snapshots.py --snapshot-update` and read the diff."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from textual import events

from tests.tui.pilot import type_and_send, wait_idle
from tests.tui.scenes import MUL_EDIT, SIZE, _ask_for_approval, app_for, prepare
from tui.terminal_io import TerminalPrefs

pytestmark = pytest.mark.require_module("pytest_textual_snapshot")  # the dev extra

LOG = "".join(f"2026-12-01 12:00:{n:02d} worker {n} ready\n" for n in range(240))


def test_inline_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snap_compare) -> None:
    """The region an inline app keeps under the prompt while a turn waits for approval:
    the turn so far (at most 16 lines), the approval, the box and the status line."""
    repo = prepare(tmp_path, monkeypatch.setenv)
    app = app_for(repo, [MUL_EDIT, "Done."], resume=False)
    app.terminal = TerminalPrefs(inline=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=_ask_for_approval)


def test_paste_chip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snap_compare) -> None:
    repo = prepare(tmp_path, monkeypatch.setenv)

    async def paste(pilot) -> None:
        await pilot.pause(0.2)
        assert pilot.app.chat is not None
        pilot.app.chat.prompt.post_message(events.Paste(LOG))
        await pilot.press(*" why did worker 7 start late?")
        await pilot.pause(0.2)

    app = app_for(repo, [], resume=False)
    assert snap_compare(app, terminal_size=SIZE, run_before=paste)


def test_export_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot) -> None:
    repo = prepare(tmp_path, monkeypatch.setenv)
    answer = "Done: `mul` converts its inputs.\n\n```python\nprint(mul('2', 3))\n```"

    async def scenario() -> str:
        app = app_for(repo, [MUL_EDIT, answer], resume=False, approval="auto-edit")
        async with app.run_test(size=SIZE) as pilot:
            await type_and_send(pilot, "make mul convert its inputs")
            assert app.chat is not None
            await wait_idle(pilot, app)
            await type_and_send(pilot, "/export session.md")
            await pilot.pause(0.3)
        return (repo / "session.md").read_text()

    exported = asyncio.run(scenario())
    # What changes from run to run: the session id, the paths, the time, the replay file.
    exported = re.sub(r"\d{8}-\d{6}-[0-9a-f]+", "ID", exported)
    exported = exported.replace(str(tmp_path), "TMP")
    exported = re.sub(r"exported: .*", "exported: TIME", exported)
    exported = re.sub(r"replay:\S+`", "replay:FILE`", exported)
    assert exported == snapshot
