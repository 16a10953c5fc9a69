"""MCP servers in a session, end to end through the headless run: the user's servers, a
trusted repository's only, approvals and rules on mcp__ tools, a server that fails, and
secrets kept out of events and the session store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agent import events as ev
from agent import paths
from agent.config import set_trusted
from agent.sessions import SessionStore
from tests.agent.conftest import of_type, run_session
from tests.support import call
from tests.tools.mcp.servers import pypi_servers_bin, sdk_stdio_table

TIME_CALL = call("mcp__time__get_current_time", timezone="Europe/Paris")


def toml_table(name: str, table: dict) -> str:
    lines = [f"[mcp_servers.{name}]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in table.items() if key != "env"]
    if "env" in table:
        lines += [f"[mcp_servers.{name}.env]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in table["env"].items()]
    return "\n".join(lines) + "\n"


def write_config(path: Path, servers: dict[str, dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(toml_table(name, table) for name, table in servers.items()))


@pytest.fixture()
def time_server() -> dict:
    return {"command": str(pypi_servers_bin() / "mcp-server-time"),
            "args": ["--local-timezone", "UTC"]}


def results(events: list[ev.Event]) -> list[ev.ToolResult]:
    return of_type(events, ev.ToolResult)


def test_a_users_server_tool_in_a_replayed_session(repo: Path, time_server: dict) -> None:
    write_config(paths.user_config_file(), {"time": time_server})
    finish, events = run_session(repo, [TIME_CALL, "It is evening in Paris."],
                                 approval="auto-edit")
    assert finish.status == "done"
    [result] = results(events)
    assert result.name == "mcp__time__get_current_time" and result.ok
    assert json.loads(result.output)["timezone"] == "Europe/Paris"
    [approval] = of_type(events, ev.Approval)
    assert approval.decision == "granted" and "readOnlyHint" in approval.reason


def test_rules_apply_to_mcp_tools(repo: Path, time_server: dict) -> None:
    write_config(paths.user_config_file(), {"time": time_server, "sdk": sdk_stdio_table()})
    _, events = run_session(repo, [TIME_CALL, "ok"], approval="auto",
                            deny=["tool=mcp__time__*"])
    [result] = results(events)
    assert not result.ok and "denied by deny rule tool=mcp__time__*" in result.output
    # A tool without readOnlyHint runs outside the sandbox: `auto` asks, headless denies...
    sleep = call("mcp__sdk__sleep", seconds=0)
    _, events = run_session(repo, [sleep, "ok"], approval="auto")
    [result] = results(events)
    assert not result.ok and "runs outside the sandbox" in result.output
    # ...unless a rule allows it; and `ask` does not take readOnlyHint as a read.
    _, events = run_session(repo, [sleep, "ok"], approval="auto", allow=["tool=mcp__sdk__*"])
    assert results(events)[0].ok and results(events)[0].output == "slept 0.0"
    _, events = run_session(repo, [TIME_CALL, "ok"], approval="ask")
    assert not results(events)[0].ok


def test_a_repositorys_servers_start_only_when_trusted(repo: Path, time_server: dict,
                                                       capsys) -> None:  # fmt: skip
    write_config(paths.project_config_file(repo), {"time": time_server})
    _, events = run_session(repo, [TIME_CALL, "ok"], approval="auto-edit")
    [result] = results(events)
    assert not result.ok and "unknown tool 'mcp__time__get_current_time'" in result.output
    warned = capsys.readouterr().err
    assert "declares MCP server(s) time; not started" in warned and "tessera trust" in warned
    set_trusted(repo)
    _, events = run_session(repo, [TIME_CALL, "ok"], approval="auto-edit")
    assert results(events)[0].ok


def test_a_failing_server_is_an_error_and_the_session_goes_on(repo: Path) -> None:
    secret = "sk-live-0123456789abcdef"
    crash = "import os, sys; sys.stderr.write('key is ' + os.environ['API_KEY']); sys.exit(3)"
    write_config(paths.user_config_file(), {
        "broken": {"command": sys.executable, "args": ["-c", crash], "env": {"API_KEY": secret}},
    })
    finish, events = run_session(repo, ["Nothing to do."], approval="auto")
    assert finish.status == "done"
    assert isinstance(events[0], ev.SessionStart)
    [error] = of_type(events, ev.Error)
    assert error.message.startswith("MCP server 'broken' could not be started")
    assert "key is ***" in error.message and not error.fatal  # its stderr, redacted
    store = SessionStore()
    try:
        stored = store.events(events[0].session_id)
    finally:
        store.close()
    assert stored[1] == error
    assert secret not in "".join(e.to_json() for e in events + stored)


def test_a_resumed_session_gets_the_servers_again(repo: Path, time_server: dict) -> None:
    write_config(paths.user_config_file(), {"time": time_server})
    turns = [TIME_CALL, "It is evening.", TIME_CALL, "Still evening."]
    _, first = run_session(repo, turns, approval="auto-edit")
    session_id = first[0].session_id
    finish, events = run_session(repo, turns, task="and now?", approval="auto-edit",
                                 resume=session_id)
    assert finish.status == "done" and finish.summary == "Still evening."
    [result] = results(events)
    assert result.ok and json.loads(result.output)["timezone"] == "Europe/Paris"


def test_stopping_the_turn_stops_the_mcp_call(repo: Path) -> None:
    import asyncio
    import time

    from agent.session_driver import SessionDriver, SessionOptions
    from tests.support import write_replay

    write_config(paths.user_config_file(), {"sdk": sdk_stdio_table()})
    replay = write_replay(repo.parent / "t.jsonl", [call("mcp__sdk__sleep", seconds=60), "ok"])
    driver = SessionDriver(SessionOptions(repo, backend=f"replay:{replay}", approval="auto",
                                          allow=["tool=mcp__sdk__*"], repo_map_tokens=0))
    seen: list[ev.Event] = []
    driver.subscribe(seen.append)

    async def stop_during_the_call() -> ev.Finish:
        turn = asyncio.create_task(driver.start("sleep"))
        while not any(isinstance(e, ev.Approval) for e in seen):
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the call is on the server now
        turn.cancel()
        return await turn

    began = time.monotonic()
    try:
        finish = asyncio.run(stop_during_the_call())
        assert finish.status == "cancelled"
        assert time.monotonic() - began < 30  # not the 60 s the server would sleep
        server = driver.mcp.status()[0]
        assert server.state == "ready" and not driver.mcp.connections["sdk"].error
    finally:
        driver.close()
