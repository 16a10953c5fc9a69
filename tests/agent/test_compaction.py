"""Compaction keeps the system prompt, the task, AGENTS.md and the recent turns verbatim."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent import events as ev
from agent.backend import Message, RequestToolCall
from agent.compaction import SUMMARY_HEADER, CompactionSettings, kept_tail
from agent.context import build_system_context
from agent.history import rebuild
from agent.loop import AgentLoop, LoopSettings
from tests.agent.conftest import RecordingReplay, of_type
from tests.support import call
from tools.base import ToolContext
from tools.files import ReadFile


def test_kept_tail_never_splits_a_call_from_its_result() -> None:
    calls = [RequestToolCall("a", "read_file", "{}")]
    messages = [
        Message("user", "task"),
        Message("assistant", "x" * 400, tool_calls=calls), Message("tool", "y" * 4000),
        Message("assistant", "z", tool_calls=calls), Message("tool", "w" * 4000),
    ]
    assert kept_tail(messages, keep_tokens=100) == 2  # the last turn, however big
    assert kept_tail(messages, keep_tokens=10_000) == 4  # everything but the task
    assert kept_tail(messages[:1], keep_tokens=10_000) == 0
    only_results = [Message("user", "task"), Message("tool", "r"), Message("tool", "s")]
    assert kept_tail(only_results, keep_tokens=10_000) == 0


def test_task_and_instructions_survive_compaction(tmp_path: Path, isolated_home: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    (repo / "AGENTS.md").write_text("Never touch the vendored folder.\n")
    (repo / "big.txt").write_text("".join(f"line {i:04d} of the long file\n" for i in range(400)))
    # Each turn carries a note: whichever turn the loop asks as a summary gives one.
    turns = [f"Progress note {i}: read lines {i * 80 + 1}-{i * 80 + 80}."
             + call("read_file", path="big.txt", offset=i * 80 + 1, limit=80) for i in range(5)]
    turns += ["Read the whole file.", "Read the whole file."]
    backend = RecordingReplay(turns)
    emitted: list[ev.Event] = []
    loop = AgentLoop(
        backend,
        LoopSettings(repo=repo, tools=[ReadFile()], tool_context=ToolContext(repo),
                     compaction=CompactionSettings(context_limit=3000)),
        emitted.append,
    )
    system = build_system_context(repo).prompt
    task = "Read big.txt in parts of 80 lines and say when done."
    finish = asyncio.run(loop.run(ev.SessionStart("s", task, str(repo), "r", "auto", "auto",
                                                  system)))
    assert finish.status == "done"
    compactions = of_type(emitted, ev.Compaction)
    assert compactions and compactions[0].summary.startswith("Progress note")
    assert all(c.dropped > 0 for c in compactions)
    after = [r for r in backend.requests if any(
        m.content.startswith(SUMMARY_HEADER) for m in r.messages)]
    assert after, "no request was sent after compaction"
    for request in after:
        assert request.system == system and "Never touch the vendored folder." in request.system
        assert request.messages[0] == Message("user", task)
        assert request.messages[1].content.startswith(SUMMARY_HEADER + "Progress note")
        assert request.messages[2].role != "tool"
    # The request just after the first compaction holds the turns it kept, verbatim.
    summary_request = backend.requests[backend.requests.index(after[0]) - 1]
    assert summary_request.messages[-1].content.startswith("The conversation is getting long")
    history_then = summary_request.messages[:-1]
    kept = compactions[0].kept
    assert kept >= 2 and len(history_then) == 1 + compactions[0].dropped + kept
    assert after[0].messages[2 : 2 + kept] == history_then[-kept:]
    # A resumed session rebuilds the same compacted history from the events.
    assert rebuild(emitted).messages == loop.history.messages
