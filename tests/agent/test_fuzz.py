"""Fuzzed raw model output never crashes the loop: every run ends with a `finish`."""

from __future__ import annotations

import random
from pathlib import Path

from agent import events as ev
from tests.agent.conftest import of_type, run_session

FRAGMENTS = [
    "[THINK]", "[/THINK]", "[TOOL_CALLS]", "[ARGS]", "read_file", "grep", "bash", "nope",
    '{"path": "calc.py"}', '{"pattern": "add"}', '{"command": "ls"}', "{", "}", '"', "[",
    "]", "text ", "\n", "ünï", "[/INST]", "</s>", "[TOOL_RESULTS]", "null", "[]", "42",
]


def fuzz_turn(rng: random.Random) -> str:
    return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 12)))


def test_fuzzed_outputs_end_cleanly(repo: Path) -> None:
    rng = random.Random(7)
    for _ in range(20):
        turns = [fuzz_turn(rng) for _ in range(8)]
        finish, events = run_session(repo, turns, approval="read-only", max_steps=8)
        assert finish.status in ev.FINISH_STATUSES
        assert events[-1] == finish and of_type(events, ev.Finish) == [finish]
        calls = of_type(events, ev.ToolCall)
        results = of_type(events, ev.ToolResult)
        assert sorted(c.id for c in calls) == sorted(r.call_id for r in results)
    assert (repo / "calc.py").read_text().startswith("def add")
