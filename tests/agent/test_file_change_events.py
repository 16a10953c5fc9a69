"""File changes in the event stream: a `tool_result` carries the tool's data (the diff),
a requested `approval` carries the tool's own preview, and both survive a JSON line."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent import events as ev
from agent.approval import ApprovalPolicy, CallFacts
from agent.calls import EVENT_TEXT_LIMIT, CallRunner, prepare
from tools.base import ToolContext
from tools.files import EditFile, WriteFile


async def _approve_once(facts: CallFacts, call: ev.ToolCall) -> str:
    return "once"


def run_call(repo: Path, name: str, args: dict, policy: str = "auto") -> list[ev.Event]:
    """Run one call through the agent's CallRunner; the events it emitted, in order."""
    emitted: list[ev.Event] = []
    tools = {t.name: t for t in (EditFile(), WriteFile())}
    runner = CallRunner(
        repo, tools, ToolContext(repo, syntax_guard="off"), ApprovalPolicy(policy),
        emitted.append, approver=_approve_once,
    )
    asyncio.run(runner.run_step(1, [prepare(ev.ToolCall(1, "c1", name, args), tools)]))
    return emitted


def result_of(events: list[ev.Event]) -> ev.ToolResult:
    [result] = [e for e in events if isinstance(e, ev.ToolResult)]
    return result


def test_the_edit_result_event_carries_the_diff_and_path(tmp_path: Path) -> None:
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    args = {"path": "calc.py", "old_string": "a - b", "new_string": "a + b"}
    result = result_of(run_call(tmp_path, "edit_file", args))
    assert result.ok and result.data["path"] == "calc.py"
    assert "-    return a - b\n+    return a + b\n" in result.data["diff"]
    assert result.data["replacements"] == 1 and result.data["at_lines"] == [2]


def test_the_write_result_event_carries_created_or_the_before_after_diff(
    tmp_path: Path,
) -> None:
    created = result_of(run_call(tmp_path, "write_file", {"path": "n.txt", "content": "a\n"}))
    assert created.data["created"] and created.data["diff"].endswith("+a\n")
    replaced = result_of(run_call(tmp_path, "write_file", {"path": "n.txt", "content": "b\n"}))
    assert not replaced.data["created"] and "-a\n+b\n" in replaced.data["diff"]


def test_the_approval_carries_the_tools_preview_equal_to_what_the_edit_does(
    tmp_path: Path,
) -> None:
    # CRLF on disk, LF in the call: the tool matches it loosely (the old TUI preview
    # reported "not found verbatim" here).
    target = tmp_path / "win.txt"
    target.write_bytes(b"first\r\nsecond\r\nthird\r\n")
    args = {"path": "win.txt", "old_string": "first\nsecond", "new_string": "1st\n2nd"}
    events = run_call(tmp_path, "edit_file", args, policy="ask")
    [asked] = [e for e in events if isinstance(e, ev.Approval) and e.decision == "requested"]
    result = result_of(events)
    assert result.ok and target.read_bytes() == b"1st\r\n2nd\r\nthird\r\n"
    assert asked.preview == result.data
    assert "+1st\n+2nd\n" in asked.preview["diff"]


def test_the_approval_preview_says_why_an_edit_would_fail(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("alpha\n")
    args = {"path": "f.txt", "old_string": "beta", "new_string": "b"}
    events = run_call(tmp_path, "edit_file", args, policy="ask")
    [asked] = [e for e in events if isinstance(e, ev.Approval) and e.decision == "requested"]
    assert asked.preview["error"] == result_of(events).output


def test_a_large_diff_is_cut_in_the_event_and_flagged(tmp_path: Path) -> None:
    content = "".join(f"line {n}\n" for n in range(20_000))
    result = result_of(run_call(tmp_path, "write_file", {"path": "big.txt", "content": content}))
    assert (tmp_path / "big.txt").read_text() == content  # the file itself is whole
    diff = result.data["diff"]
    assert result.data["diff_truncated"] is True
    assert len(diff) <= EVENT_TEXT_LIMIT and diff.endswith("\n")
    assert len(result.to_json()) < 2 * EVENT_TEXT_LIMIT


def test_data_and_preview_survive_a_json_line(tmp_path: Path) -> None:
    (tmp_path / "calc.py").write_text("x = 1\r\n")
    args = {"path": "calc.py", "old_string": "x = 1", "new_string": "x = 2"}
    events = run_call(tmp_path, "edit_file", args, policy="ask")
    kept = [e for e in events if isinstance(e, ev.Approval | ev.ToolResult)]
    assert any(isinstance(e, ev.Approval) and e.preview for e in kept)
    assert result_of(kept).data["diff"]
    for event in kept:
        assert ev.from_json(event.to_json()) == event
