"""The event → transcript mapping: resumed sessions, live streaming, approvals, results."""

from __future__ import annotations

from pathlib import Path

from agent import events as ev
from agent.backend import TextDelta, ThinkingDelta, ToolCallDelta
from tui.records import (
    NoteRecord,
    Record,
    StepRecord,
    TextRecord,
    ThinkingRecord,
    ToolRecord,
    TranscriptBuilder,
    UserRecord,
)

EDIT_DIFF = (
    "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n"
    "-    return a - b\n+    return a + b\n"
)
EDIT_OUTPUT = "Edited calc.py: replaced 1 occurrence at line 2.\n" + EDIT_DIFF
EDIT_DATA = {"path": "calc.py", "created": False, "changed": True, "diff": EDIT_DIFF}


class Recorder:
    def __init__(self, repo: Path) -> None:
        self.added: list[Record] = []
        self.touched: list[Record] = []
        self.live_changes = 0
        self.builder = TranscriptBuilder(self.added.append, self.touched.append, self._live)

    def _live(self) -> None:
        self.live_changes += 1


def test_a_stored_session_becomes_records_in_order(repo: Path) -> None:
    r = Recorder(repo)
    args = {"path": "calc.py", "old_string": "a - b", "new_string": "a + b"}
    for event in [
        ev.SessionStart("s", "fix add", str(repo), "replay:x", "auto", "ask"),
        ev.Effort(1, "high", "first step of the task: plan"),
        ev.Thinking(1, "look at calc"),
        ev.Text(1, "I will fix `add`."),
        ev.ToolCall(1, "c1", "edit_file", args),
        ev.Approval("c1", "edit_file", "granted", "approved by the user"),
        ev.Checkpoint(1, "cp-1", "before step 1"),
        ev.ToolResult(1, "c1", "edit_file", True, EDIT_OUTPUT, data=EDIT_DATA),
        ev.Finish("done", "fixed", 1),
    ]:
        r.builder.event(event)
    kinds = [type(x) for x in r.added]
    assert kinds == [UserRecord, StepRecord, ThinkingRecord, TextRecord, ToolRecord, NoteRecord]
    step = r.added[1]
    assert isinstance(step, StepRecord) and step.effort == "high" and "plan" in step.reason
    tool = r.added[4]
    assert isinstance(tool, ToolRecord)
    assert tool.status == "ok"
    assert tool.diff is not None and "+    return a + b" in tool.diff
    assert "approved by the user" in tool.approval_note
    assert "cp-1" in r.added[5].text and "/undo" in r.added[5].text


def test_streaming_stays_live_until_the_final_events(repo: Path) -> None:
    r = Recorder(repo)
    r.builder.event(ev.Effort(1, "high", "plan"))
    r.builder.delta(ThinkingDelta("hmm "))
    r.builder.delta(ThinkingDelta("let me see"))
    assert r.builder.live_thinking is not None and r.builder.live_thinking.live
    assert r.builder.live_thinking.text == "hmm let me see"
    r.builder.delta(TextDelta("Hello"))
    assert not r.builder.live_thinking.live  # folded once the answer starts
    assert r.builder.live_text is not None and r.builder.live_text.text == "Hello"
    assert len(r.added) == 1  # only the step line: nothing streamed is in the transcript yet
    r.builder.event(ev.Thinking(1, "hmm let me see"))
    r.builder.event(ev.Text(1, "Hello there"))
    assert [type(x) for x in r.added[1:]] == [ThinkingRecord, TextRecord]
    assert r.added[2].text == "Hello there"
    assert r.builder.live_thinking is None and r.builder.live_text is None
    assert r.live_changes >= 4


def test_a_stop_keeps_what_streamed_and_marks_it(repo: Path) -> None:
    r = Recorder(repo)
    r.builder.event(ev.Effort(1, "none", "routine"))
    r.builder.delta(TextDelta("Half an ans"))
    r.builder.event(ev.Finish("cancelled", "the run was cancelled", 1))
    text = next(x for x in r.added if isinstance(x, TextRecord))
    assert text.text == "Half an ans" and text.stopped
    note = r.added[-1]
    assert isinstance(note, NoteRecord) and "stopped by you" in note.text


def test_tool_call_deltas_fold_the_thinking(repo: Path) -> None:
    r = Recorder(repo)
    r.builder.event(ev.Effort(1, "high", "plan"))
    r.builder.delta(ThinkingDelta("plan"))
    r.builder.delta(ToolCallDelta(0, "read_file"))
    assert r.builder.live_thinking is not None and not r.builder.live_thinking.live


def test_approval_states_and_denial(repo: Path) -> None:
    r = Recorder(repo)
    r.builder.event(ev.ToolCall(1, "c1", "bash", {"command": "rm -rf build"}))
    r.builder.event(ev.Approval("c1", "bash", "requested", "the ask policy asks"))
    card = r.builder.tools["c1"]
    assert card.status == "asking" and "ask policy" in card.approval_note
    r.builder.event(ev.Approval("c1", "bash", "denied", "denied by the user"))
    r.builder.event(ev.ToolResult(1, "c1", "bash", False, "denied by the user; do not retry"))
    assert card.status == "denied"
    assert card.output.startswith("denied by the user")


def test_the_approval_diff_is_the_tools_preview_from_the_event(repo: Path) -> None:
    r = Recorder(repo)
    r.builder.event(ev.ToolCall(1, "c1", "write_file", {"path": "calc.py", "content": "x = 1\n"}))
    assert r.builder.tools["c1"].diff is None  # the builder reads no files
    preview = {"path": "calc.py", "created": False, "changed": True, "diff": "--- a/calc.py\n"}
    r.builder.event(ev.Approval("c1", "write_file", "requested", "ask policy", preview))
    card = r.builder.tools["c1"]
    assert card.diff == "--- a/calc.py\n" and card.preview == preview


def test_the_result_diff_comes_from_the_event_data_not_the_output_text(repo: Path) -> None:
    r = Recorder(repo)
    r.builder.event(ev.ToolCall(1, "c1", "edit_file", {"path": "calc.py"}))
    r.builder.event(ev.ToolResult(1, "c1", "edit_file", True, EDIT_OUTPUT))
    assert r.builder.tools["c1"].diff is None  # a diff in the text alone is not parsed
    r.builder.event(ev.ToolCall(2, "c2", "edit_file", {"path": "calc.py"}))
    r.builder.event(ev.ToolResult(2, "c2", "edit_file", True, "Edited.", data=EDIT_DATA))
    assert r.builder.tools["c2"].diff == EDIT_DIFF


def test_agent_notes_and_errors_are_distinct(repo: Path) -> None:
    r = Recorder(repo)
    r.builder.event(ev.UserMessage("your call could not be parsed", origin="agent"))
    r.builder.event(ev.Error("engine went away", step=2, fatal=True))
    assert [x.level for x in r.added] == ["warning", "error"]
    assert "note to the model" in r.added[0].text


def test_network_access_events_become_notes(repo: Path) -> None:
    r = Recorder(repo)
    r.builder.event(ev.NetworkAccess(True, "CONNECT", "pypi.org", 443, "pypi.org:443 allowed by "
                                     "pypi.org", "151.101.0.223", "pypi.org", step=1))  # fmt: skip
    r.builder.event(ev.NetworkAccess(False, "GET", "evil.example", 80,
                                     "evil.example:80 is not in sandbox.allow_domains", step=1))
    assert [x.level for x in r.added] == ["dim", "warning"]
    assert "allowed CONNECT pypi.org:443" in r.added[0].text
    assert "refused GET evil.example:80" in r.added[1].text and "allow_domains" in r.added[1].text
