"""Scripted sessions through the real loop, real tools and a temporary git repository."""

from __future__ import annotations

from pathlib import Path

from agent import events as ev
from agent.history import rebuild
from agent.sessions import SessionStore
from tests.agent.conftest import CALC_BUGGY, of_type, run_session
from tests.support import call

FIX_TURNS = [
    "[THINK]Read the code first.[/THINK]" + call("read_file", path="calc.py")
    + call("read_file", path="check.py"),
    "Run the checks." + call("bash", command="python3 check.py"),
    "[THINK]add subtracts.[/THINK]"
    + call("edit_file", path="calc.py", old_string="a - b", new_string="a + b"),
    call("bash", command="python3 check.py"),
    "Fixed `add` in calc.py: it subtracted. The checks pass now.",
]


def test_read_edit_run_fix_finish(repo: Path) -> None:
    finish, events = run_session(repo, FIX_TURNS, approval="auto")
    assert (finish.status, finish.steps) == ("done", 5)
    assert finish.summary.startswith("Fixed `add`")
    assert (repo / "calc.py").read_text() == CALC_BUGGY.replace("a - b", "a + b")
    assert isinstance(events[0], ev.SessionStart) and events[-1] == finish
    results = of_type(events, ev.ToolResult)
    assert [(r.name, r.ok) for r in results] == [
        ("read_file", True), ("read_file", True), ("bash", False), ("edit_file", True),
        ("bash", True),
    ], [r.output for r in results]
    assert "add(2, 3) returned -1" in results[2].output
    assert "all checks passed" in results[4].output
    # Results follow calls one to one, and a step's reads keep the model's order.
    calls = of_type(events, ev.ToolCall)
    assert [c.id for c in calls] == [r.call_id for r in results]
    # A checkpoint precedes the first change of each step that changes something.
    checkpoints = of_type(events, ev.Checkpoint)
    assert [c.step for c in checkpoints] == [2, 3, 4]
    first_change = next(i for i, e in enumerate(events) if isinstance(e, ev.ToolResult)
                        and e.name == "edit_file")
    assert any(isinstance(e, ev.Checkpoint) and e.step == 3 for e in events[:first_change])
    from tools.git.checkpoints import list_checkpoints
    from tools.git.repo import open_repo

    assert {c.ref for c in checkpoints} <= {c.id for c in list_checkpoints(open_repo(repo))}
    efforts = of_type(events, ev.Effort)
    assert [e.step for e in efforts] == [1, 2, 3, 4, 5]
    assert efforts[0].value == "high"
    assert of_type(events, ev.Thinking)[0].text == "Read the code first."
    assert [r.raw for r in of_type(events, ev.RawOutput)] == FIX_TURNS


def test_stored_events_rebuild_the_same_history(repo: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _finish, printed = run_session(repo, FIX_TURNS, approval="auto", db_path=db)
    store = SessionStore(db)
    session_id = store.list()[0].id
    stored = store.events(session_id)
    assert stored == printed
    history = rebuild(stored)
    roles = [m.role for m in history.messages]
    assert roles == ["user", "assistant", "tool", "tool", "assistant", "tool", "assistant",
                     "tool", "assistant", "tool", "assistant"]
    assert history.messages[1].tool_calls[1].name == "read_file"
    assert history.messages[3].content.endswith("print('all checks passed')\n") or \
        "all checks passed" in history.messages[3].content
    assert set(store.call_statuses(session_id).values()) == {"done"}
    assert store.info(session_id).status == "done"


def test_instructions_reach_the_system_prompt(repo: Path, isolated_home: Path) -> None:
    user = isolated_home / "config" / "tessera" / "AGENTS.md"
    user.parent.mkdir(parents=True)
    user.write_text("Always answer in English.\n")
    (repo / "AGENTS.md").write_text("Run checks with python3 check.py.\n")
    finish, events = run_session(repo, ["Nothing to do."])
    start = events[0]
    assert isinstance(start, ev.SessionStart)
    assert start.instruction_files == [str(user), str(repo / "AGENTS.md")]
    assert "Always answer in English." in start.system_prompt
    assert "python3 check.py" in start.system_prompt
    assert str(repo) in start.system_prompt
    assert finish.status == "done"


def test_replay_running_out_ends_with_a_clear_error(repo: Path) -> None:
    finish, events = run_session(repo, [call("read_file", path="calc.py")])
    assert finish.status == "error"
    errors = of_type(events, ev.Error)
    assert errors and errors[-1].fatal and "no turn left" in errors[-1].message
    assert "turns.jsonl" in finish.summary
