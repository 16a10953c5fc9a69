"""Which MCP servers a session gets: the user's, and a trusted repository's.

`[mcp_servers.NAME]` tables come from the user's config file and, only when the user
trusted the repository (`tessera trust`, bound to the config file's content), from its
`.tessera/config.toml`: a server is a command run on the host, so an untrusted
repository's server would be code execution the user never agreed to. Its servers are
then named in a warning, not started. A repository's server of the same name as one of
the user's replaces it (the user trusted that file as it is). A malformed table is a
warning naming it; the other servers still start.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from agent import paths
from agent.config import ConfigError, read_section, trust_state
from tools.mcp.config import McpConfigError, ServerConfig, parse_server


def configured_servers(repo: Path | None) -> tuple[list[ServerConfig], list[str]]:
    """The servers a session in `repo` may start (enabled or not), and warnings."""
    servers: dict[str, ServerConfig] = {}
    warnings: list[str] = []
    sources = [paths.user_config_file()]
    if repo is not None:
        project = paths.project_config_file(repo)
        tables = _section(project, warnings)
        state = trust_state(repo) if tables else "untrusted"
        if tables and state == "trusted":
            sources.append(project)
        elif tables:
            why = ("changed since you trusted the repository" if state == "changed"
                   else "is in an untrusted repository")
            warnings.append(
                f"the repository's .tessera/config.toml declares MCP server(s) "
                f"{', '.join(sorted(tables))}; not started: "
                f"the file {why} and a server runs code on your machine (review it, then "
                "`tessera trust`)")
    for source in sources:
        for name, table in _section(source, warnings).items():
            try:
                server = parse_server(name, table, str(source))
            except McpConfigError as exc:
                warnings.append(f"{exc}; the server is left out")
                continue
            if repo is not None and server.cwd and not Path(server.cwd).is_absolute():
                server = replace(server, cwd=str(repo / server.cwd))  # the repository's
            servers[name] = server
    return list(servers.values()), warnings


def _section(path: Path, warnings: list[str]) -> dict:
    try:
        tables = read_section(path, "mcp_servers")
    except ConfigError as exc:
        warnings.append(str(exc))
        return {}
    if tables is None:
        return {}
    if not isinstance(tables, dict):
        warnings.append(f"{path}: mcp_servers must be a table of [mcp_servers.NAME] tables")
        return {}
    return tables


def session_hub(repo: Path | None):
    """A hub for the session's servers (tools.mcp.hub.McpHub; not started yet) and the
    configuration's warnings; (None, warnings) when no server is configured."""
    servers, warnings = configured_servers(repo)
    if not servers:
        return None, warnings
    from tools.mcp.hub import McpHub

    return McpHub(servers, log_dir=paths.data_dir() / "logs"), warnings
