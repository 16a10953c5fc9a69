"""A conversation → mistral-common request → v15 token ids. The only place prompts are built.

Layout (tokenizer v15; mistral-common does the encoding, nothing here writes a special token):

    <s>[SYSTEM_PROMPT]…[/SYSTEM_PROMPT][AVAILABLE_TOOLS][…][/AVAILABLE_TOOLS]
    [MODEL_SETTINGS]{"reasoning_effort": "high"}[/MODEL_SETTINGS][INST]user[/INST]
    [THINK]…[/THINK]text[TOOL_CALLS]name[ARGS]{json}</s>[TOOL_RESULTS]…[/TOOL_RESULTS][INST]…

Tools and model settings sit before the first user message (v13+), so changing the reasoning
effort changes tokens near the start of the prompt and defeats the prefix cache for the whole
history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
    from PIL.Image import Image

Role = Literal["system", "user", "assistant", "tool"]
Effort = Literal["none", "high"]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = ""  # ours, for pairing results; v13+ prompts do not encode it


@dataclass(frozen=True)
class Turn:
    role: Role
    text: str = ""
    images: tuple[Image | Path | str, ...] = ()  # user turns, and tool turns (v13+)
    thinking: str = ""  # assistant turns only
    tool_calls: tuple[ToolCall, ...] = ()  # assistant turns only
    tool_call_id: str = ""  # tool turns: which call this answers
    name: str = ""  # tool turns: the tool's name


@dataclass(frozen=True)
class Conversation:
    turns: tuple[Turn, ...]
    tools: tuple[ToolSpec, ...] = ()
    reasoning_effort: Effort | None = None  # None: the tokenizer's default ("none")


@dataclass(frozen=True)
class Encoded:
    tokens: list[int]
    text: str  # the tokens rendered with their special tokens, for logs and tests
    images: list[Any] = field(default_factory=list)  # preprocessed [C, H, W] arrays, in order


class ChatError(ValueError):
    pass


def to_request(conversation: Conversation) -> ChatCompletionRequest:
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.protocol.instruct.tool_calls import Function, Tool

    call_ids = _call_ids(conversation)
    messages = [_message(turn, call_ids.get(i, [])) for i, turn in enumerate(conversation.turns)]
    tools = [Tool(function=Function(name=t.name, description=t.description,
                                    parameters=t.parameters)) for t in conversation.tools]
    return ChatCompletionRequest(messages=messages, tools=tools or None,
                                 reasoning_effort=conversation.reasoning_effort)


def encode(conversation: Conversation, tokenizer: MistralTokenizer) -> Encoded:
    """Token ids for the model to continue (the conversation must end with a user or tool turn)."""
    from mistral_common.exceptions import MistralCommonException

    try:
        tokenized = tokenizer.encode_chat_completion(to_request(conversation))
    except (MistralCommonException, AssertionError) as exc:
        raise ChatError(f"mistral-common refused the conversation: {exc}") from exc
    from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

    tokens = list(tokenized.tokens)
    text = tokenizer.decode(tokens, special_token_policy=SpecialTokenPolicy.KEEP)
    return Encoded(tokens, text, list(tokenized.images))


def _call_ids(conversation: Conversation) -> dict[int, list[str]]:
    """Call ids per turn. mistral-common validates 9-alphanumeric ids and pairs each tool result
    with a call; v13+ prompts do not encode them. Calls without an id are numbered, and tool
    turns without one answer the pending calls in order."""
    ids: dict[int, list[str]] = {}
    pending: list[str] = []
    counter = 0
    for index, turn in enumerate(conversation.turns):
        if turn.role == "assistant" and turn.tool_calls:
            ids[index] = []
            for call in turn.tool_calls:
                ids[index].append(_safe_id(call.id) if call.id else f"{counter:09d}")
                counter += 1
            pending = list(ids[index])
        elif turn.role == "tool":
            chosen = _safe_id(turn.tool_call_id) if turn.tool_call_id else (
                pending[0] if pending else f"{counter:09d}")
            if chosen in pending:
                pending.remove(chosen)
            ids[index] = [chosen]
    return ids


def _message(turn: Turn, call_ids: list[str]) -> Any:
    from mistral_common.protocol.instruct.messages import (
        SystemMessage,
        ToolMessage,
        UserMessage,
    )

    if turn.role == "system":
        return SystemMessage(content=turn.text)
    if turn.role == "user":
        if not turn.images:
            return UserMessage(content=turn.text)
        return UserMessage(content=[*(_image_chunk(i) for i in turn.images), *_text(turn.text)])
    if turn.role == "assistant":
        return _assistant(turn, call_ids)
    if turn.role == "tool":
        content: Any = turn.text
        if turn.images:  # what view_image/screenshot showed: the model sees it with the result
            content = [*(_image_chunk(i) for i in turn.images), *_text(turn.text)]
        return ToolMessage(content=content, tool_call_id=call_ids[0], name=turn.name or None)
    raise ChatError(f"unknown role {turn.role!r}")


def _assistant(turn: Turn, call_ids: list[str]) -> Any:
    from mistral_common.protocol.instruct.chunk import TextChunk, ThinkChunk
    from mistral_common.protocol.instruct.messages import AssistantMessage
    from mistral_common.protocol.instruct.tool_calls import FunctionCall
    from mistral_common.protocol.instruct.tool_calls import ToolCall as MistralToolCall

    chunks: list[Any] = []
    if turn.thinking:
        chunks.append(ThinkChunk(thinking=turn.thinking))
    if turn.text:
        chunks.append(TextChunk(text=turn.text))
    calls = [
        MistralToolCall(id=call_id, function=FunctionCall(
            name=call.name, arguments=json.dumps(call.arguments, ensure_ascii=False)))
        for call, call_id in zip(turn.tool_calls, call_ids, strict=True)
    ]
    content: Any = chunks if turn.thinking else (turn.text or None)
    return AssistantMessage(content=content, tool_calls=calls or None)


def _safe_id(call_id: str) -> str:
    """Any caller id → 9 alphanumerics, stable, as mistral-common validates."""
    cleaned = "".join(ch for ch in call_id if ch.isalnum())
    return (cleaned + "0" * 9)[:9] if len(cleaned) <= 9 else cleaned[-9:]


def _text(text: str) -> list[Any]:
    from mistral_common.protocol.instruct.chunk import TextChunk

    return [TextChunk(text=text)] if text else []


def _image_chunk(image: Image | Path | str) -> Any:
    from mistral_common.protocol.instruct.chunk import ImageChunk
    from PIL import Image as PILImage

    if isinstance(image, (str, Path)):
        with PILImage.open(image) as opened:
            image = opened.convert("RGB")
    return ImageChunk(image=image)
