"""Plan mode (agent/plan.py): a read-only run that ends with a plan, printed headless;
approved, the same session goes on under the chosen approval policy with the plan's
steps as the todo list (replayed sessions)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent import events as ev
from agent.cli import main
from agent.plan import (
    PLAN_NOTE,
    approve_plan,
    plan_profile,
    plan_request,
    plan_steps,
    planned_task,
    reject_plan,
    undecided_plan,
)
from agent.resume import stored_settings
from agent.session_driver import SessionDriver, SessionOptions
from tests.agent.conftest import RecordingReplay, of_type
from tests.support import call, write_replay

PLAN = "Fix add:\n\n1. Change `a - b` to `a + b` in calc.py\n2. Run check.py\n"
EXPLORE_THEN_PLAN = [call("read_file", path="calc.py"), call("exit_plan", plan=PLAN)]
CARRY_OUT = [
    call("edit_file", path="calc.py", old_string="a - b", new_string="a + b"),
    call("todo_write", items=[
        {"content": "Change `a - b` to `a + b` in calc.py", "status": "done"},
        {"content": "Run check.py", "status": "in_progress"}]),
    "Fixed add as planned.",
]


def plan_options(repo: Path, turns: list[str], **changes: object) -> SessionOptions:
    replay = write_replay(repo.parent / "turns.jsonl", turns)
    return SessionOptions(repo, backend=f"replay:{replay}", repo_map_tokens=0, **changes)  # type: ignore[arg-type]


def test_headless_plan_prints_the_plan_and_exits_zero(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = write_replay(repo.parent / "t.jsonl", EXPLORE_THEN_PLAN)
    code = main(["run", "fix add", "--plan", "--repo", str(repo), "--backend",
                 f"replay:{replay}", "--repo-map-tokens", "0"])
    out = capsys.readouterr().out
    assert code == 0
    assert ("plan:\n  Fix add:\n  \n  1. Change `a - b` to `a + b` in calc.py\n"
            "  2. Run check.py\n") in out
    assert (repo / "calc.py").read_text() == "def add(a, b):\n    return a - b\n"

    code = main(["run", "fix add", "--plan", "--json", "--repo", str(repo), "--backend",
                 f"replay:{replay}", "--repo-map-tokens", "0"])
    events = [ev.from_json(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert events[0].task == plan_request("fix add") and PLAN_NOTE in events[0].task
    assert events[0].approval == "read-only"
    [plan] = of_type(events, ev.Plan)
    assert plan.text == PLAN.strip()
    assert plan.steps == ["Change `a - b` to `a + b` in calc.py", "Run check.py"]
    assert events[-1] == ev.Finish("done", "plan ready: 2 step(s), nothing changed yet", 2)
    assert events.index(plan) == len(events) - 2


def test_plan_mode_offers_only_reads_and_reads_a_final_answer_as_the_plan(repo: Path) -> None:
    turns = [call("write_file", path="calc.py", content="oops"),
             call("bash", command="rm calc.py"),
             "- read calc.py\n- change add\n  - nested detail\n- run the check"]
    driver = SessionDriver(plan_options(repo, turns), plan_profile())
    finish = asyncio.run(driver.start(plan_request("fix add")))
    events = driver.store.events(driver.session_id or "")
    assert driver.loop is not None
    offered = {t.name for t in driver.loop.settings.tools}
    assert {"read_file", "grep", "todo_write", "ask_user", "exit_plan"} <= offered
    assert not offered & {"write_file", "edit_file", "bash"}
    refused = of_type(events, ev.ToolResult)
    assert [r.ok for r in refused] == [False, False]
    assert all("unknown tool" in r.output for r in refused)
    assert (repo / "calc.py").exists()
    [plan] = of_type(events, ev.Plan)
    assert plan.steps == ["read calc.py", "change add", "run the check"]
    assert finish.status == "done"
    driver.close()


def test_an_approved_plan_is_carried_out_in_the_same_session(repo: Path) -> None:
    driver = SessionDriver(plan_options(repo, [*EXPLORE_THEN_PLAN, *CARRY_OUT]),
                           plan_profile())

    async def scenario() -> ev.Finish:
        planned = await driver.start(plan_request("fix add"))
        assert planned.status == "done"
        [plan] = of_type(driver.store.events(driver.session_id or ""), ev.Plan)
        return await approve_plan(driver, plan.text, approval="auto-edit")

    finish = asyncio.run(scenario())
    session = driver.session_id or ""
    events = driver.store.events(session)
    assert finish == ev.Finish("done", "Fixed add as planned.", 5)
    assert (repo / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert len(of_type(events, ev.SessionStart)) == 1  # one session throughout
    kinds = [e.type for e in events]
    at = kinds.index("plan")
    assert kinds[at:at + 5] == ["plan", "finish", "plan_decision", "todo", "user_message"]
    decision, todo, note = events[at + 2], events[at + 3], events[at + 4]
    assert decision == ev.PlanDecision("approved", PLAN.strip(), "auto-edit")
    assert todo.items == [{"content": "Change `a - b` to `a + b` in calc.py",
                           "status": "pending"},
                          {"content": "Run check.py", "status": "pending"}]
    assert PLAN.strip() in note.text and "approved" in note.text
    [edit] = [r for r in of_type(events, ev.ToolResult) if r.name == "edit_file"]
    assert edit.ok  # auto-edit lets it through: the policy chosen at approval
    assert of_type(events, ev.Todo)[-1].items[1]["status"] == "in_progress"
    # The model saw the plan's todo list before its first change.
    assert driver.loop is not None
    assert "edit_file" in {t.name for t in driver.loop.settings.tools}
    assert stored_settings(events).approval == "auto-edit"  # a resume keeps the policy
    driver.close()


def test_a_rejected_plan_is_recorded_and_changes_nothing(repo: Path) -> None:
    driver = SessionDriver(plan_options(repo, EXPLORE_THEN_PLAN), plan_profile())

    async def scenario() -> None:
        assert (await driver.start(plan_request("fix add"))).status == "done"
        [plan] = of_type(driver.store.events(driver.session_id or ""), ev.Plan)
        await reject_plan(driver, plan.text)

    asyncio.run(scenario())
    events = driver.store.events(driver.session_id or "")
    assert events[-1] == ev.PlanDecision("rejected", PLAN.strip())
    assert stored_settings(events).approval == "read-only"
    assert driver.profile.name == "plan"
    driver.close()


def test_plan_steps_read_numbered_items_then_bullets_then_the_whole_text() -> None:
    assert plan_steps("1) one\n2. two\n   3. indented\n- bullet") == ["one", "two"]
    assert plan_steps("* a\n* b") == ["a", "b"]
    assert plan_steps("Just fix   it.") == ["Just fix it."]
    assert plan_steps("   ") == []


def test_an_undecided_plan_is_one_nothing_came_after() -> None:
    start = ev.SessionStart("s", "t", "/r", "replay:x", "auto", "ask")
    plan = ev.Plan("1. a", ["a"])
    done = ev.Finish("done", "1. a", 1)
    assert undecided_plan([start, plan, done]) == plan
    assert undecided_plan([start, plan, done, ev.PlanDecision("rejected", "1. a")]) is None
    assert undecided_plan([start, plan, done, ev.UserMessage("no, do b")]) is None
    assert undecided_plan([start, done]) is None


def test_a_plan_session_replays_in_plan_mode(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = write_replay(repo.parent / "t.jsonl", EXPLORE_THEN_PLAN)
    assert main(["run", "fix add", "--plan", "--repo", str(repo), "--backend",
                 f"replay:{replay}", "--repo-map-tokens", "0"]) == 0
    capsys.readouterr()
    assert main(["replay", "last", "--repo", str(repo), "--json"]) == 0
    events = [ev.from_json(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0].task == plan_request("fix add")  # the note once, not twice
    assert [p.text for p in of_type(events, ev.Plan)] == [PLAN.strip()]
    assert planned_task("fix add") is None


def test_plan_mode_mid_session_keeps_the_conversation_and_the_replay_position(
    repo: Path,
) -> None:
    backend = RecordingReplay(["Hello; nothing to change yet.", *EXPLORE_THEN_PLAN, *CARRY_OUT])
    driver = SessionDriver(SessionOptions(repo, backend="replay:recorded", repo_map_tokens=0,
                                          approval="auto-edit"), backend=backend)

    async def scenario() -> ev.Finish:
        await driver.start("hi")
        driver.set_profile(plan_profile())
        planned = await driver.send(plan_request("fix add"))
        assert planned.status == "done"
        return await approve_plan(driver, PLAN.strip(), approval="auto-edit")

    finish = asyncio.run(scenario())
    assert finish.summary == "Fixed add as planned."
    hello, explore, plan, edit, *_ = backend.requests
    plan_tools = {t["function"]["name"] for t in plan.tools}
    assert "exit_plan" in plan_tools and "edit_file" not in plan_tools
    assert "edit_file" in {t["function"]["name"] for t in edit.tools}
    # One conversation throughout: each request extends the one before it.
    assert explore.messages[0] == hello.messages[0]  # the task "hi"
    assert explore.messages[1].content == "Hello; nothing to change yet."
    assert edit.messages[:len(plan.messages)] == plan.messages
    assert edit.messages[-1].content.startswith("The user approved the plan.")
    assert explore.system == edit.system  # the system prompt (the cached prefix) stays
    driver.close()
