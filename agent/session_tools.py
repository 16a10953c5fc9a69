"""The agent-layer tools every session gets besides the repository's (agent/agent_tool.py)."""

from __future__ import annotations

from agent.ask_user import Asker, AskUser
from agent.todo import TodoWrite
from tools.base import Tool


def session_tools(asker: Asker | None) -> list[Tool]:
    """The todo list and questions to the user (`asker`: the front end's chooser; None:
    headless)."""
    return [TodoWrite(), AskUser(asker)]
