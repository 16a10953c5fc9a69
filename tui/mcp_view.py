"""What `/mcp` shows: each MCP server, its state, its tools, and what went wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def mcp_lines(statuses: list[Any], warnings: list[str], user_config: Path) -> tuple[str, str]:
    """The note's text and level for tools.mcp.hub.ServerStatus entries (no secrets:
    a status names commands and addresses, never env values or headers)."""
    if not statuses and not warnings:
        return ("no MCP servers configured: add one with `tessera mcp add NAME -- COMMAND "
                "ARGS...` (docs/mcp.md)", "info")
    ready = sum(1 for s in statuses if s.state == "ready")
    lines = [f"MCP servers ({ready} of {len(statuses)} ready):"]
    width = max((len(s.name) for s in statuses), default=0)
    for status in statuses:
        where = "your config" if status.source == str(user_config) else "repository config"
        lines.append(f"  {status.name:<{width}}  {status.state:<11} {status.transport:<5} "
                     f"{len(status.tools):>2} tool(s)  {status.target}  ({where})")
        if status.tools:
            short = [tool.split("__", 2)[2] for tool in status.tools]
            lines.append(f"  {'':<{width}}  tools: {', '.join(short)}")
        if status.error:
            lines += [f"  {'':<{width}}  {line}" for line in status.error.splitlines()[:6]]
        lines += [f"  {'':<{width}}  note: {problem}" for problem in status.problems]
    lines += [f"  warning: {warning}" for warning in warnings]
    failed = any(s.state == "failed" for s in statuses) or warnings
    return "\n".join(lines), "warning" if failed else "info"
