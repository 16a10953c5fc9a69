"""The loop sends the effort policy's thinking budget with each request, and says so in
its `effort` events, only to a backend that takes budgets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from agent import events as ev
from agent.approval import ApprovalPolicy
from agent.backend import ChatRequest, Delta
from agent.effort import EffortCosts, EffortPolicy
from agent.loop import AgentLoop, LoopSettings
from agent.replay import ReplayBackend, ReplayTurn
from tests.support import call
from tools.base import ToolContext
from tools.registry import default_tools

TURNS = [
    "[THINK]Plan: read, run, fix.[/THINK]" + call("read_file", path="calc.py"),
    "[THINK]Now run it.[/THINK]" + call("bash", command="python3 -c 'import sys; sys.exit(1)'"),
    "[THINK]It failed; think.[/THINK]" + call("read_file", path="calc.py"),
    "Done.",
]


class RecordingReplay(ReplayBackend):
    def __init__(self, takes: bool | None) -> None:
        super().__init__([ReplayTurn(raw, n) for n, raw in enumerate(TURNS, 1)])
        self.takes_thinking_budget = takes
        self.requests: list[ChatRequest] = []

    def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        self.requests.append(request)
        return super().stream(request)


def run(repo: Path, backend: RecordingReplay, mode: str = "auto") -> list[ev.Event]:
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    events: list[ev.Event] = []
    settings = LoopSettings(repo=repo, tools=default_tools(), tool_context=ToolContext(repo),
                            approval=ApprovalPolicy("auto"), effort=EffortPolicy(mode))
    loop = AgentLoop(backend, settings, events.append)
    asyncio.run(loop.run(ev.SessionStart("s", "fix it", str(repo), "replay", mode, "auto",
                                         "system")))
    return events


def test_budgets_go_with_the_requests_and_the_events(tmp_path: Path) -> None:
    backend = RecordingReplay(takes=None)  # not known yet: budgets are tried
    events = run(tmp_path, backend)
    full, routine = EffortCosts().full_budget, EffortCosts().routine_budget
    sent = [(r.effort, r.thinking_budget) for r in backend.requests]
    assert sent == [("high", full), ("high", routine), ("high", full), ("high", routine)]
    efforts = [e for e in events if isinstance(e, ev.Effort)]
    assert [e.budget for e in efforts] == [full, routine, full, routine]
    assert not any(e.switched for e in efforts)
    # --json prints the budget with each effort event.
    assert ev.from_json(efforts[1].to_json()).budget == routine


def test_a_backend_without_budgets_gets_none_and_switches(tmp_path: Path) -> None:
    backend = RecordingReplay(takes=False)
    events = run(tmp_path, backend)
    assert all(r.thinking_budget is None for r in backend.requests)
    assert all(e.budget is None for e in events if isinstance(e, ev.Effort))


def test_fixed_high_sends_no_budget(tmp_path: Path) -> None:
    backend = RecordingReplay(takes=True)
    run(tmp_path, backend, mode="high")
    assert {(r.effort, r.thinking_budget) for r in backend.requests} == {("high", None)}
