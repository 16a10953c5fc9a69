"""Events: one JSON line each, and back again; nothing outside the closed set decodes."""

from __future__ import annotations

import json

import pytest

from agent import events as ev

SAMPLES: list[ev.Event] = [
    ev.SessionStart("s1", "fix it", "/r", "replay:x", "auto", "ask", "sys", ["AGENTS.md"]),
    ev.UserMessage("and the docs too"),
    ev.SettingsChange(backend="openai:http://h/v1", effort=None),
    ev.Effort(1, "high", "first step", switched=True, reread_tokens=120),
    ev.Thinking(1, "hmm\nmultiline"),
    ev.Text(1, "héllo"),
    ev.ToolCall(1, "c1", "read_file", {"path": "a.py"}),
    ev.ToolCall(1, "c2", "read_file", "{not json"),
    ev.Approval("c1", "shell", "denied", "headless"),
    ev.ToolResult(1, "c1", "read_file", True, "1\tx = 1\n"),
    ev.NetworkAccess(True, "CONNECT", "pypi.org", 443, "allowed by pypi.org", "151.101.0.223",
                     "pypi.org", step=2),
    ev.Checkpoint(2, "abc123", "before step 2"),
    ev.Usage(1, 100, 40, 12, "tool_calls"),
    ev.RawOutput(1, "[TOOL_CALLS]x[ARGS]{}"),
    ev.Compaction(4, "did a, b; todo c", kept=3, dropped=9, context_tokens=900, raw="x"),
    ev.Finding("calc.py", 2, "error", "subtracts", suggestion="    return a + b", in_hunk=True),
    ev.Subagent("s00001c00", ev.ToolCall(1, "s00001c00", "grep", {"pattern": "x"}).to_dict()),
    ev.Verify(2, "ruff check calc.py", False, 1, "calc.py:1:1: F401", 0.25, ["calc.py"]),
    ev.VerifySuggestion(["ruff check {files}", "make test"], ["Makefile", "pyproject.toml"]),
    ev.Todo([{"content": "fix `add` — twice", "status": "in_progress"}], step=3),
    ev.Plan("1. fix add\n2. test it", ["fix add", "test it"]),
    ev.PlanDecision("approved", "1. fix add", approval="auto-edit"),
    ev.Hook("PreToolUse", "./guard.sh", 2, 0.03, "block", "no rm", tool="bash"),
    ev.EngineServing("local", [{"path": "vLLM's built-in fused MoE", "label": "vLLM built-in",
                                "self_check": "failed: our kernel failed at 1 tokens"}]),
    ev.Error("boom", step=None, fatal=True),
    ev.Finish("done", "ok", steps=3),
]


def test_every_kind_is_sampled() -> None:
    assert {e.type for e in SAMPLES} == set(ev.EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.type)
def test_round_trip_through_one_json_line(event: ev.Event) -> None:
    line = event.to_json()
    assert "\n" not in line
    assert json.loads(line)["type"] == event.type
    assert ev.Event.from_json(line) == event


def test_unknown_type_and_fields_are_refused() -> None:
    with pytest.raises(ev.EventDecodeError, match="unknown event type"):
        ev.from_json('{"type": "telepathy"}')
    with pytest.raises(ev.EventDecodeError, match="unknown fields"):
        ev.from_json('{"type": "text", "step": 1, "text": "x", "colour": "red"}')
    with pytest.raises(ev.EventDecodeError, match="text"):
        ev.from_json('{"type": "text", "step": 1}')
    with pytest.raises(ev.EventDecodeError, match="not JSON"):
        ev.from_json("{")
