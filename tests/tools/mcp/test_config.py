"""`[mcp_servers.NAME]` tables: what is accepted, what is refused and why, and secrets."""

from __future__ import annotations

import pytest

from tools.mcp.config import McpConfigError, parse_server, redact


def test_a_stdio_and_an_http_server() -> None:
    stdio = parse_server("git", {"command": "uvx", "args": ["mcp-server-git"], "env": {"A": "1"},
                                 "cwd": "/tmp", "tools": ["git_status"], "tool_timeout": 5}, "f")
    assert stdio.transport == "stdio" and stdio.target() == "uvx mcp-server-git"
    assert stdio.offers("git_status") and not stdio.offers("git_commit")
    assert stdio.tool_timeout == 5.0 and stdio.startup_timeout == 10.0 and stdio.enabled
    http = parse_server("web", {"url": "https://example.test/mcp", "enabled": False,
                                "disabled_tools": ["drop"]}, "f")
    assert http.transport == "http" and not http.enabled
    assert http.offers("keep") and not http.offers("drop")


@pytest.mark.parametrize(("table", "says"), [
    ({}, "either `command`"),
    ({"command": "x", "url": "http://h"}, "either `command`"),
    ({"url": "ftp://h"}, "http:// or https://"),
    ({"command": "x", "args": "a b"}, "args must be a list"),
    ({"command": "x", "startup_timeout": 0}, "startup_timeout must be a positive"),
    ({"command": "x", "enabled": "yes"}, "enabled must be true or false"),
    ({"command": "x", "headers": {"A": "b"}}, "for an HTTP server"),
    ({"url": "http://h", "env": {"A": "b"}}, "for a stdio server"),
    ({"command": "x", "colour": "red"}, "unknown key(s) colour"),
])
def test_bad_tables_are_refused_with_the_key(table: dict, says: str) -> None:
    with pytest.raises(McpConfigError, match=r"mcp_servers\.srv") as caught:
        parse_server("srv", table, "config.toml")
    assert says in str(caught.value)


@pytest.mark.parametrize("name", ["a__b", "has space", "x" * 33, ""])
def test_names_that_cannot_make_a_tool_name(name: str) -> None:
    with pytest.raises(McpConfigError, match="server name"):
        parse_server(name, {"command": "x"}, "f")


def test_secrets_come_from_the_environment_and_are_redacted(monkeypatch) -> None:
    monkeypatch.setenv("MY_TOKEN", "s3cret-token")
    monkeypatch.setenv("PASSED", "passed-value")
    http = parse_server("web", {"url": "http://h/mcp", "bearer_token_env_var": "MY_TOKEN",
                                "env_http_headers": {"X-Key": "PASSED"}}, "f")
    assert http.http_headers() == {"X-Key": "passed-value",
                                   "Authorization": "Bearer s3cret-token"}
    assert "MY_TOKEN" not in http.target() and "s3cret" not in http.target()
    assert redact("got s3cret-token and passed-value", http.secrets()) == "got *** and ***"
    monkeypatch.delenv("MY_TOKEN")
    with pytest.raises(McpConfigError, match="MY_TOKEN, which is not set"):
        http.http_headers()
    stdio = parse_server("s", {"command": "x", "env_vars": ["PASSED", "UNSET_ONE"],
                               "env": {"K": "literal"}}, "f")
    assert stdio.child_env() == {"PASSED": "passed-value", "K": "literal"}
