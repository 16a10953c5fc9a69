"""`tessera mcp list|add|remove|test` as a user calls them."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from agent import paths
from agent.cli import main
from tests.tools.mcp.servers import pypi_servers_bin


def mcp(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["mcp", *argv])
    return code, capsys.readouterr().out


def test_add_list_test_remove(repo: Path, capsys) -> None:
    time_server = str(pypi_servers_bin() / "mcp-server-time")
    code, out = mcp(capsys, "add", "time", "--tool-timeout", "5", "--",
                    time_server, "--local-timezone", "UTC")
    assert code == 0 and "added [mcp_servers.time]" in out
    code, out = mcp(capsys, "add", "web", "--url", "https://example.test/mcp",
                    "--bearer-token-env-var", "WEB_TOKEN")
    assert code == 0
    config = tomllib.loads(paths.user_config_file().read_text())["mcp_servers"]
    assert config["time"] == {"command": time_server, "args": ["--local-timezone", "UTC"],
                              "tool_timeout": 5.0}
    assert config["web"] == {"url": "https://example.test/mcp",
                             "bearer_token_env_var": "WEB_TOKEN"}

    code, out = mcp(capsys, "add", "time", "--", "other")
    assert code == 2 and "already has [mcp_servers.time]" in out
    code, out = mcp(capsys, "add", "bad")
    assert code == 2 and "give either `command` (stdio) or `url` (HTTP)" in out

    code, out = mcp(capsys, "--repo", str(repo), "list")
    assert code == 0
    assert f"time             stdio enabled  {time_server} --local-timezone UTC" in out
    assert "web              http  enabled  https://example.test/mcp" in out

    code, out = mcp(capsys, "--repo", str(repo), "test", "time")
    assert code == 0
    assert "time: started (stdio" in out and "2 tool(s) for the model" in out
    assert "  mcp__time__get_current_time (readOnlyHint)" in out
    code, out = mcp(capsys, "--repo", str(repo), "test", "web")
    assert code == 1
    assert out.startswith("failed: MCP server 'web' could not be started")
    assert "WEB_TOKEN, which is not set" in out
    code, out = mcp(capsys, "--repo", str(repo), "test", "nothing")
    assert code == 2 and "configured: time, web" in out

    code, out = mcp(capsys, "add", "git", "--env", "GIT_PAGER=cat", "--", "mcp-server-git")
    assert code == 0
    assert tomllib.loads(paths.user_config_file().read_text())["mcp_servers"]["git"]["env"] == {
        "GIT_PAGER": "cat"}
    for name in ("time", "git"):  # its sub-table (env) goes with it
        code, out = mcp(capsys, "remove", name)
        assert code == 0
    assert list(tomllib.loads(paths.user_config_file().read_text())["mcp_servers"]) == ["web"]
    code, out = mcp(capsys, "remove", "time")
    assert code == 2 and "has no [mcp_servers.time]" in out


def test_a_server_that_fails_its_test(repo: Path, capsys) -> None:
    mcp(capsys, "add", "mute", "--startup-timeout", "1", "--", sys.executable, "-c",
        "import time; time.sleep(60)")
    code, out = mcp(capsys, "--repo", str(repo), "test", "mute")
    assert code == 1 and "MCP server 'mute' did not answer `initialize`" in out


def test_list_names_an_untrusted_repositorys_servers(repo: Path, capsys) -> None:
    project = paths.project_config_file(repo)
    project.parent.mkdir()
    project.write_text('[mcp_servers.evil]\ncommand = "curl"\n')
    code, out = mcp(capsys, "--repo", str(repo), "list")
    assert code == 0 and "no MCP servers configured" in out
    assert "declares MCP server(s) evil; not started" in out
