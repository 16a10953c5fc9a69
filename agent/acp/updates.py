"""Tessera's events as ACP `session/update`s: one mapping, used live and when a stored
session is loaded again.

Streamed text and reasoning come from the live deltas (`delta_update`); the stored
`text` and `thinking` events carry the same words, so a live session skips them and a
loaded one sends them whole. A tool call becomes a `tool_call` (kind, title, locations
so the editor can jump, the raw input) and its result a `tool_call_update` with the
output and, for edits, ACP diff content. Paths are absolute, as ACP requires; a
location's line is 0-based (what Zed, the reference client, reads).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from acp import helpers as h
from acp.schema import AvailableCommand, ToolCallLocation, UnstructuredCommandInput

from agent import events as ev
from agent.backend import Delta, TextDelta, ThinkingDelta
from tools.base import SideEffect

SEARCH_TOOLS = frozenset({"grep", "list_files", "repo_map", "find_symbol", "outline"})
FETCH_TOOLS = frozenset({"web_fetch", "screenshot"})
# Output shown in the editor for one call; the model's own copy is bounded separately.
OUTPUT_SHOWN_CHARS = 8_000


def delta_update(delta: Delta) -> Any | None:
    """The live stream: message and thought chunks (other deltas become events)."""
    if isinstance(delta, TextDelta) and delta.text:
        return h.update_agent_message_text(delta.text)
    if isinstance(delta, ThinkingDelta) and delta.text:
        return h.update_agent_thought_text(delta.text)
    return None


def tool_kind(name: str, side_effect: SideEffect | None) -> str:
    if name in SEARCH_TOOLS:
        return "search"
    if name in FETCH_TOOLS:
        return "fetch"
    if side_effect is SideEffect.WRITE:
        return "edit"
    if side_effect is SideEffect.EXECUTE:
        return "execute"
    if side_effect is SideEffect.READ:
        return "read"
    return "other"


def tool_title(name: str, arguments: dict[str, Any] | str) -> str:
    """What the editor shows for a call: the tool and its most telling argument."""
    if not isinstance(arguments, dict):
        return f"{name} (malformed arguments)"
    for key in ("command", "path", "pattern", "name", "target", "url", "description"):
        value = arguments.get(key)
        if isinstance(value, str) and value:
            shown = value if len(value) <= 80 else value[:77] + "..."
            return f"{name}: {shown}"
    return name


def locations(repo: Path, arguments: dict[str, Any] | str,
              data: Mapping[str, Any] | None = None) -> list[ToolCallLocation]:
    """Where a call reads or writes: its `path` argument, at the first line it reached
    (a read's start, an edit's first replacement) once the result says so."""
    if not isinstance(arguments, dict) or not isinstance(arguments.get("path"), str):
        return []
    path = (repo / arguments["path"]).resolve()
    line: int | None = None
    if data:
        at_lines = data.get("at_lines")
        first = at_lines[0] if isinstance(at_lines, list) and at_lines else data.get("start_line")
        line = first - 1 if isinstance(first, int) and first >= 1 else None
    return [ToolCallLocation(path=str(path), line=line)]


def diff_content(repo: Path, data: Mapping[str, Any]) -> list[Any]:
    """An edit's unified diff (the file tools' `data`) as ACP diff content: the old and
    new text of its hunks (with their context lines); no old text for a created file."""
    diff, path = data.get("diff"), data.get("path")
    if not isinstance(diff, str) or not diff or not isinstance(path, str):
        return []
    old, new = [], []
    for line in diff.splitlines():
        if line.startswith(("---", "+++", "@@", "\\")):
            continue
        if line.startswith(" "):
            old.append(line[1:])
            new.append(line[1:])
        elif line.startswith("-"):
            old.append(line[1:])
        elif line.startswith("+"):
            new.append(line[1:])
    old_text = None if data.get("created") else "\n".join(old) + "\n"
    return [h.tool_diff_content(str((repo / path).resolve()), "\n".join(new) + "\n", old_text)]


def tool_call_start(repo: Path, call: ev.ToolCall, side_effect: SideEffect | None) -> Any:
    return h.start_tool_call(
        call.id, tool_title(call.name, call.arguments),
        kind=tool_kind(call.name, side_effect),  # type: ignore[arg-type]
        status="pending", locations=locations(repo, call.arguments),
        raw_input=call.arguments,
    )


def tool_call_done(repo: Path, result: ev.ToolResult,
                   arguments: dict[str, Any] | str | None) -> Any:
    output = result.output
    if len(output) > OUTPUT_SHOWN_CHARS:
        output = output[:OUTPUT_SHOWN_CHARS] + "\n[... shortened for the editor]"
    content: list[Any] = diff_content(repo, result.data) if result.ok else []
    content.append(h.tool_content(h.text_block(output)))
    found = locations(repo, arguments, result.data) if arguments is not None else []
    return h.update_tool_call(
        result.call_id, status="completed" if result.ok else "failed", content=content,
        locations=found or None, raw_output={"ok": result.ok, "output": output},
    )


def tool_call_stopped(call_id: str) -> Any:
    """A call the turn ended before it ran (a cancel); the session gives it a result
    when it goes on."""
    return h.update_tool_call(call_id, status="failed", content=[
        h.tool_content(h.text_block("not run: the turn was stopped"))])


TODO_STATUS = {"pending": "pending", "in_progress": "in_progress", "done": "completed"}


def todo_plan(items: list[dict[str, str]]) -> Any:
    """The model's todo list (or an approved plan's steps) as the editor's plan."""
    return h.update_plan(
        h.plan_entry(item.get("content", ""),
                     status=TODO_STATUS.get(item.get("status", ""), "pending"))  # type: ignore[arg-type]
        for item in items)


def available_commands(commands: Mapping[str, str]) -> Any:
    """The slash commands the editor may offer (name → description)."""
    return h.update_available_commands(
        AvailableCommand(name=name, description=text,
                         input=UnstructuredCommandInput(hint="arguments"))
        for name, text in commands.items()
    )


def stored_updates(repo: Path, events: list[ev.Event],
                   side_effects: Mapping[str, SideEffect]) -> list[Any]:
    """A stored session as the updates an editor shows when it loads it: the user's
    messages, the model's reasoning and answers, every tool call with its result."""
    updates: list[Any] = []
    arguments: dict[str, dict[str, Any] | str] = {}
    for event in events:
        if isinstance(event, ev.SessionStart):
            updates.append(h.update_user_message_text(event.task))
        elif isinstance(event, ev.UserMessage) and event.origin == "user":
            updates.append(h.update_user_message_text(event.text))
        elif isinstance(event, ev.Thinking) and event.text:
            updates.append(h.update_agent_thought_text(event.text))
        elif isinstance(event, ev.Text) and event.text:
            updates.append(h.update_agent_message_text(event.text))
        elif isinstance(event, ev.ToolCall):
            arguments[event.id] = event.arguments
            updates.append(tool_call_start(repo, event, side_effects.get(event.name)))
        elif isinstance(event, ev.ToolResult):
            updates.append(tool_call_done(repo, event, arguments.get(event.call_id)))
        elif isinstance(event, ev.Todo):
            updates.append(todo_plan(event.items))
        elif isinstance(event, ev.Plan):
            updates.append(h.update_agent_message_text(f"\n{event.text}\n"))
            updates.append(todo_plan([{"content": step, "status": "pending"}
                                      for step in event.steps]))
        elif isinstance(event, ev.Error):
            updates.append(h.update_agent_message_text(f"\n[error] {event.message}\n"))
    return updates
