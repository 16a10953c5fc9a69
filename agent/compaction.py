"""Compaction: near the context limit, the model summarises older turns.

What stays verbatim: the system prompt (with AGENTS.md and the environment), the task
(the first user message), and the most recent turns; everything between becomes one
summary the model writes itself, asked to keep the state of the work and its open
todos. The todo list the model set with `todo_write` is not left to the summary: it is
appended to it exactly as it stood (agent/history.py). History is otherwise
append-only, so compaction is the one moment the engine's prefix cache misses after the
task; it happens rarely, and only when it must.

The summary and the number of trailing messages kept are stored in a `compaction`
event, so a resumed session rebuilds exactly the same history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.backend import Message

SUMMARY_REQUEST = (
    "The conversation is getting long and older turns will be replaced by your summary. "
    "Write that summary now, for yourself, in plain text without calling a tool. Keep "
    "everything needed to finish the task: what has been done and verified (files changed, "
    "commands run and their outcome), what you learned about the code, decisions made and "
    "why, and the open todos in order (a list set with todo_write is kept as it is). Do "
    "not restate the task or the instructions; they stay in the conversation."
)
SUMMARY_HEADER = "Summary of the earlier work on this task (older turns were compacted):\n\n"
TODO_HEADER = "\n\nYour todo list, exactly as you last set it (todo_write):\n"


class CompactionError(Exception):
    """Compaction on request did not happen; the message says why (the history is
    unchanged)."""


class NothingToCompact(CompactionError):
    """Too little history: every message after the task would stay verbatim anyway."""


@dataclass
class CompactionSettings:
    context_limit: int  # tokens the engine can hold
    trigger: float = 0.8  # compact when the context passes this fraction of the limit
    keep_recent: float = 0.25  # fraction of the limit the kept recent turns may fill

    @property
    def threshold(self) -> int:
        return int(self.context_limit * self.trigger)


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def message_tokens(message: Message) -> int:
    """A rough count (4 characters a token) for callers without the tokenizer; the loop
    counts with agent/tokens.py."""
    calls = sum(estimate_tokens(c.name + c.arguments) for c in message.tool_calls)
    return (estimate_tokens(message.content) + estimate_tokens(message.thinking) + calls + 4
            + message.image_tokens)


def kept_tail(
    messages: list[Message], keep_tokens: int, count: Callable[[Message], int] | None = None
) -> int:
    """How many trailing messages to keep: within `keep_tokens` where possible, always the
    last assistant turn with its results, never starting on a tool result (which would
    lose its call), and never the task itself (messages[0])."""
    if len(messages) <= 1:
        return 0
    count = count or message_tokens
    start = len(messages)
    used = 0
    while start > 1 and used + count(messages[start - 1]) <= keep_tokens:
        start -= 1
        used += count(messages[start])
    last_assistant = max(
        (i for i, m in enumerate(messages) if m.role == "assistant" and i > 0), default=None
    )
    if last_assistant is not None:
        start = min(start, last_assistant)
    while start < len(messages) and messages[start].role == "tool":
        start += 1
    start = max(start, 1)
    return len(messages) - start


def on_request_keep_tokens(settings: CompactionSettings | None, history_tokens: int) -> int:
    """What a compaction the user asked for keeps verbatim: the recent turns the automatic
    one keeps, but at most a quarter of the history, so that asking always frees room
    (the last assistant turn with its results stays whatever its size)."""
    quarter = history_tokens // 4
    if settings is None:
        return quarter
    return min(int(settings.context_limit * settings.keep_recent), quarter)


def compacted(messages: list[Message], summary: str, kept: int, todo: str = "") -> list[Message]:
    """The history after compaction: the task, the summary (with the todo list exactly as
    the model last set it, when it keeps one), the kept recent turns."""
    task = messages[:1]
    tail = messages[len(messages) - kept :] if kept else []
    content = SUMMARY_HEADER + summary.strip() + (TODO_HEADER + todo if todo else "")
    return [*task, Message(role="user", content=content), *tail]
