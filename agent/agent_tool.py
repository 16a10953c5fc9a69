"""Tools of the agent layer: they keep or ask for the session's own state (the todo
list, a plan, the user's answer) instead of touching the repository.

They follow the one tool protocol (tools/base.py) and add three things the call runner
(agent/calls.py) honours: they run on the event loop (`arun`), so one may wait for the
user; a successful call may add events after its result (`events_after`: the `todo`
event); and a tool may end the run with its output as the answer (`ends_run`: a plan
that waits for the user's approval).
"""

from __future__ import annotations

from typing import Any, ClassVar

from agent import events as ev
from tools.base import Tool, ToolContext, ToolError, ToolResult, bounded


class AgentTool(Tool):
    ends_run: ClassVar[bool] = False

    async def arun(self, args: Any, ctx: ToolContext) -> ToolResult:
        """Do the work on the event loop; by default the synchronous `run`."""
        return self.run(args, ctx)

    async def ainvoke(self, raw: str | dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Parse, run and bound, as `Tool.invoke` does, awaiting `arun`."""
        try:
            result = await self.arun(self.parse_args(raw), ctx)
        except ToolError as exc:
            result = ToolResult.error(str(exc))
        return bounded(result, ctx)

    def events_after(self, result: ev.ToolResult) -> list[ev.Event]:
        """Events that follow a successful call's result (stored and shown after it)."""
        return []
