"""What the model is told when its output cannot be read as tool calls.

Local models get the chat format wrong in a few recurring ways: a call without
`[TOOL_CALLS]`, arguments that are not a JSON object, a call in another model's format
(`<tool_call>{...}</tool_call>`, `{"name": ..., "arguments": ...}`), a turn cut off
mid-call. Each message here says exactly what was wrong, quotes what the model wrote,
and shows the expected form, filled in for the tool it meant when that is known, so the
next turn can get it right. The loop counts such steps; repeated ones end in a loud
`error` (agent/loop.py).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from typing import Any

from tools.base import Tool

GENERIC_FORM = '[TOOL_CALLS]tool_name[ARGS]{"argument": "value"}'
QUOTE_CHARS = 160


def expected_form(tool: Tool | None) -> str:
    """One call of `tool` as the model must write it, its arguments named with their
    types (required ones first); the generic form when the tool is unknown."""
    if tool is None:
        return GENERIC_FORM
    params = tool.schema()["function"]["parameters"]
    properties: dict[str, Any] = params.get("properties", {})
    required = [n for n in params.get("required", []) if n in properties]
    optional = [n for n in properties if n not in required]
    fields = [f'"{n}": {_placeholder(properties[n])}' for n in required]
    fields += [f'"{n}": {_placeholder(properties[n])} (optional)' for n in optional]
    return f"[TOOL_CALLS]{tool.name}[ARGS]{{" + ", ".join(fields) + "}"


def _placeholder(schema: dict[str, Any]) -> str:
    kinds = [s.get("type") for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    kind = kinds[0] if kinds else "value"
    return {"string": '"<text>"', "integer": "<integer>", "number": "<number>",
            "boolean": "<true|false>", "array": "[...]", "object": "{...}"}.get(kind, "<value>")


def _quote(raw: str) -> str:
    raw = raw.strip()
    return raw if len(raw) <= QUOTE_CHARS else raw[:QUOTE_CHARS] + "…"


_NAMED = re.compile(r"(?:tool call|name) '([A-Za-z0-9_.:-]+)'")


def _meant_tool(message: str, raw: str, tools: dict[str, Tool]) -> Tool | None:
    named = _NAMED.search(message)
    if named and named.group(1) in tools:
        return tools[named.group(1)]
    return next((t for n, t in tools.items() if re.search(rf"\b{re.escape(n)}\b", raw)), None)


def malformed_note(problems: Sequence[tuple[str, str]], tools: dict[str, Tool]) -> str:
    """The note for a turn whose output could not be read: each (problem, raw output)
    with what was written and the expected form."""
    parts = ["Your last reply could not be read as tool calls, so nothing was run:"]
    for message, raw in problems:
        tool = _meant_tool(message, raw, tools)
        parts.append(f"- {message}")
        if raw.strip():
            parts.append(f"  you wrote: {_quote(raw)}")
        parts.append(f"  expected:  {expected_form(tool)}")
    parts.append("Write each call exactly as [TOOL_CALLS]name[ARGS] followed by one JSON "
                 "object of arguments and nothing after it, or answer in plain text without "
                 "a tool call when you are done.")
    return "\n".join(parts)


def argument_problem(error: str, tool: Tool) -> str:
    """A call that parsed but whose arguments do not fit its tool."""
    return f"{error}. Expected: {expected_form(tool)}. Fix the arguments and call again."


def unknown_tool_problem(name: str, tools: dict[str, Tool]) -> str:
    close = difflib.get_close_matches(name, list(tools), n=1)
    hint = f" Did you mean {close[0]!r}? Expected: {expected_form(tools[close[0]])}." if close \
        else ""
    return f"unknown tool {name!r}; the tools are: {', '.join(sorted(tools))}.{hint}"


_OTHER_FORMATS = (
    re.compile(r"<tool_call>|<function=|<\|tool_call"),
    re.compile(r"\[ARGS\]"),  # a call whose [TOOL_CALLS] marker is missing
)


def misplaced_call(text: str, tools: dict[str, Tool]) -> str | None:
    """The problem with a final answer that is really an attempted call outside the chat
    format (so the run does not silently end on it), else None."""
    stripped = text.strip()
    if not stripped:
        return None
    for pattern in _OTHER_FORMATS:
        if pattern.search(stripped) and any(n in stripped for n in tools):
            return ("a tool call written outside the chat format (no [TOOL_CALLS] marker, or "
                    "another model's call syntax); it was not run")
    for candidate in re.findall(r"\{.*\}", stripped, re.DOTALL)[:1]:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        calls = value if isinstance(value, list) else [value]
        if any(isinstance(c, dict) and c.get("name") in tools
               and ("arguments" in c or "parameters" in c) for c in calls):
            return ("a tool call written as a JSON object in the answer text; it was not "
                    "run: calls go after [TOOL_CALLS]")
    return None
