"""The conversation, rebuilt from events: the loop and `--resume` share one code path.

History is append-only, so each request is the previous one plus new turns and the
engine's prefix cache keeps hitting. Applying a session's stored events in order yields
exactly the messages the loop had, which is how a resumed session continues.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from agent import events as ev
from agent.backend import Message, RequestToolCall
from agent.compaction import compacted
from agent.todo import render_todo


@dataclass
class History:
    system: str = ""
    messages: list[Message] = field(default_factory=list)
    # The latest todo list (a `todo` event): carried verbatim into a compacted history.
    todo: list[dict[str, str]] | None = None
    _open_step: int | None = None  # the step whose assistant message is open
    _open_index: int = -1

    def apply(self, event: ev.Event) -> None:
        match event:
            case ev.SessionStart(system_prompt=system, task=task, images=images):
                self.system = system
                self.messages.append(_with_images(Message(role="user", content=task), images))
            case ev.UserMessage(text=text, images=images):
                self.messages.append(_with_images(Message(role="user", content=text), images))
                self._open_step = None
            case ev.Thinking(step=step, text=text):
                self._assistant(step).thinking += text
            case ev.Text(step=step, text=text):
                self._assistant(step).content += text
            case ev.ToolCall(step=step, id=call_id, name=name, arguments=arguments):
                raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
                self._assistant(step).tool_calls.append(RequestToolCall(call_id, name, raw))
            case ev.RawOutput(step=step):
                self._assistant(step)  # an empty answer is still a turn
            case ev.Todo(items=items):
                self.todo = [dict(item) for item in items]
            case ev.Compaction(summary=summary, kept=kept):
                kept_todo = render_todo(self.todo) if self.todo else ""
                self.messages = compacted(self.messages, summary, kept, kept_todo)
                self._open_step = None
            case ev.ToolResult(call_id=call_id, name=name, output=output, images=images):
                result = Message("tool", output, tool_call_id=call_id, name=name)
                self._add_result(_with_images(result, images))
            case _:
                pass

    def _assistant(self, step: int) -> Message:
        if self._open_step != step:
            self.messages.append(Message(role="assistant"))
            self._open_step = step
            self._open_index = len(self.messages) - 1
        return self.messages[self._open_index]

    def _add_result(self, result: Message) -> None:
        """Results are stored as they complete (parallel reads finish in any order) but the
        model sees them in the order it made the calls."""
        if self._open_step is None:
            self.messages.append(result)
            return
        order = {c.id: i for i, c in enumerate(self.messages[self._open_index].tool_calls)}
        rank = order.get(result.tool_call_id, len(order))
        position = len(self.messages)
        while (
            position - 1 > self._open_index
            and self.messages[position - 1].role == "tool"
            and order.get(self.messages[position - 1].tool_call_id, len(order)) > rank
        ):
            position -= 1
        self.messages.insert(position, result)

    def pending_calls(self) -> list[RequestToolCall]:
        """Calls of the last assistant turn that have no result yet (after a crash)."""
        answered = {m.tool_call_id for m in self.messages if m.role == "tool"}
        for message in reversed(self.messages):
            if message.role == "assistant":
                return [c for c in message.tool_calls if c.id not in answered]
        return []


def _with_images(message: Message, images: list[dict]) -> Message:
    """A message carrying stored images (their PNG paths, and what they cost in tokens)."""
    message.images = [str(image["path"]) for image in images]
    message.image_tokens = sum(int(image.get("tokens", 0)) for image in images)
    return message


def rebuild(events: list[ev.Event]) -> History:
    history = History()
    for event in events:
        history.apply(event)
    return history
