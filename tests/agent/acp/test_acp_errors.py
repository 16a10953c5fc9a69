"""`tessera acp` answers bad input with JSON-RPC errors that say what was wrong, keeps
stdout for the protocol alone, and loses nothing when the editor disconnects mid-turn."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from acp import PROTOCOL_VERSION, text_block
from acp.schema import ToolCallStart, UserMessageChunk

from tests.agent.acp.test_acp_protocol import CAPABILITIES, EditorClient, of, start
from tests.support import call, init_repo, isolate_home, write_replay

PROJECT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolate_home(tmp_path / "home", monkeypatch)
    return init_repo(tmp_path / "project", {"calc.py": "x = 1\n"})


def exchange(requests: list[dict[str, Any]], *argv: str) -> list[dict[str, Any]]:
    """Send JSON-RPC lines and read until each has its answer; every line the agent
    writes must be JSON-RPC (stdout is the protocol's alone)."""
    process = subprocess.Popen([sys.executable, "-m", "agent", "acp", *argv], cwd=PROJECT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None and process.stdout is not None
    answers: list[dict[str, Any]] = []
    try:
        for request in requests:
            process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        while len([a for a in answers if "id" in a]) < len(requests):
            line = process.stdout.readline()
            assert line, "the agent ended before it answered every request"
            answers.append(json.loads(line))
    finally:
        process.stdin.close()
        assert process.wait(timeout=30) == 0
    return answers


def test_bad_requests_get_clear_errors(repo: Path) -> None:
    init = {"protocolVersion": PROTOCOL_VERSION, "clientCapabilities": {}}
    answers = exchange([
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init},
        {"jsonrpc": "2.0", "id": 2, "method": "session/fly", "params": {}},
        {"jsonrpc": "2.0", "id": 3, "method": "session/new", "params": {"cwd": 42}},
        {"jsonrpc": "2.0", "id": 4, "method": "session/new",
         "params": {"cwd": "relative/dir", "mcpServers": []}},
        {"jsonrpc": "2.0", "id": 5, "method": "session/prompt",
         "params": {"sessionId": "nope", "prompt": [{"type": "text", "text": "hi"}]}},
        {"jsonrpc": "2.0", "id": 6, "method": "session/load",
         "params": {"sessionId": "nope", "cwd": str(repo), "mcpServers": []}},
    ], "--backend", "replay:/nonexistent.jsonl", "--repo-map-tokens", "0")
    by_id = {a["id"]: a for a in answers if "id" in a}
    assert by_id[1]["result"]["protocolVersion"] == PROTOCOL_VERSION
    assert by_id[2]["error"]["code"] == -32601  # method not found
    assert by_id[3]["error"]["code"] == -32602  # invalid params (not a string)
    assert "absolute path" in json.dumps(by_id[4]["error"])
    assert by_id[5]["error"]["code"] == -32602
    assert "no such session" in json.dumps(by_id[5]["error"])
    assert by_id[6]["error"]["code"] == -32602
    assert "nope" in json.dumps(by_id[6]["error"])


def test_a_disconnect_mid_turn_loses_nothing(repo: Path, tmp_path: Path) -> None:
    turns = [call("bash", command="sleep 20"), "Done after the reconnect."]
    replay = write_replay(tmp_path / "turns.jsonl", turns)

    class Vanishing(EditorClient):
        async def request_permission(self, session_id: str, tool_call: Any,
                                     options: list[Any], **_: Any) -> Any:
            self.process.stdin.close()  # the editor crashes while it is asked
            await asyncio.sleep(30)

    editor = Vanishing({}, [])

    async def first() -> str:
        async with start(editor, replay) as (conn, process):
            editor.process = process  # type: ignore[attr-defined]
            await conn.initialize(protocol_version=PROTOCOL_VERSION)
            sid = (await conn.new_session(cwd=str(repo), mcp_servers=[])).session_id
            prompt = asyncio.create_task(
                conn.prompt(session_id=sid, prompt=[text_block("run it")]))
            assert await asyncio.wait_for(process.wait(), 30) == 0  # it ends on its own
            prompt.cancel()
            return sid

    sid = asyncio.run(first())
    later = EditorClient({}, [])

    async def second() -> None:
        async with start(later, replay) as (conn, _):
            await conn.initialize(protocol_version=PROTOCOL_VERSION,
                                  client_capabilities=CAPABILITIES)
            await conn.load_session(cwd=str(repo), session_id=sid, mcp_servers=[])

    asyncio.run(second())
    assert [u.content.text for u in of(UserMessageChunk, later.updates)] == ["run it"]
    assert [u.title for u in of(ToolCallStart, later.updates)] == ["bash: sleep 20"]
