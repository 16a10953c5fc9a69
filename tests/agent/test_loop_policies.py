"""Approval policies, budgets, stuck detection and malformed calls in real sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent import events as ev
from agent.approval import ApprovalPolicy, CallFacts
from agent.backend import (
    BackendError,
    ChatRequest,
    Delta,
    FinishDelta,
    TextDelta,
    ToolCallDelta,
)
from agent.loop import AgentLoop, Budgets, LoopSettings
from agent.replay import ReplayBackend, ReplayTurn
from tests.agent.conftest import CALC_BUGGY, of_type, run_session
from tests.support import call
from tools.base import ToolContext
from tools.registry import default_tools

EDIT_THEN_RUN = [
    call("edit_file", path="calc.py", old_string="a - b", new_string="a + b"),
    call("bash", command="echo ran > ran.txt"),
    "Done.",
]


@pytest.mark.parametrize(
    ("policy", "edited", "ran"),
    [("read-only", False, False), ("ask", False, False), ("auto-edit", True, False),
     ("auto", True, True)],
)
def test_each_policy_headless(repo: Path, policy: str, edited: bool, ran: bool) -> None:
    finish, events = run_session(repo, EDIT_THEN_RUN, approval=policy)
    assert finish.status == "done"
    assert ("a + b" in (repo / "calc.py").read_text()) is edited
    assert (repo / "ran.txt").exists() is ran
    results = of_type(events, ev.ToolResult)
    assert [r.ok for r in results] == [edited, ran]
    denied = [a for a in of_type(events, ev.Approval) if a.decision == "denied"]
    assert len(denied) == (not edited) + (not ran)
    for result in results:
        if not result.ok:
            assert result.output.startswith("denied:")
            assert ("headless" in result.output) is (policy != "read-only")
    # No checkpoint when nothing was allowed to change.
    assert bool(of_type(events, ev.Checkpoint)) is (edited or ran)


def test_deny_and_allow_rules_from_the_command_line(repo: Path) -> None:
    _, events = run_session(
        repo, EDIT_THEN_RUN, approval="ask", allow=["command=echo"], deny=["path=calc.py"]
    )
    results = of_type(events, ev.ToolResult)
    assert [r.ok for r in results] == [False, False]  # `echo … > file` is compound: asks
    assert "deny rule" in results[0].output
    _finish, events = run_session(repo, [call("bash", command="echo hi"), "ok"], approval="ask",
                                 allow=["command=echo"])
    assert of_type(events, ev.ToolResult)[0].ok


class ScriptedApprover:
    """An honest user at the keyboard: answers each request from a script, in order."""

    def __init__(self, answers: list[str]):
        self.answers = answers
        self.asked: list[str | None] = []

    async def __call__(self, facts: CallFacts, call: ev.ToolCall) -> str:
        self.asked.append(facts.command)
        return self.answers.pop(0)


def run_loop(repo: Path, turns: list[str], **settings: object) -> tuple[ev.Finish, list]:
    emitted: list[ev.Event] = []
    loop = AgentLoop(
        ReplayBackend([ReplayTurn(t, i) for i, t in enumerate(turns, 1)]),
        LoopSettings(repo=repo, tools=default_tools(), tool_context=ToolContext(repo),
                     **settings),  # type: ignore[arg-type]
        emitted.append,
    )
    start = ev.SessionStart("t", "task", str(repo), "replay", "auto", "ask", "system")
    return asyncio.run(loop.run(start)), emitted


def test_interactive_always_allows_the_same_command_for_the_session(repo: Path) -> None:
    approver = ScriptedApprover(["always", "deny"])
    turns = [call("bash", command="echo one"), call("bash", command="echo one"),
             call("bash", command="echo two"), "done"]
    _finish, events = run_loop(repo, turns, approval=ApprovalPolicy("ask"), approver=approver)
    assert approver.asked == ["echo one", "echo two"]
    assert [r.ok for r in of_type(events, ev.ToolResult)] == [True, True, False]
    decisions = [a.decision for a in of_type(events, ev.Approval)]
    assert decisions == ["requested", "granted", "granted", "requested", "denied"]


def test_step_budget(repo: Path) -> None:
    turns = [call("read_file", path="calc.py", offset=i + 1) for i in range(5)]
    finish, events = run_session(repo, turns, max_steps=2)
    assert (finish.status, finish.steps) == ("budget", 2)
    assert "step budget of 2" in finish.summary
    assert len(of_type(events, ev.ToolResult)) == 2


def test_token_and_wall_time_budgets(repo: Path) -> None:
    turns = [call("read_file", path="calc.py", offset=i + 1) for i in range(5)]
    finish, _ = run_session(repo, turns, max_tokens=1)
    assert (finish.status, finish.steps) == ("budget", 1)
    assert "token budget" in finish.summary
    finish, _events = run_session(repo, turns, max_wall_s=0.0)
    assert (finish.status, finish.steps) == ("budget", 0)
    assert "wall-time" in finish.summary


def test_the_same_call_with_the_same_result_is_stopped(repo: Path) -> None:
    same = call("read_file", path="calc.py")
    finish, events = run_session(repo, [same] * 6)
    results = of_type(events, ev.ToolResult)
    assert [r.ok for r in results] == [True, True, True, False, False]
    assert "will not be run again" in results[2].output
    assert results[3].output.startswith("not run:")
    assert (finish.status, finish.steps) == ("stuck", 5)


def test_a_change_in_between_is_not_being_stuck(repo: Path) -> None:
    check = call("bash", command="python3 check.py")
    turns = [check, check, call("write_file", path="note.txt", content="x"), check, check,
             "stopping"]
    finish, events = run_session(repo, turns, approval="auto")
    assert finish.status == "done"
    assert all("will not be run again" not in r.output for r in of_type(events, ev.ToolResult))


def test_malformed_calls_get_precise_errors_then_the_model_recovers(repo: Path) -> None:
    turns = [
        call("read_fiel", path="calc.py"),
        '[TOOL_CALLS]read_file[ARGS]{"path": calc.py}',
        call("read_file", path="calc.py"),
        '[TOOL_CALLS]read_file[ARGS]{"path": "calc.py"',
        call("read_file", path="calc.py", lines=3),
        "It subtracts.",
    ]
    finish, events = run_session(repo, turns)
    assert (finish.status, finish.steps) == ("done", 6)
    # (never four malformed steps in a row, which would end the run: see the next test)
    # Calls that parse but do not fit get a result paired with the call...
    outputs = [r.output for r in of_type(events, ev.ToolResult)]
    assert "unknown tool 'read_fiel'" in outputs[0] and "read_file" in outputs[0]
    assert CALC_BUGGY.splitlines()[1].strip() in outputs[1]
    assert "lines" in outputs[2] and "xtra" in outputs[2]  # pydantic: extra inputs forbidden
    # ...output the chat format cannot read comes back as a note naming the problem.
    notes = [m.text for m in of_type(events, ev.UserMessage) if m.origin == "agent"]
    assert len(notes) == 2
    assert "not valid JSON" in notes[0]
    assert "truncated tool call 'read_file'" in notes[1]


def test_malformed_retry_budget_ends_the_run(repo: Path) -> None:
    finish, _events = run_session(repo, [call("nope")] * 10)
    assert finish.status == "error"
    assert "malformed" in finish.summary
    assert finish.steps == 4  # three retries after the first


def test_output_that_is_not_the_chat_format_is_explained(repo: Path) -> None:
    finish, events = run_session(repo, ["[TOOL_CALLS]read_file", "Gave up."])
    notes = [m for m in of_type(events, ev.UserMessage) if m.origin == "agent"]
    assert finish.status == "done"
    assert notes and "[TOOL_CALLS]name[ARGS]" in notes[0].text


class StallingBackend:
    """A backend that starts a turn and then stalls until cancelled, or fails mid-turn."""

    name = "stalling"

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.fail_with = fail_with
        self.cancelled = asyncio.Event()

    async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        yield TextDelta("Let me think")
        if self.fail_with is not None:
            raise self.fail_with
        await self.cancelled.wait()

    async def cancel(self) -> None:
        self.cancelled.set()


def run_with(repo: Path, backend: object, **settings: object) -> tuple[ev.Finish, list]:
    emitted: list[ev.Event] = []
    loop = AgentLoop(backend,  # type: ignore[arg-type]
                     LoopSettings(repo=repo, tools=default_tools(), tool_context=ToolContext(repo),
                                  **settings),  # type: ignore[arg-type]
                     emitted.append)
    start = ev.SessionStart("t", "task", str(repo), "x", "auto", "ask", "system")
    return asyncio.run(loop.run(start)), emitted


def test_wall_time_runs_out_while_the_model_streams(repo: Path) -> None:
    backend = StallingBackend()
    finish, events = run_with(repo, backend, budgets=Budgets(max_wall_s=0.3))
    assert finish.status == "budget" and "wall-time" in finish.summary
    assert backend.cancelled.is_set()
    assert of_type(events, ev.Text)[0].text == "Let me think"


def test_a_stopped_turn_keeps_its_partial_text_and_thinking(repo: Path) -> None:
    """Cancelling the run mid-stream (Esc in the TUI) records what was said so far: the
    history has it for the next turn, the events for a resume."""
    from agent.backend import ThinkingDelta
    from agent.history import rebuild
    from agent.resume import restore

    class StallsAfterThinking(StallingBackend):
        async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
            yield ThinkingDelta("Plan: read calc.py. ")
            yield TextDelta("Let me ")
            yield TextDelta("look")
            yield ToolCallDelta(0, "read_file", '{"pa')
            await self.cancelled.wait()

    emitted: list[ev.Event] = []
    backend = StallsAfterThinking()
    loop = AgentLoop(backend,  # type: ignore[arg-type]
                     LoopSettings(repo=repo, tools=default_tools(), tool_context=ToolContext(repo)),
                     emitted.append)
    start = ev.SessionStart("t", "task", str(repo), "x", "auto", "ask", "system")

    async def stop_mid_stream() -> ev.Finish:
        run = asyncio.ensure_future(loop.run(start))
        while not any(isinstance(e, ev.Effort) for e in emitted):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        run.cancel()
        return await run

    finish = asyncio.run(stop_mid_stream())
    assert finish.status == "cancelled" and backend.cancelled.is_set()
    assert [e.text for e in of_type(emitted, ev.Thinking)] == ["Plan: read calc.py. "]
    assert [e.text for e in of_type(emitted, ev.Text)] == ["Let me look"]
    assert not of_type(emitted, ev.ToolCall)  # the half-written call never ran
    [usage] = of_type(emitted, ev.Usage)
    assert usage.finish_reason == "cancelled" and usage.step == 1
    assistant = loop.history.messages[-1]
    assert (assistant.role, assistant.content, assistant.thinking) == (
        "assistant", "Let me look", "Plan: read calc.py. ")
    # A resumed session has the same history: the stopped step counts as complete.
    resumed = AgentLoop(backend,  # type: ignore[arg-type]
                        LoopSettings(repo=repo, tools=default_tools(),
                                     tool_context=ToolContext(repo)),
                        lambda event: None)
    restore(resumed, emitted)
    assert resumed.history.messages == rebuild(emitted).messages == loop.history.messages


def test_a_run_stopped_before_the_model_said_anything_records_no_turn(repo: Path) -> None:
    emitted: list[ev.Event] = []

    class Silent(StallingBackend):
        async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
            await self.cancelled.wait()
            yield TextDelta("never")

    loop = AgentLoop(Silent(),  # type: ignore[arg-type]
                     LoopSettings(repo=repo, tools=default_tools(), tool_context=ToolContext(repo)),
                     emitted.append)
    start = ev.SessionStart("t", "task", str(repo), "x", "auto", "ask", "system")

    async def stop() -> ev.Finish:
        run = asyncio.ensure_future(loop.run(start))
        while not any(isinstance(e, ev.Effort) for e in emitted):
            await asyncio.sleep(0.01)
        run.cancel()
        return await run

    assert asyncio.run(stop()).status == "cancelled"
    assert not of_type(emitted, ev.Text) and not of_type(emitted, ev.Usage)
    assert [m.role for m in loop.history.messages] == ["user"]


def test_a_backend_failure_ends_the_session_with_its_message(repo: Path) -> None:
    finish, events = run_with(repo, StallingBackend(BackendError("engine died: CUDA OOM")))
    assert (finish.status, finish.summary) == ("error", "engine died: CUDA OOM")
    assert of_type(events, ev.Error)[-1].fatal
    finish, events = run_with(repo, StallingBackend(KeyError("oops")))
    assert finish.status == "error" and "internal error: KeyError" in finish.summary


def test_rules_from_config_files_and_a_repository_may_only_deny(
    repo: Path, isolated_home: Path
) -> None:
    user = isolated_home / "config" / "tessera" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[approval]\nallow = ["tool=bash,command=echo"]\n')
    project = repo / ".tessera" / "config.toml"
    project.parent.mkdir()
    project.write_text('[approval]\nallow = ["edit_file"]\ndeny = ["path=calc.py"]\n')
    turns = [call("bash", command="echo hi"),
             call("edit_file", path="calc.py", old_string="a - b", new_string="a + b"),
             call("write_file", path="notes.txt", content="x"), "done"]
    _, events = run_session(repo, turns, approval="ask")
    results = of_type(events, ev.ToolResult)
    assert [r.ok for r in results] == [True, False, False]
    assert "deny rule" in results[1].output  # the repository's denial holds
    assert "headless" in results[2].output  # its allow rule was ignored: still asks


class CancelledTurn:
    """A backend whose turn was cancelled (say, by the user) after it made a call."""

    name = "cancelled"

    async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        yield ToolCallDelta(0, "read_file", '{"path": "calc.py"}')
        yield FinishDelta("cancelled")

    async def cancel(self) -> None:
        return None


def test_a_cancelled_turn_ends_the_run_and_answers_its_calls(repo: Path) -> None:
    finish, events = run_with(repo, CancelledTurn())
    assert finish.status == "cancelled"
    [result] = of_type(events, ev.ToolResult)
    assert not result.ok and result.output.startswith("not run")


def test_budgets_are_per_run_so_a_follow_up_gets_its_own(repo: Path) -> None:
    turns = [call("read_file", path="calc.py"), "first answer",
             call("read_file", path="check.py"), "second answer"]
    emitted: list[ev.Event] = []
    loop = AgentLoop(
        ReplayBackend([ReplayTurn(t, i) for i, t in enumerate(turns, 1)]),
        LoopSettings(repo=repo, tools=default_tools(), tool_context=ToolContext(repo),
                     budgets=Budgets(max_steps=2)),
        emitted.append,
    )

    async def session() -> tuple[ev.Finish, ev.Finish]:
        first = await loop.run(ev.SessionStart("t", "task", str(repo), "r", "auto", "ask", "s"))
        loop.add_user_message("and the other file?")
        return first, await loop.continue_run()

    first, second = asyncio.run(session())
    assert (first.status, first.summary, second.status, second.summary) == (
        "done", "first answer", "done", "second answer")
    efforts = of_type(emitted, ev.Effort)
    assert "new request" in efforts[2].reason
