"""The OpenAI chat-completions wire format: our ChatRequest in, our deltas out.

Reasoning arrives as `reasoning` (vLLM ≥ 0.10) or `reasoning_content` (older vLLM, others),
or as `thinking` content parts (the Mistral API); text as `content`; tool calls as
`tool_calls` fragments keyed by index. The raw output of a turn is rebuilt in the model's own
format (`[THINK]…[/THINK]text[TOOL_CALLS]name[ARGS]{json}`) for session replay.
"""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.backend import (
    ChatRequest,
    Delta,
    Message,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    UsageDelta,
)


def image_url(image: str | Path | bytes) -> str:
    """A data URL for a file path or PNG/JPEG bytes; URLs pass through."""
    if isinstance(image, bytes):
        mime = "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"
        return f"data:{mime};base64,{base64.b64encode(image).decode()}"
    text = str(image)
    if text.startswith(("data:", "http://", "https://")):
        return text
    path = Path(text)
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _content(message: Message) -> str | list[dict[str, Any]]:
    """Text, or image parts then a text part (the order model/chat.py encodes)."""
    images = list(message.images)
    if not images:
        return message.content
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": image_url(i)}}
                                   for i in images]
    if message.content:
        parts.append({"type": "text", "text": message.content})
    return parts


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        # Images a tool returned (view_image, screenshot) ride on its result (v13+ format).
        return {"role": "tool", "tool_call_id": message.tool_call_id, "name": message.name,
                "content": _content(message)}
    if message.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": message.content or None}
        if message.thinking:
            out["reasoning"] = message.thinking
        if message.tool_calls:
            out["tool_calls"] = [
                {"id": call.id, "type": "function",
                 "function": {"name": call.name, "arguments": call.arguments}}
                for call in message.tool_calls
            ]
        return out
    return {"role": message.role, "content": _content(message)}


def tool_schema(tool: dict[str, Any], strict: bool) -> dict[str, Any]:
    """OpenAI tool format; `strict` asks the server to force arguments to the schema."""
    function = dict(tool.get("function", tool))
    if strict:
        function["strict"] = True
    return {"type": "function", "function": function}


def request_body(request: ChatRequest, model: str, *, strict_tools: bool,
                 extra: dict[str, Any] | None = None,
                 thinking_budget: bool = True) -> dict[str, Any]:
    """The request's JSON body; `thinking_budget=False` leaves the budget out (a server
    that rejected it)."""
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [_message(m) for m in request.messages]
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "reasoning_effort": request.effort,
    }
    if request.tools:
        body["tools"] = [tool_schema(t, strict_tools) for t in request.tools]
        body["tool_choice"] = "auto"
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if thinking_budget and request.thinking_budget is not None:
        body["thinking_token_budget"] = request.thinking_budget  # vLLM's sampling parameter
    body.update(extra or {})
    return body


@dataclass
class TurnAssembler:
    """Turns streamed chunks into deltas and remembers the turn for its raw form."""

    thinking: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    calls: dict[int, list[str]] = field(default_factory=dict)  # index → [name, arguments]
    finish_reason: str | None = None
    usage: UsageDelta | None = None

    def feed(self, chunk: dict[str, Any]) -> list[Delta]:
        deltas: list[Delta] = []
        if usage := chunk.get("usage"):
            details = usage.get("prompt_tokens_details") or {}
            self.usage = UsageDelta(int(usage.get("prompt_tokens") or 0),
                                    int(details.get("cached_tokens") or 0),
                                    int(usage.get("completion_tokens") or 0))
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning") or delta.get("reasoning_content")
            if reasoning:
                deltas.append(self._thinking(reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                deltas.append(self._text(content))
            elif isinstance(content, list):  # Mistral API: typed parts
                deltas += self._parts(content)
            for call in delta.get("tool_calls") or ():
                deltas.append(self._call(call))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return deltas

    def started(self) -> bool:
        """Whether any output has been streamed (a retry would then repeat it)."""
        return bool(self.thinking or self.text or self.calls)

    def _thinking(self, text: str) -> ThinkingDelta:
        self.thinking.append(text)
        return ThinkingDelta(text)

    def _text(self, text: str) -> TextDelta:
        self.text.append(text)
        return TextDelta(text)

    def _parts(self, parts: list[Any]) -> list[Delta]:
        out: list[Delta] = []
        for part in parts:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "thinking":
                inner = part.get("thinking")
                pieces = inner if isinstance(inner, list) else [{"text": inner or ""}]
                for piece in pieces:
                    if isinstance(piece, dict) and piece.get("text"):
                        out.append(self._thinking(piece["text"]))
            elif part.get("type") == "text" and part.get("text"):
                out.append(self._text(part["text"]))
        return out

    def _call(self, call: dict[str, Any]) -> ToolCallDelta:
        index = int(call.get("index") or 0)
        function = call.get("function") or {}
        # A grammar lets whitespace precede the name; no tool name contains any.
        name = (function.get("name") or "").strip()
        arguments = function.get("arguments") or ""
        slot = self.calls.setdefault(index, ["", ""])
        slot[0] += name
        slot[1] += arguments
        return ToolCallDelta(index, name, arguments)

    def finish(self) -> str:
        reason = self.finish_reason or "stop"
        if self.calls and reason == "stop":
            reason = "tool_calls"
        return {"stop": "stop", "tool_calls": "tool_calls", "length": "length",
                "content_filter": "stop"}.get(reason, reason)

    def raw(self) -> str:
        out = f"[THINK]{''.join(self.thinking)}[/THINK]" if self.thinking else ""
        out += "".join(self.text)
        for index in sorted(self.calls):
            name, arguments = self.calls[index]
            out += f"[TOOL_CALLS]{name}[ARGS]{arguments}"
        return out
