"""`todo_write`: the model keeps its todo list, and the session keeps it verbatim.

The model sets the whole list at once (`items: [{content, status}]`, status pending,
in_progress or done, at most one in progress). Each accepted list becomes a `todo`
event, which the TUI shows as a live panel, `--json` prints, and the history keeps: at
compaction the latest list is carried into the compacted history exactly as
`render_todo` writes it (agent/history.py), so the model never loses its plan there.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from agent import events as ev
from agent.agent_tool import AgentTool
from tools.base import SideEffect, ToolArgs, ToolContext, ToolResult

MAX_ITEMS = 50
MARKS = {"pending": "[ ]", "in_progress": "[>]", "done": "[x]"}


class TodoItem(ToolArgs):
    content: str = Field(min_length=1, max_length=500, description="one task, imperative")
    status: Literal["pending", "in_progress", "done"]

    @model_validator(mode="after")
    def _not_blank(self) -> TodoItem:
        if not self.content.strip():
            raise ValueError("content is blank: say what the item is")
        return self


class TodoArgs(ToolArgs):
    items: list[TodoItem] = Field(
        max_length=MAX_ITEMS, description="the whole list, in order (it replaces the last one)"
    )

    @model_validator(mode="after")
    def _one_in_progress(self) -> TodoArgs:
        working = [item.content for item in self.items if item.status == "in_progress"]
        if len(working) > 1:
            listed = ", ".join(repr(c) for c in working)
            raise ValueError(
                f"at most one item may be in_progress, but {len(working)} are: {listed}; "
                "mark the others pending or done")
        return self


def render_todo(items: list[dict[str, str]]) -> str:
    """The list as the model reads it, after its call and after a compaction alike."""
    done = sum(1 for item in items if item["status"] == "done")
    lines = [f"Todo list ({done} of {len(items)} done):"]
    lines += [f"{MARKS[item['status']]} {item['content']}" for item in items]
    return "\n".join(lines)


class TodoWrite(AgentTool):
    name = "todo_write"
    description = (
        "Set your todo list for this task: the whole list each time (it replaces the last "
        "one), each item with status pending, in_progress or done; at most one in_progress. "
        "Use it for work of several steps, and keep it current as you go: the list is kept "
        "verbatim even when older turns are summarised."
    )
    Args = TodoArgs
    side_effect = SideEffect.READ  # it changes no file: the list lives in the session
    parallel_safe = False  # two lists in one step: the later one wins, in order

    def run(self, args: TodoArgs, ctx: ToolContext) -> ToolResult:
        items = [item.model_dump() for item in args.items]
        return ToolResult(True, render_todo(items), {"items": items})

    def events_after(self, result: ev.ToolResult) -> list[ev.Event]:
        items: list[dict[str, Any]] = result.data.get("items", [])
        return [ev.Todo([{"content": i["content"], "status": i["status"]} for i in items],
                        result.step)]
