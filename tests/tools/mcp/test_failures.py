"""Servers that fail: never answer `initialize`, write garbage, cannot be found, die in the
middle of a call. Each gives an error naming the server, the hub goes on, and a server
that failed is started again on its next use. Children die with the hub."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from tests.tools.mcp.servers import children_of, sdk_stdio_table
from tools.base import ToolContext
from tools.mcp.config import parse_server
from tools.mcp.hub import McpHub


def test_servers_that_never_start(tmp_path: Path) -> None:
    earlier = children_of(os.getpid())  # the suite's own (a shared engine, say)
    hub = McpHub([
        parse_server("mute", {"command": "sleep", "args": ["300"], "startup_timeout": 1}, "t"),
        parse_server("junk", {"command": sys.executable, "startup_timeout": 4, "args": [
            "-c", "print('hello, not json', flush=True); import time; time.sleep(300)"]}, "t"),
        parse_server("gone", {"command": str(tmp_path / "no-such-server")}, "t"),
        parse_server("sdk", sdk_stdio_table(), "t"),
    ], log_dir=tmp_path / "logs")
    try:
        began = time.monotonic()
        hub.start_all()
        hub.wait_started()
        assert time.monotonic() - began < 10  # bounded by startup_timeout, not the children
        mute, junk, gone, sdk = hub.status()
        assert mute.state == junk.state == gone.state == "failed"
        assert mute.error == ("MCP server 'mute' did not answer `initialize` and `tools/list` "
                              "within 1 s (startup_timeout)")
        assert junk.error.endswith("what it sent that was not MCP: 'hello, not json'")
        assert "MCP server 'gone' could not be started" in gone.error
        assert "no-such-server" in gone.error
        assert sdk.state == "ready"  # the others go on
        assert {t.name.split("__")[1] for t in hub.tools()} == {"sdk"}
        # and none of the failed ones left a process behind
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(children_of(os.getpid()) - earlier) > 1:
            time.sleep(0.1)
        assert len(children_of(os.getpid()) - earlier) == 1  # the sdk server only
    finally:
        hub.close()


def test_a_server_killed_mid_call_is_restarted_on_next_use(tmp_path: Path) -> None:
    hub = McpHub([parse_server("sdk", sdk_stdio_table(), "t")], log_dir=tmp_path / "logs")
    try:
        hub.start("sdk")
        tools = {t.name: t for t in hub.tools()}
        ctx = ToolContext(tmp_path)
        first = int(tools["mcp__sdk__pid"].invoke({}, ctx).text)
        threading.Timer(0.5, os.kill, (first, signal.SIGKILL)).start()
        result = tools["mcp__sdk__sleep"].invoke({"seconds": 20}, ctx)
        assert not result.ok
        assert result.text.startswith("MCP server 'sdk' went away during the sleep call")
        assert hub.status()[0].state == "failed"
        again = tools["mcp__sdk__pid"].invoke({}, ctx)  # the next use starts it again
        assert again.ok and int(again.text) != first
        assert hub.status()[0].state == "ready"
    finally:
        hub.close()


def test_a_call_that_hangs_ends_at_tool_timeout(tmp_path: Path) -> None:
    hub = McpHub([parse_server("sdk", {**sdk_stdio_table(), "tool_timeout": 1}, "t")])
    try:
        hub.start("sdk")
        sleep = next(t for t in hub.tools() if t.name == "mcp__sdk__sleep")
        result = sleep.invoke({"seconds": 30}, ToolContext(tmp_path))
        assert not result.ok and result.text == (
            "MCP server 'sdk' did not answer the sleep call within 1 s (tool_timeout)")
    finally:
        hub.close()


def test_children_die_with_the_hub(tmp_path: Path) -> None:
    hub = McpHub([parse_server("a", sdk_stdio_table(), "t"),
                  parse_server("b", sdk_stdio_table(), "t")])
    hub.start_all()
    hub.wait_started()
    pids = [int(t.invoke({}, ToolContext(tmp_path)).text)
            for t in hub.tools() if t.name.endswith("__pid")]
    assert len(pids) == 2 and all(Path(f"/proc/{pid}").exists() for pid in pids)
    hub.close()
    assert not (set(pids) & children_of(os.getpid()))


def test_a_stopped_turn_cancels_the_call(tmp_path: Path) -> None:
    hub = McpHub([parse_server("sdk", sdk_stdio_table(), "t")])
    try:
        hub.start("sdk")
        sleep = next(t for t in hub.tools() if t.name == "mcp__sdk__sleep")
        outcome = []
        worker = threading.Thread(
            target=lambda: outcome.append(sleep.invoke({"seconds": 30}, ToolContext(tmp_path))))
        began = time.monotonic()
        worker.start()
        time.sleep(1.0)
        sleep.cancel()  # what the agent does when the turn running it is stopped
        worker.join(timeout=10)
        assert not worker.is_alive() and time.monotonic() - began < 10
        [result] = outcome
        assert not result.ok and result.text == (
            "the sleep call to MCP server 'sdk' was cancelled (the turn was stopped)")
        assert hub.status()[0].state == "ready"  # the server itself goes on
        pid = next(t for t in hub.tools() if t.name == "mcp__sdk__pid")
        assert pid.invoke({}, ToolContext(tmp_path)).ok
    finally:
        hub.close()
