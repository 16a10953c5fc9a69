"""The PyPI servers mcp-server-time and mcp-server-git over stdio, through the hub and
our tool protocol, as the agent uses them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import init_repo
from tests.tools.mcp.servers import running_hub
from tools.base import SideEffect, ToolContext
from tools.mcp.config import parse_server
from tools.mcp.hub import McpHub


@pytest.fixture()
def hub(servers_bin: Path, tmp_path: Path) -> Iterator[McpHub]:
    with running_hub({
        "time": {"command": str(servers_bin / "mcp-server-time"),
                 "args": ["--local-timezone", "UTC"]},
        "git": {"command": str(servers_bin / "mcp-server-git"), "disabled_tools": ["git_reset"],
                "startup_timeout": 30},
    }, tmp_path / "logs") as hub:
        yield hub


def tools_by_name(hub: McpHub) -> dict:
    return {tool.name: tool for tool in hub.tools()}


def test_the_model_sees_their_tools_by_server_and_name(hub: McpHub) -> None:
    assert [s.state for s in hub.status()] == ["ready", "ready"]
    tools = tools_by_name(hub)
    assert {"mcp__time__get_current_time", "mcp__time__convert_time",
            "mcp__git__git_status", "mcp__git__git_log"} <= set(tools)
    assert "mcp__git__git_reset" not in tools  # disabled_tools
    current = tools["mcp__time__get_current_time"]
    function = current.schema()["function"]
    assert function["parameters"]["required"] == ["timezone"]
    assert "title" not in function["parameters"]
    assert function["description"].endswith("(MCP server time)")
    assert current.side_effect is SideEffect.EXECUTE and not current.sandboxed
    assert current.read_only_hint  # the server says so
    assert not tools["mcp__git__git_commit"].read_only_hint


def test_calls_and_their_results(hub: McpHub, tmp_path: Path) -> None:
    tools = tools_by_name(hub)
    ctx = ToolContext(tmp_path)
    result = tools["mcp__time__get_current_time"].invoke({"timezone": "Europe/Paris"}, ctx)
    assert result.ok and json.loads(result.text)["timezone"] == "Europe/Paris"
    assert result.data == {"mcp_server": "time"}
    failed = tools["mcp__time__get_current_time"].invoke({"timezone": "Mars/Olympus"}, ctx)
    assert not failed.ok and "Mars/Olympus" in failed.text  # isError: a failed result
    refused = tools["mcp__time__get_current_time"].invoke({"zone": "UTC"}, ctx)
    assert not refused.ok and "'timezone' is a required property" in refused.text

    repo = init_repo(tmp_path / "repo", {"a.txt": "one\n"})
    (repo / "a.txt").write_text("two\n")
    status = tools["mcp__git__git_status"].invoke({"repo_path": str(repo)}, ctx)
    assert status.ok and "a.txt" in status.text


def test_only_the_listed_tools(servers_bin: Path, tmp_path: Path) -> None:
    hub = McpHub([parse_server("time", {"command": str(servers_bin / "mcp-server-time"),
                                        "tools": ["convert_time", "no_such_tool"]}, "t")])
    try:
        hub.start("time")
        assert [t.name for t in hub.tools()] == ["mcp__time__convert_time"]
        assert hub.status()[0].problems == [
            "no_such_tool: named in `tools` but the server has no such tool"]
    finally:
        hub.close()
