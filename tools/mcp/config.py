"""One MCP server as the configuration declares it: `[mcp_servers.NAME]`.

Codex's keys, so a user's existing table works: `command`, `args`, `env`, `cwd` for a
server run as a child over stdio; `url` (+ `headers`) for Streamable HTTP. Secrets are
named, never written: `env_vars` lists variables passed through from our environment,
`bearer_token_env_var` and `env_http_headers` name the variables whose values become
HTTP headers. The values are read when the server starts and kept out of everything we
print or store (`ServerConfig.secrets`, `redact`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
DEFAULT_STARTUP_TIMEOUT_S = 10.0
DEFAULT_TOOL_TIMEOUT_S = 60.0
KEYS = {
    "command", "args", "env", "env_vars", "cwd", "url", "headers", "bearer_token_env_var",
    "env_http_headers", "enabled", "startup_timeout", "tool_timeout", "tools", "disabled_tools",
}


class McpConfigError(ValueError):
    """A `[mcp_servers.NAME]` table that cannot be used; the message names it."""


@dataclass(frozen=True)
class ServerConfig:
    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    env_vars: tuple[str, ...] = ()
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    bearer_token_env_var: str | None = None
    env_http_headers: dict[str, str] = field(default_factory=dict)  # header -> variable
    enabled: bool = True
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_S
    tool_timeout: float = DEFAULT_TOOL_TIMEOUT_S
    tools: tuple[str, ...] | None = None  # None: all the server offers
    disabled_tools: tuple[str, ...] = ()
    source: str = ""  # the file that declared it

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"

    def target(self) -> str:
        """What it runs or reaches, for display: never an env value or a header."""
        if self.url:
            return self.url
        return " ".join([self.command or "", *self.args]).strip()

    def offers(self, tool: str) -> bool:
        """Whether the config lets the model see the server's tool `tool`."""
        if tool in self.disabled_tools:
            return False
        return self.tools is None or tool in self.tools

    def child_env(self) -> dict[str, str]:
        """The variables a stdio child gets on top of the SDK's safe defaults."""
        passed = {name: os.environ[name] for name in self.env_vars if name in os.environ}
        return {**passed, **self.env}

    def http_headers(self) -> dict[str, str]:
        """Headers for an HTTP server; raises McpConfigError for a named variable not set."""
        headers = dict(self.headers)
        for header, variable in self.env_http_headers.items():
            headers[header] = self._variable(variable, f"env_http_headers.{header}")
        if self.bearer_token_env_var:
            token = self._variable(self.bearer_token_env_var, "bearer_token_env_var")
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _variable(self, name: str, key: str) -> str:
        value = os.environ.get(name)
        if not value:
            raise McpConfigError(
                f"MCP server {self.name!r}: {key} names the environment variable {name}, "
                "which is not set"
            )
        return value

    def secrets(self) -> list[str]:
        """Values that must never appear in an event, a log line or a session."""
        values = [*self.env.values(), *self.headers.values()]
        values += [os.environ.get(n, "") for n in self.env_vars]
        values += [os.environ.get(n, "") for n in self.env_http_headers.values()]
        if self.bearer_token_env_var:
            values.append(os.environ.get(self.bearer_token_env_var, ""))
        return [v for v in values if len(v) >= 4]  # a 1-3 char "secret" would mask words


def redact(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def parse_server(name: str, table: Any, source: str) -> ServerConfig:
    """A `[mcp_servers.NAME]` table; raises McpConfigError naming the key at fault."""
    where = f"{source}: [mcp_servers.{name}]"
    if not NAME_PATTERN.match(name) or "__" in name:
        raise McpConfigError(f"{where}: a server name is 1-32 letters, digits, '-' or '_' "
                             "(no '__', which separates server and tool in mcp__NAME__TOOL)")
    if not isinstance(table, dict):
        raise McpConfigError(f"{where}: expected a table")
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise McpConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    command, url = table.get("command"), table.get("url")
    if (command is None) == (url is None):
        raise McpConfigError(f"{where}: give either `command` (stdio) or `url` (HTTP)")
    if url is not None and not (isinstance(url, str) and re.match(r"^https?://", url)):
        raise McpConfigError(f"{where}: url must be an http:// or https:// address")
    if command is not None and (not isinstance(command, str) or not command.strip()):
        raise McpConfigError(f"{where}: command must be a non-empty string")
    if url is not None and any(k in table for k in ("args", "env", "env_vars", "cwd")):
        raise McpConfigError(f"{where}: args, env, env_vars and cwd are for a stdio server")
    if command is not None and any(
        k in table for k in ("headers", "bearer_token_env_var", "env_http_headers")
    ):
        raise McpConfigError(f"{where}: headers and tokens are for an HTTP server (url)")
    tools = table.get("tools")
    return ServerConfig(
        name=name,
        command=command,
        args=_strings(table.get("args", []), where, "args"),
        env=_string_map(table.get("env", {}), where, "env"),
        env_vars=_strings(table.get("env_vars", []), where, "env_vars"),
        cwd=_optional_string(table.get("cwd"), where, "cwd"),
        url=url,
        headers=_string_map(table.get("headers", {}), where, "headers"),
        bearer_token_env_var=_optional_string(
            table.get("bearer_token_env_var"), where, "bearer_token_env_var"),
        env_http_headers=_string_map(table.get("env_http_headers", {}), where,
                                     "env_http_headers"),
        enabled=_boolean(table.get("enabled", True), where),
        startup_timeout=_seconds(table.get("startup_timeout", DEFAULT_STARTUP_TIMEOUT_S),
                                 where, "startup_timeout"),
        tool_timeout=_seconds(table.get("tool_timeout", DEFAULT_TOOL_TIMEOUT_S),
                              where, "tool_timeout"),
        tools=None if tools is None else _strings(tools, where, "tools"),
        disabled_tools=_strings(table.get("disabled_tools", []), where, "disabled_tools"),
        source=source,
    )


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise McpConfigError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def _string_map(value: Any, where: str, key: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise McpConfigError(f"{where}: {key} must be a table of strings")
    return dict(value)


def _optional_string(value: Any, where: str, key: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise McpConfigError(f"{where}: {key} must be a string")
    return value


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise McpConfigError(f"{where}: enabled must be true or false")
    return value


def _seconds(value: Any, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise McpConfigError(f"{where}: {key} must be a positive number of seconds")
    return float(value)
