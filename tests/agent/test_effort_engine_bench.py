"""The engine bench's session trajectories and how it shapes a recorded turn under a
request's effort and budget (the engine run itself: bench/effort_engine_bench.py)."""

from __future__ import annotations

import json

import pytest

from agent.backend import ChatRequest, Message
from agent.tokens import default_counter
from bench.effort_bench import TRAJECTORIES, load_setup
from bench.effort_engine_bench import EngineReplay, marks_of

SESSIONS = sorted(TRAJECTORIES.glob("session_*.jsonl"))


def test_eight_sessions_of_ten_to_forty_steps_with_marks_and_a_follow_up() -> None:
    assert len(SESSIONS) >= 8
    for path in SESSIONS:
        marks = marks_of(path)
        steps = [m for m in marks if not m.get("summary")]
        assert 10 <= len(steps) <= 40, path.name
        assert all(isinstance(m.get("hard"), bool) for m in steps), path.name
        assert steps[0]["hard"] and any(not m["hard"] for m in steps)
        follow_ups = load_setup(path)["follow_ups"]
        assert follow_ups and all(f["compact"] and f["message"] for f in follow_ups)
        assert sum(bool(m.get("summary")) for m in marks) == len(follow_ups)


@pytest.fixture(scope="module")
def replay() -> EngineReplay:
    path = SESSIONS[0]
    return EngineReplay(path, engine=None, budgets=True, served=default_counter())  # type: ignore[arg-type]


def request(effort: str, budget: int | None) -> ChatRequest:
    return ChatRequest("system", [Message("user", "go")], [], effort=effort,
                       thinking_budget=budget)


def test_a_turn_is_shaped_as_the_request_asks(replay: EngineReplay) -> None:
    thinking = "one two three four five six seven eight nine ten " * 3
    raw = f"[THINK]{thinking}[/THINK]" + '[TOOL_CALLS]bash[ARGS]{"command": "ls"}'
    tokens = replay.served.text(thinking)
    assert replay._shape(raw, request("high", None)) == (raw, 0)
    assert replay._shape(raw, request("high", tokens + 5)) == (raw, 0)
    none, cut = replay._shape(raw, request("none", None))
    assert none == '[TOOL_CALLS]bash[ARGS]{"command": "ls"}' and cut == 0
    zero, cut = replay._shape(raw, request("high", 0))
    assert zero.startswith("[THINK][/THINK][TOOL_CALLS]") and cut == tokens
    five, cut = replay._shape(raw, request("high", 5))
    kept = five.removeprefix("[THINK]").split("[/THINK]")[0]
    assert replay.served.text(kept) == 5 and cut == tokens - 5
    assert json.dumps(five).count("[TOOL_CALLS]") == 1
