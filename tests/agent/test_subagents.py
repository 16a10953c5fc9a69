"""Subagents (the `task` tool) in replayed sessions: the real loop, tools and store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from agent import events as ev
from agent.history import rebuild
from agent.replay import ReplayBackend, load_turns
from agent.session_driver import SessionDriver, SessionOptions
from agent.sessions import SessionStore
from tests.agent.conftest import CALC_BUGGY, of_type, run_session
from tests.support import call


def write_script(path: Path, parent: list[str], children: dict[str, list[str]]) -> str:
    """A replay file: the parent's turns, then each child's, tagged with its call id."""
    lines = [{"raw": raw} for raw in parent]
    lines += [{"raw": raw, "subagent": cid} for cid, turns in children.items() for raw in turns]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return f"replay:{path}"


def inner(events: list[ev.Event], call_id: str) -> list[ev.Event]:
    return [e.inner() for e in of_type(events, ev.Subagent) if e.call_id == call_id]


EXPLORE = call("task", description="find add", prompt="Where is add() defined and what is "
               "wrong with it? Report the file, the line and the expression.")
CHILD = [
    "[THINK]Search first.[/THINK]" + call("grep", pattern="def add"),
    call("read_file", path="calc.py"),
    "add() is in calc.py, line 2: it returns `a - b` instead of `a + b`.",
]
PARENT = [
    EXPLORE,
    call("edit_file", path="calc.py", old_string="a - b", new_string="a + b"),
    "Fixed add(): the subagent found that it subtracted.",
]


def test_a_subagents_calls_are_stored_under_its_parent_call(repo: Path, tmp_path: Path) -> None:
    backend = write_script(tmp_path / "t.jsonl", PARENT, {"s00001c00": CHILD})
    db = tmp_path / "s.db"
    finish, events = run_session(repo, None, backend=backend, approval="auto-edit", db_path=db)
    assert finish.status == "done", finish
    assert (repo / "calc.py").read_text() == CALC_BUGGY.replace("a - b", "a + b")
    child = inner(events, "s00001c00")
    assert isinstance(child[0], ev.SessionStart) and child[0].task.startswith("Where is add()")
    assert [(c.name, c.arguments) for c in of_type(child, ev.ToolCall)] == [
        ("grep", {"pattern": "def add"}), ("read_file", {"path": "calc.py"})]
    assert all(r.ok for r in of_type(child, ev.ToolResult))
    assert isinstance(child[-1], ev.Finish) and child[-1].status == "done"
    # The parent got the child's answer as the call's result, and nothing else of it.
    result = next(r for r in of_type(events, ev.ToolResult) if r.call_id == "s00001c00")
    assert result.ok and result.output == CHILD[-1]
    assert result.data["status"] == "done" and result.data["steps"] == 3
    # Top-level events are the parent's alone: its steps, its calls.
    assert [c.name for c in of_type(events, ev.ToolCall)] == ["task", "edit_file"]
    history = rebuild(SessionStore(db).events(finish_session(db)))
    assert [m.role for m in history.messages] == [
        "user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert not any("Search first" in m.thinking for m in history.messages)


def finish_session(db: Path) -> str:
    return SessionStore(db).list()[0].id


TWO = (call("task", description="read calc", prompt="Summarise calc.py.")
       + call("task", description="read check", prompt="Summarise check.py."))


class MeetingChild:
    """A child's replay backend whose first turn waits until every child has asked for
    its first turn: children that ran one after the other would never meet (timeout)."""

    def __init__(self, inner: ReplayBackend, meeting: asyncio.Barrier) -> None:
        self.inner, self.meeting, self.name = inner, meeting, inner.name
        self.met = False

    async def cancel(self) -> None:
        await self.inner.cancel()

    async def stream(self, request):
        if not self.met:
            self.met = True
            await asyncio.wait_for(self.meeting.wait(), 30)
        async for delta in self.inner.stream(request):
            yield delta


class MeetingReplay(ReplayBackend):
    """The replay backend, its children made to meet (agent/subagents.ScriptsSubagents)."""

    meeting: asyncio.Barrier | None = None

    def for_subagent(self, call_id: str) -> MeetingChild:  # type: ignore[override]
        self.meeting = self.meeting or asyncio.Barrier(2)
        return MeetingChild(super().for_subagent(call_id), self.meeting)


def test_two_read_only_subagents_of_one_step_run_concurrently(repo: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path / "t.jsonl", [TWO, "calc.py has add; check.py tests it."], {
        "s00001c00": [call("read_file", path="calc.py"), "calc.py defines add(a, b)."],
        "s00001c01": [call("read_file", path="check.py"), "check.py asserts add(2, 3) == 5."],
    })
    backend = MeetingReplay(load_turns(Path(script.removeprefix("replay:"))))

    async def scenario() -> tuple[ev.Finish, list[ev.Event]]:
        driver = SessionDriver(SessionOptions(repo, approval="read-only", repo_map_tokens=0,
                                              db_path=tmp_path / "s.db"), backend=backend)
        seen: list[ev.Event] = []
        driver.subscribe(seen.append)
        try:
            return await driver.start("what do calc.py and check.py do?"), seen
        finally:
            driver.close()

    finish, events = asyncio.run(scenario())
    assert finish.status == "done", finish  # the children met: they ran at the same time
    results = {r.call_id: r for r in of_type(events, ev.ToolResult)}
    assert results["s00001c00"].output == "calc.py defines add(a, b)."
    assert results["s00001c01"].output == "check.py asserts add(2, 3) == 5."
    finishes = [e.call_id for e in of_type(events, ev.Subagent) if e.event["type"] == "finish"]
    assert sorted(finishes) == ["s00001c00", "s00001c01"]


def test_a_subagent_never_gets_more_than_the_parents_approval(repo: Path, tmp_path: Path) -> None:
    writer = call("task", description="fix add", prompt="Fix add.", tools=["edit_file"])
    backend = write_script(tmp_path / "t.jsonl", [writer, "I may not change files."], {})
    finish, events = run_session(repo, None, backend=backend, approval="read-only")
    assert finish.status == "done"
    approval = of_type(events, ev.Approval)[0]
    assert (approval.name, approval.decision) == ("task", "denied")
    assert not of_type(events, ev.Subagent)
    assert (repo / "calc.py").read_text() == CALC_BUGGY


def test_a_child_with_unknown_tools_or_a_task_tool_is_refused(repo: Path, tmp_path: Path) -> None:
    nested = call("task", description="x", prompt="y", tools=["task", "nope", "ask_user"])
    backend = write_script(tmp_path / "t.jsonl", [nested, "ok"], {})
    _finish, events = run_session(repo, None, backend=backend, approval="auto")
    result = of_type(events, ev.ToolResult)[0]
    assert not result.ok
    assert "cannot start subagents" in result.output and "nope" in result.output
    assert "ask_user" in result.output.split(";")[1]  # the user is the parent's to ask
    assert "todo_write" not in result.output and "read_file" in result.output


def test_a_child_over_its_step_budget_fails_the_call(repo: Path, tmp_path: Path) -> None:
    loop_forever = [call("grep", pattern=f"x{i}") for i in range(20)]
    backend = write_script(tmp_path / "t.jsonl", [call("task", description="d", prompt="p"),
                                                   "gave up"], {"s00001c00": loop_forever})
    _finish, events = run_session(repo, None, backend=backend, approval="auto")
    result = of_type(events, ev.ToolResult)[-1]
    assert not result.ok and result.data["status"] == "budget"
    assert "step budget of 15 reached" in result.output


def test_cancelling_the_parent_stops_its_children(repo: Path, tmp_path: Path) -> None:
    writer = call("task", description="fix add", prompt="Fix add.", tools=["edit_file"])
    backend = write_script(tmp_path / "t.jsonl", [writer, "never reached"], {"s00001c00": [
        call("edit_file", path="calc.py", old_string="a - b", new_string="a + b"), "done"]})
    asked = asyncio.Event()

    async def approver(facts, call_event) -> str:
        if call_event.name == "task":
            return "once"
        asked.set()
        await asyncio.Event().wait()  # the user never answers the child's question
        return "deny"

    async def scenario() -> tuple[ev.Finish, list[ev.Event]]:
        driver = SessionDriver(SessionOptions(repo, backend=backend, approval="ask",
                                              repo_map_tokens=0, db_path=tmp_path / "s.db"),
                               approver=approver)
        seen: list[ev.Event] = []
        driver.subscribe(seen.append)
        run = asyncio.create_task(driver.start("fix add"))
        await asyncio.wait_for(asked.wait(), 30)
        run.cancel()
        finish = await run
        driver.close()
        return finish, seen

    finish, events = asyncio.run(scenario())
    assert finish.status == "cancelled"
    child = inner(events, "s00001c00")
    assert isinstance(child[-1], ev.Finish) and child[-1].status == "cancelled"
    assert (repo / "calc.py").read_text() == CALC_BUGGY


def test_a_resumed_session_goes_on_after_its_subagent_without_running_it_again(
    repo: Path, tmp_path: Path
) -> None:
    backend = write_script(tmp_path / "t.jsonl", PARENT, {"s00001c00": CHILD})
    db = tmp_path / "s.db"
    first, _events = run_session(repo, None, backend=backend, approval="auto-edit",
                                 db_path=db, max_steps=1)
    assert first.status == "budget"
    finish, events = run_session(repo, None, task=None, backend=backend,
                                 approval="auto-edit", db_path=db, resume="last")
    assert finish.status == "done" and finish.summary == PARENT[-1]
    assert not of_type(events, ev.Subagent)  # the call had its result: not run again
    assert (repo / "calc.py").read_text() == CALC_BUGGY.replace("a - b", "a + b")
    stored = SessionStore(db).events(finish_session(db))
    assert sum(1 for e in of_type(stored, ev.Subagent) if e.event["type"] == "finish") == 1


def test_a_session_with_subagents_exports_a_replay_file_that_scripts_them(
    repo: Path, tmp_path: Path
) -> None:
    from agent.replay import ReplayBackend, session_turns, subagent_turns, write_turns

    backend = write_script(tmp_path / "t.jsonl", PARENT, {"s00001c00": CHILD})
    db = tmp_path / "s.db"
    run_session(repo, None, backend=backend, approval="auto-edit", db_path=db)
    stored = SessionStore(db).events(finish_session(db))
    exported = tmp_path / "export.jsonl"
    write_turns(exported, session_turns(stored), subagent_turns(stored))
    replay = ReplayBackend.from_file(exported)
    assert [t.raw for t in replay.turns] == PARENT
    assert [t.raw for t in replay.for_subagent("s00001c00").turns] == CHILD


def test_the_human_transcript_indents_a_subagents_calls(repo: Path, tmp_path: Path,
                                                       capsys) -> None:
    from agent.cli import main

    backend = write_script(tmp_path / "t.jsonl", PARENT, {"s00001c00": CHILD})
    code = main(["run", "fix add", "--repo", str(repo), "--backend", backend,
                 "--approval", "auto-edit", "--repo-map-tokens", "0"])
    out = capsys.readouterr().out
    assert code == 0
    assert '    [s00001c00] → grep {"pattern": "def add"}' in out
    assert "    [s00001c00] subagent done after 3 step(s)" in out
    assert out.index("→ task") < out.index("[s00001c00] → grep") < out.index("← task ok")


def test_a_long_answer_reaches_the_parent_bounded(repo: Path, tmp_path: Path) -> None:
    long_answer = "".join(f"line {i}: calc.py is fine\n" for i in range(2000))  # ~50 KB
    backend = write_script(tmp_path / "t.jsonl", [call("task", description="d", prompt="p"),
                                                   "ok"], {"s00001c00": [long_answer]})
    _finish, events = run_session(repo, None, backend=backend, approval="auto")
    result = of_type(events, ev.ToolResult)[0]
    assert result.ok and result.data["truncated"] is True
    assert len(result.output.encode()) < 9 * 1024
    assert result.output.startswith("line 0:") and "line 1999:" in result.output
    assert "bytes omitted" in result.output
