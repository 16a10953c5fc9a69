"""Subagent runs and verify checks in the chat screen, live against the replay backend:
folded runs that unfold on click, failed checks with their output, `/verify on|off`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.support import call
from tests.tui.conftest import isolated_sandbox
from tests.tui.pilot import (
    chat,
    entries_of,
    transcript_text,
    type_and_send,
    wait_approval,
    wait_idle,
    wait_until,
)
from tui.app import TesseraApp
from tui.session import ChatOptions
from tui.step_records import SubagentRecord
from tui.widgets.blocks import SubagentEntry, VerifyEntry

TWO = (call("task", description="read calc", prompt="Summarise calc.py.")
       + call("task", description="read the tests", prompt="Is there a test?"))
CHILDREN = {
    "s00001c00": [call("read_file", path="calc.py"), "calc.py defines add and mul."],
    "s00001c01": [call("grep", pattern="def test_"), call("list_files"), "There is no test."],
}


def app_on(repo: Path, parent: list[str], children: dict[str, list[str]] | None = None,
           approval: str | None = None) -> TesseraApp:
    lines = [{"raw": raw} for raw in parent]
    lines += [{"raw": raw, "subagent": cid} for cid, turns in (children or {}).items()
              for raw in turns]
    replay = repo.parent / "turns.jsonl"
    replay.write_text("".join(json.dumps(line) + "\n" for line in lines))
    options = ChatOptions(repo=repo, backend=f"replay:{replay}", approval=approval)
    return TesseraApp(options, sandbox_probe=isolated_sandbox)


def test_subagent_runs_are_folded_and_unfold_on_click(repo: Path) -> None:
    async def scenario() -> None:
        app = app_on(repo, [TWO, "calc.py has add and mul and no test."], CHILDREN)
        async with app.run_test(size=(110, 50)) as pilot:
            await type_and_send(pilot, "look around")
            await wait_idle(pilot, app)
            # One record per child, in the order they started (they run at the same time).
            records = sorted((e.record for e in entries_of(app, SubagentEntry)),
                             key=lambda r: r.call_id)
            assert all(isinstance(r, SubagentRecord) for r in records)
            assert [(r.description, r.status, r.steps, len(r.calls)) for r in records] == [
                ("read calc", "done", 2, 1), ("read the tests", "done", 3, 2)]
            text = transcript_text(app)
            assert "▶ ✓ subagent read calc — 2 step(s) · 1 call(s)" in text
            assert "read_file calc.py" not in text  # folded: the child's calls are hidden
            first = next(e for e in entries_of(app, SubagentEntry)
                         if e.record.description == "read calc")
            await pilot.click(first)
            await pilot.pause()
            text = transcript_text(app)
            assert "▼ ✓ subagent read calc" in text and "✓ read_file calc.py" in text
            assert "calc.py has add and mul and no test." in text

    asyncio.run(scenario())


CHECK = "python3 -c \"import calc, sys; sys.exit(0 if calc.add(2, 3) == 5 else 'add is wrong')\""
BREAK = call("edit_file", path="calc.py", old_string="a - b", new_string="a - b - 1")
FIX = call("edit_file", path="calc.py", old_string="a - b - 1", new_string="a + b")
SWAP = call("edit_file", path="calc.py", old_string="a + b", new_string="b + a")


def test_verify_results_and_the_verify_command(repo: Path) -> None:
    (repo / ".tessera").mkdir()
    (repo / ".tessera" / "config.toml").write_text(f"[verify]\ncommands = [{json.dumps(CHECK)}]\n")

    async def scenario() -> None:
        app = app_on(repo, [BREAK, FIX, "Fixed.", SWAP, "Swapped."],
                     approval="auto-edit")
        async with app.run_test(size=(110, 50)) as pilot:
            await type_and_send(pilot, "fix add")
            await wait_idle(pilot, app)
            checks = [e.record for e in entries_of(app, VerifyEntry)]
            assert [c.ok for c in checks] == [False, True], transcript_text(app)
            text = transcript_text(app)
            assert "✗ verify python3 -c" in text and "failed, exit 1" in text
            assert "add is wrong" in text  # a failed check shows its output
            assert "note to the model: The check" in text
            await type_and_send(pilot, "/verify off")
            assert "verify off" in transcript_text(app)
            assert not chat(app).session.driver.loop.settings.verifier.enabled
            await type_and_send(pilot, "swap the operands")
            await wait_idle(pilot, app)
            assert "b + a" in (repo / "calc.py").read_text()  # a change, and no check ran
            assert len(entries_of(app, VerifyEntry)) == 2
            await type_and_send(pilot, "/verify")
            assert "verify off: after each step that changes files: python3 -c" in \
                transcript_text(app)

    asyncio.run(scenario())


def test_escape_stops_a_subagent_and_its_parent(repo: Path) -> None:
    writer = call("task", description="fix add", prompt="Fix add.", tools=["edit_file"])
    edit = call("edit_file", path="calc.py", old_string="a - b", new_string="a + b")

    async def scenario() -> None:
        app = app_on(repo, [writer, "Stopped."], {"s00001c00": [edit, "Fixed."]},
                     approval="ask")
        async with app.run_test(size=(110, 50)) as pilot:
            await type_and_send(pilot, "fix add")
            panel = await wait_approval(pilot, app)
            assert panel.tool == "task"  # a subagent that may edit is itself a change
            await pilot.press("y")
            await wait_until(pilot, lambda: chat(app)._approval is not None
                             and chat(app)._approval.tool == "edit_file")  # the child asks
            await pilot.press("escape")
            await wait_idle(pilot, app)
            [run] = [e.record for e in entries_of(app, SubagentEntry)]
            assert run.status == "cancelled" and "cancelled" in transcript_text(app)
            assert "stopped by you" in transcript_text(app)
        assert (repo / "calc.py").read_text().count("a - b") == 1  # nothing was written

    asyncio.run(scenario())
