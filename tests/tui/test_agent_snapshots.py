"""SVG snapshots of folded subagent runs and verify results in the chat transcript, from a
stored session (so every figure is the stored one). Refresh after an intended change
of the look with `pytest tests/tui/test_agent_snapshots.py --snapshot-update`."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import events as ev
from agent.sessions import SessionStore
from tests.tui.scenes import SIZE, app_for, make_repo

pytestmark = pytest.mark.require_module("pytest_textual_snapshot")  # the dev extra

SESSION = "20260101-130000-abcdef"
EXPLORE = {"description": "find add and its tests", "prompt": "Where is add defined?"}
CHECKS = {"description": "list the checks", "prompt": "Which checks does the repo have?"}


def child(call_id: str, path: str, answer: str) -> list[ev.Event]:
    inner = [
        ev.SessionStart("child", EXPLORE["prompt"], "/r", "replay", "auto", "auto", "…"),
        ev.Effort(1, "high", "first step of the task: plan before acting"),
        ev.ToolCall(1, "s00001c00", "grep", {"pattern": "def add"}),
        ev.Usage(1, 900, 0, 20, "tool_calls"),
        ev.ToolResult(1, "s00001c00", "grep", True, "calc.py:1:def add(a, b):"),
        ev.Effort(2, "none", "routine step after a successful result"),
        ev.ToolCall(2, "s00002c00", "read_file", {"path": path}),
        ev.Usage(2, 960, 900, 18, "tool_calls"),
        ev.ToolResult(2, "s00002c00", "read_file", True, "…"),
        ev.Effort(3, "none", "routine step after a successful result; stays none"),
        ev.Text(3, answer),
        ev.Usage(3, 1010, 960, 30, "stop"),
        ev.Finish("done", answer, 3),
    ]
    return [ev.Subagent(call_id, e.to_dict()) for e in inner]


def stored(repo: Path) -> list[ev.Event]:
    edit = {"path": "calc.py", "old_string": "a - b", "new_string": "a * b"}
    fix = {"path": "calc.py", "old_string": "a * b", "new_string": "a + b"}
    return [
        ev.SessionStart(SESSION, "fix add in calc.py", str(repo), "replay:turns.jsonl", "auto",
                        "auto-edit", "You are Tessera."),
        ev.Effort(1, "high", "first step of the task: plan before acting"),
        ev.ToolCall(1, "s00001c00", "task", EXPLORE),
        ev.ToolCall(1, "s00001c01", "task", CHECKS),
        ev.Usage(1, 1800, 0, 60, "tool_calls"),
        *child("s00001c00", "calc.py", "add() is in calc.py line 2; it returns a - b."),
        *child("s00001c01", "check.py", "check.py asserts add(2, 3) == 5."),
        ev.ToolResult(1, "s00001c00", "task", True, "add() is in calc.py line 2; it returns "
                      "a - b.", data={"status": "done", "steps": 3}),
        ev.ToolResult(1, "s00001c01", "task", True, "check.py asserts add(2, 3) == 5.",
                      data={"status": "done", "steps": 3}),
        ev.Effort(2, "high", "routine step after a successful result; stays high"),
        ev.ToolCall(2, "s00002c00", "edit_file", edit),
        ev.Usage(2, 1950, 1860, 30, "tool_calls"),
        ev.Approval("s00002c00", "edit_file", "granted", "auto-edit allows edits"),
        ev.ToolResult(2, "s00002c00", "edit_file", True, "Edited calc.py."),
        ev.Verify(2, "python3 checks.py", False, 1, "add(2, 3) returned 6, expected 5", 0.08,
                  ["calc.py"]),
        ev.UserMessage("The check `python3 checks.py` failed after your last change (exit "
                       "code 1).", origin="agent"),
        ev.Effort(3, "high", "a check failed after the last change; stays high"),
        ev.ToolCall(3, "s00003c00", "edit_file", fix),
        ev.Usage(3, 2100, 1980, 30, "tool_calls"),
        ev.Approval("s00003c00", "edit_file", "granted", "auto-edit allows edits"),
        ev.ToolResult(3, "s00003c00", "edit_file", True, "Edited calc.py."),
        ev.Verify(3, "python3 checks.py", True, 0, "all checks passed", 0.07, ["calc.py"]),
        ev.Effort(4, "none", "routine step after a successful result"),
        ev.Text(4, "Fixed add(); the checks pass."),
        ev.Usage(4, 2200, 2100, 20, "stop"),
        ev.Finish("done", "Fixed add().", 4),
    ]


def prepare(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "config"))
    monkeypatch.setenv("TESSERA_HOME", str(root / "data"))
    repo = make_repo(root)
    store = SessionStore()
    for event in stored(repo):
        store.append(SESSION, event)
    store.close()
    return repo


async def unfold_first_subagent(pilot) -> None:
    from tui.widgets.blocks import SubagentEntry

    await pilot.pause(0.3)
    entry = pilot.app.screen.query(SubagentEntry).first()
    entry.on_click()
    await pilot.pause(0.3)


def test_folded_subagents_and_verify_results(tmp_path: Path, monkeypatch, snap_compare) -> None:
    repo = prepare(tmp_path, monkeypatch)
    assert snap_compare(app_for(repo, []), terminal_size=(SIZE[0], 50),
                        run_before=unfold_first_subagent)
