"""`tessera acp` driven as an editor drives it: a subprocess on stdio, spoken to by the
`agent-client-protocol` package's own client side, through a replayed session.

One story: initialize → session/new → a prompt whose updates stream (thought, message,
a tool call with its location, an edit as diff content) while reads and writes go
through the editor's buffers (an unsaved buffer is read, the edit lands in it, the disk
is untouched) → a permission answered "allow" and one answered "reject" → a cancel while
a permission is pending → the process ends (the editor disconnects) → a new process
loads the session and receives its history, and the session goes on.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from acp import PROTOCOL_VERSION, spawn_agent_process, text_block
from acp.schema import (
    AgentMessageChunk,
    AgentPlanUpdate,
    AgentThoughtChunk,
    AllowedOutcome,
    AvailableCommandsUpdate,
    ClientCapabilities,
    CurrentModeUpdate,
    DeniedOutcome,
    FileSystemCapabilities,
    ReadTextFileResponse,
    RequestPermissionResponse,
    ToolCallProgress,
    ToolCallStart,
    UserMessageChunk,
    WriteTextFileResponse,
)

from tests.support import call, init_repo, isolate_home, write_replay

PROJECT = Path(__file__).resolve().parents[3]
ON_DISK = "def add(a, b):\n    return a - b\n"
UNSAVED = "def add(a, b):\n    return a - b  # unsaved change\n"

TURNS = [
    # prompt 1: read (through the editor), edit (allowed), answer
    "[THINK]Read calc.py first.[/THINK]" + call("read_file", path="calc.py"),
    call("edit_file", path="calc.py", old_string="a - b", new_string="a + b"),
    "Fixed add: it subtracted.",
    # prompt 2: a write the user rejects
    call("write_file", path="notes.md", content="notes\n"),
    "Left notes.md alone.",
    # prompt 3: cancelled while its permission is pending
    call("bash", command="sleep 20"),
    # after the load: the session goes on
    "Carrying on where we stopped.",
]


class EditorClient:
    """An editor: records every update, answers permissions from a script, and holds
    buffers that shadow the disk."""

    def __init__(self, buffers: dict[str, str], answers: list[str]) -> None:
        self.buffers, self.answers = buffers, answers
        self.updates: list[Any] = []
        self.permission_requests: list[Any] = []
        self.reads: list[str] = []
        self.conn: Any = None
        self.session_id = ""

    def on_connect(self, conn: Any) -> None:
        self.conn = conn

    async def session_update(self, session_id: str, update: Any, **_: Any) -> None:
        self.updates.append(update)

    async def request_permission(self, session_id: str, tool_call: Any, options: list[Any],
                                 **_: Any) -> RequestPermissionResponse:
        self.permission_requests.append(tool_call)
        answer = self.answers.pop(0)
        if answer == "cancel":  # the user stops the turn: cancel, then answer "cancelled"
            await self.conn.cancel(session_id=session_id)
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(
            outcome=AllowedOutcome(outcome="selected", option_id=answer))

    async def read_text_file(self, session_id: str, path: str, **_: Any) -> ReadTextFileResponse:
        self.reads.append(path)
        return ReadTextFileResponse(content=self.buffers.get(path) or Path(path).read_text())

    async def write_text_file(self, session_id: str, path: str, content: str,
                              **_: Any) -> WriteTextFileResponse:
        self.buffers[path] = content
        return WriteTextFileResponse()


def of(kind: type, updates: list[Any]) -> list[Any]:
    return [u for u in updates if isinstance(u, kind)]


def joined(kind: type, updates: list[Any]) -> str:
    return "".join(u.content.text for u in of(kind, updates))


def start(client: EditorClient, replay: Path) -> Any:
    return spawn_agent_process(
        client, sys.executable, "-m", "agent", "acp", "--backend", f"replay:{replay}",
        "--repo-map-tokens", "0", cwd=PROJECT,
        env=dict(os.environ),  # the SDK passes on only a few variables: keep the test's home
    )


CAPABILITIES = ClientCapabilities(
    fs=FileSystemCapabilities(read_text_file=True, write_text_file=True))


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolate_home(tmp_path / "home", monkeypatch)
    return init_repo(tmp_path / "project", {"calc.py": ON_DISK})


def test_an_editor_session_from_start_to_load(repo: Path, tmp_path: Path) -> None:
    replay = write_replay(tmp_path / "turns.jsonl", TURNS)
    calc = str(repo / "calc.py")
    editor = EditorClient({calc: UNSAVED}, ["once", "deny", "cancel"])

    async def first_process() -> str:
        async with start(editor, replay) as (conn, _):
            hello = await conn.initialize(protocol_version=PROTOCOL_VERSION,
                                          client_capabilities=CAPABILITIES)
            assert hello.agent_capabilities.load_session is True
            assert hello.agent_capabilities.prompt_capabilities.image is True
            session = await conn.new_session(cwd=str(repo), mcp_servers=[])
            assert session.modes.current_mode_id == "ask"
            assert {m.id for m in session.modes.available_modes} >= {"ask", "auto", "read-only"}
            sid = session.session_id

            done = await conn.prompt(session_id=sid, prompt=[text_block("fix add")])
            assert done.stop_reason == "end_turn"
            rejected = await conn.prompt(session_id=sid, prompt=[text_block("write notes")])
            assert rejected.stop_reason == "end_turn"
            stopped = await conn.prompt(session_id=sid, prompt=[text_block("wait a bit")])
            assert stopped.stop_reason == "cancelled"
            return sid  # leaving the block closes stdin: the editor disconnects

    sid = asyncio.run(first_process())
    updates = editor.updates
    assert of(AvailableCommandsUpdate, updates)
    assert joined(AgentThoughtChunk, updates) == "Read calc.py first."
    assert "Fixed add: it subtracted." in joined(AgentMessageChunk, updates)

    starts = {u.tool_call_id: u for u in of(ToolCallStart, updates)}
    read = next(u for u in starts.values() if u.title.startswith("read_file"))
    assert read.kind == "read" and read.locations[0].path == calc
    done = {u.tool_call_id: u for u in of(ToolCallProgress, updates) if u.status}
    assert "# unsaved change" in done[read.tool_call_id].content[-1].content.text
    assert calc in editor.reads  # the read went through the editor

    edit = next(u for u in starts.values() if u.title.startswith("edit_file"))
    assert edit.kind == "edit"
    edited = done[edit.tool_call_id]
    assert edited.status == "completed"
    diff = edited.content[0]
    assert diff.type == "diff" and diff.path == calc
    assert "a - b" in diff.old_text and "a + b" in diff.new_text
    assert edited.locations[0].line == 1  # 0-based: the second line
    assert editor.buffers[calc] == "def add(a, b):\n    return a + b  # unsaved change\n"
    assert (repo / "calc.py").read_text() == ON_DISK  # the edit landed in the buffer only

    asked = [r.title for r in editor.permission_requests]
    assert [t.split(":")[0] for t in asked] == ["edit_file", "write_file", "bash"]
    assert editor.permission_requests[0].content[0].type == "diff"  # the preview is shown
    bash = next(u for u in starts.values() if u.title.startswith("bash"))
    assert done[bash.tool_call_id].status == "failed"  # cancelled: the editor is told
    write = next(u for u in starts.values() if u.title.startswith("write_file"))
    assert done[write.tool_call_id].status == "failed"
    assert not (repo / "notes.md").exists() and str(repo / "notes.md") not in editor.buffers

    # The editor comes back: a new process loads the session and replays its history.
    later = EditorClient(dict(editor.buffers), [])

    async def second_process() -> str:
        async with start(later, replay) as (conn, _):
            await conn.initialize(protocol_version=PROTOCOL_VERSION,
                                  client_capabilities=CAPABILITIES)
            await conn.load_session(cwd=str(repo), session_id=sid, mcp_servers=[])
            history = list(later.updates)
            answer = await conn.prompt(session_id=sid, prompt=[text_block("go on")])
            assert answer.stop_reason == "end_turn"
            return joined(UserMessageChunk, history)

    users = asyncio.run(second_process())
    assert users == "fix addwrite noteswait a bit"
    history_calls = [u.title.split(":")[0] for u in of(ToolCallStart, later.updates)]
    assert history_calls == ["read_file", "edit_file", "write_file", "bash"]
    assert "Carrying on where we stopped." in joined(AgentMessageChunk, later.updates)


def test_modes_are_approval_policies_and_survive_a_load(repo: Path, tmp_path: Path) -> None:
    replay = write_replay(tmp_path / "turns.jsonl", [
        call("write_file", path="a.txt", content="a\n"), "Refused, as read-only.",
        call("write_file", path="b.txt", content="b\n"), "Wrote b.txt.",
    ])
    editor = EditorClient({}, [])  # no answers: any permission request would fail

    async def session() -> str:
        async with start(editor, replay) as (conn, _):
            await conn.initialize(protocol_version=PROTOCOL_VERSION)  # no fs: the disk
            sid = (await conn.new_session(cwd=str(repo), mcp_servers=[])).session_id
            await conn.set_session_mode(session_id=sid, mode_id="read-only")
            await conn.prompt(session_id=sid, prompt=[text_block("write a")])
            await conn.set_session_mode(session_id=sid, mode_id="auto")
            await conn.prompt(session_id=sid, prompt=[text_block("write b")])
            return sid

    sid = asyncio.run(session())
    modes = [u.current_mode_id for u in of(CurrentModeUpdate, editor.updates)]
    assert modes == ["read-only", "auto"]
    assert editor.permission_requests == []
    assert not (repo / "a.txt").exists() and (repo / "b.txt").read_text() == "b\n"

    async def load() -> str:
        async with start(EditorClient({}, []), replay) as (conn, _):
            await conn.initialize(protocol_version=PROTOCOL_VERSION)
            loaded = await conn.load_session(cwd=str(repo), session_id=sid, mcp_servers=[])
            return loaded.modes.current_mode_id

    assert asyncio.run(load()) == "auto"


def test_plan_mode_questions_and_the_todo_list_reach_the_editor(repo: Path,
                                                                tmp_path: Path) -> None:
    """Plan mode is a mode: the turn plans read-only, the model's question is answered
    with the editor's buttons, the plan is approved through a permission request, and the
    same prompt goes on to carry it out with the plan's steps as the editor's plan."""
    replay = write_replay(tmp_path / "turns.jsonl", [
        call("ask_user", question="How long a docstring?", options=["short", "long"]),
        call("exit_plan", plan="1. Add a docstring to add\n2. Run the checks"),
        call("todo_write", items=[
            {"content": "Add a docstring to add", "status": "in_progress"},
            {"content": "Run the checks", "status": "pending"}]),
        call("edit_file", path="calc.py", old_string="def add(a, b):\n",
             new_string='def add(a, b):\n    """Add two numbers, at length."""\n'),
        "Added the docstring.",
    ])

    class Planner(EditorClient):
        async def request_permission(self, session_id: str, tool_call: Any,
                                     options: list[Any], **_: Any) -> Any:
            self.permission_requests.append(tool_call)
            names = {o.name: o.option_id for o in options}
            chosen = names.get("long") or names["Approve: edit without asking"]
            return RequestPermissionResponse(
                outcome=AllowedOutcome(outcome="selected", option_id=chosen))

    editor = Planner({}, [])

    async def session() -> str:
        async with start(editor, replay) as (conn, _):
            await conn.initialize(protocol_version=PROTOCOL_VERSION)
            sid = (await conn.new_session(cwd=str(repo), mcp_servers=[])).session_id
            await conn.set_session_mode(session_id=sid, mode_id="plan")
            answer = await conn.prompt(session_id=sid, prompt=[text_block("document add")])
            return answer.stop_reason

    assert asyncio.run(session()) == "end_turn"
    asked = [r.title for r in editor.permission_requests]
    assert asked == ["How long a docstring?", "Plan ready: start coding?"]
    modes = [u.current_mode_id for u in of(CurrentModeUpdate, editor.updates)]
    assert modes == ["plan", "auto-edit"]
    plans = [[(e.content, e.status) for e in u.entries]
             for u in of(AgentPlanUpdate, editor.updates)]
    assert plans[0] == [("Add a docstring to add", "pending"), ("Run the checks", "pending")]
    assert plans[-1] == [("Add a docstring to add", "in_progress"), ("Run the checks", "pending")]
    done = {u.tool_call_id: u for u in of(ToolCallProgress, editor.updates) if u.status}
    asked_call = next(u for u in of(ToolCallStart, editor.updates)
                      if u.title.startswith("ask_user"))
    assert "The user chose option 2: long" in done[asked_call.tool_call_id].content[-1].content.text
    assert "at length" in (repo / "calc.py").read_text()


def test_custom_commands_are_offered_and_expanded(repo: Path, tmp_path: Path) -> None:
    commands = tmp_path / "home" / "config" / "tessera" / "commands"
    commands.mkdir(parents=True)
    (commands / "greet.md").write_text(
        "---\ndescription: greet someone\n---\nSay hello to $ARGUMENTS.\n")
    replay = write_replay(tmp_path / "turns.jsonl", ["Hello, Ada."])
    editor = EditorClient({}, [])

    async def session() -> str:
        async with start(editor, replay) as (conn, _):
            await conn.initialize(protocol_version=PROTOCOL_VERSION)
            sid = (await conn.new_session(cwd=str(repo), mcp_servers=[])).session_id
            await conn.prompt(session_id=sid, prompt=[text_block("/nope at all")])
            await conn.prompt(session_id=sid, prompt=[text_block("/greet Ada")])
            return sid

    sid = asyncio.run(session())
    offered = {c.name: c.description for u in of(AvailableCommandsUpdate, editor.updates)
               for c in u.available_commands}
    assert offered["greet"] == "greet someone" and "compact" in offered
    said = joined(AgentMessageChunk, editor.updates)
    assert "unknown command /nope" in said and "Hello, Ada." in said

    later = EditorClient({}, [])

    async def load() -> None:
        async with start(later, replay) as (conn, _):
            await conn.initialize(protocol_version=PROTOCOL_VERSION)
            await conn.load_session(cwd=str(repo), session_id=sid, mcp_servers=[])

    asyncio.run(load())
    assert joined(UserMessageChunk, later.updates) == "Say hello to Ada.\n"
