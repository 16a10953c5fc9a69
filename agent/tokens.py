"""Token counts with the model's tokenizer (tekken v15), images included.

The loop budgets its context with these counts (compaction, the effort policy's re-read
price) and the replay backend reports them as usage. Counting is incremental: each
message is counted once (messages only grow, and a count is kept per message until its
content changes), the system prompt and tool schemas once per run, so a step costs a few
dictionary lookups plus the new messages.

Per message, the count is the tokens of its text plus the special tokens the v15 chat
format wraps it in ([INST]…[/INST], [TOOL_RESULTS]…[/TOOL_RESULTS], [THINK]…[/THINK],
[TOOL_CALLS]name[ARGS]json, </s>) plus its images (tools/images.image_tokens). The sum
matches mistral-common's encoding of the same request (model/chat.py) to within a few
tokens per message: `to_conversation` builds that request, and a test compares them.

The tokenizer is the model directory's `tekken.json` when one is configured, else the
v15 tokenizer model/tokenizer.py builds from mistral-common's bundled tekken vocabulary
(written once to a cache file; loading takes about a second, once per process).
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.backend import ChatRequest, Message

if TYPE_CHECKING:
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    from model.chat import Conversation

VOCAB_SIZE = 131_072
# [INST] [/INST]; [TOOL_RESULTS] [/TOOL_RESULTS]; [THINK] [/THINK]; [TOOL_CALLS] [ARGS]; </s>
WRAP = {"user": 2, "tool": 2}
THINK_WRAP = 2
CALL_WRAP = 2
END_OF_TURN = 1
# <s>, [SYSTEM_PROMPT] [/SYSTEM_PROMPT], [AVAILABLE_TOOLS] [/AVAILABLE_TOOLS],
# [MODEL_SETTINGS] [/MODEL_SETTINGS]
PREFIX_SPECIALS = 7
_SETTINGS_TEXT = '{"reasoning_effort": "high"}'
_SPECIAL_RE = re.compile(r"\[/?(?:THINK|TOOL_CALLS|ARGS|CALL_ID)\]")


class TokenCounter:
    def __init__(self, tokenizer: MistralTokenizer):
        self._raw = tokenizer.instruct_tokenizer.tokenizer
        self._messages: dict[int, tuple[tuple[int, ...], int, Message]] = {}
        self._prefix: dict[tuple[str, str], int] = {}

    def text(self, text: str) -> int:
        return len(self._raw.encode(text, bos=False, eos=False)) if text else 0

    def raw_output(self, raw: str) -> int:
        """Tokens of a raw model turn: its special markers are one token each."""
        markers = len(_SPECIAL_RE.findall(raw))
        return self.text(_SPECIAL_RE.sub("", raw)) + markers + END_OF_TURN

    def message(self, message: Message) -> int:
        signature = (
            len(message.content), len(message.thinking), len(message.tool_calls),
            sum(len(c.arguments) for c in message.tool_calls), message.image_tokens,
        )
        cached = self._messages.get(id(message))
        if cached is not None and cached[0] == signature and cached[2] is message:
            return cached[1]
        count = self._count(message)
        # The message itself is kept in the entry so its id cannot be reused meanwhile.
        self._messages[id(message)] = (signature, count, message)
        return count

    def _count(self, message: Message) -> int:
        if message.role == "assistant":
            count = self.text(message.content) + END_OF_TURN
            if message.thinking:
                count += self.text(message.thinking) + THINK_WRAP
            for call in message.tool_calls:
                count += self.text(call.name) + self.text(call.arguments) + CALL_WRAP
            return count
        return self.text(message.content) + WRAP.get(message.role, 2) + message.image_tokens

    def prefix(self, system: str, tools: Sequence[dict[str, Any]]) -> int:
        """The system prompt, tool schemas and model settings before the first message."""
        schemas = json.dumps(list(tools), ensure_ascii=False)
        key = (system, schemas)
        if key not in self._prefix:
            self._prefix[key] = (self.text(system) + self.text(schemas)
                                 + self.text(_SETTINGS_TEXT) + PREFIX_SPECIALS)
        return self._prefix[key]

    def context(self, system: str, tools: Sequence[dict[str, Any]],
                messages: Sequence[Message]) -> int:
        return self.prefix(system, tools) + sum(self.message(m) for m in messages)

    def request(self, request: ChatRequest) -> int:
        return self.context(request.system, request.tools, request.messages)

    def forget(self, keep: Sequence[Message]) -> None:
        """Drop the counts of messages no longer in the history (after compaction)."""
        alive = {id(m) for m in keep}
        self._messages = {k: v for k, v in self._messages.items() if k in alive}


def to_conversation(request: ChatRequest) -> Conversation:
    """The request as model/chat.py's conversation: what the engine's prompt is built from
    (images become mistral-common image chunks there)."""
    from model.chat import Conversation, ToolCall, ToolSpec, Turn

    turns = [Turn("system", request.system)] if request.system else []
    for m in request.messages:
        if m.role == "assistant":
            calls = tuple(ToolCall(c.name, _arguments(c.arguments), c.id) for c in m.tool_calls)
            turns.append(Turn("assistant", m.content, thinking=m.thinking, tool_calls=calls))
        elif m.role == "tool":
            turns.append(Turn("tool", m.content, images=tuple(m.images),
                              tool_call_id=m.tool_call_id, name=m.name))
        else:
            turns.append(Turn("user", m.content, images=tuple(m.images)))
    tools = tuple(
        ToolSpec(f["name"], f.get("description", ""), f.get("parameters", {}))
        for f in (t.get("function", t) for t in request.tools)
    )
    return Conversation(tuple(turns), tools, request.effort)  # type: ignore[arg-type]


def _arguments(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {"_unparsed": raw}  # a malformed call still costs its characters
    return value if isinstance(value, dict) else {"_unparsed": raw}


def _built_tokenizer_dir() -> Path:
    """A v15 tekken.json with the vision section, built once and shared by processes."""
    import mistral_common

    from model.tokenizer import write_v15_tekken
    from tools.images import MAX_IMAGE_SIDE, PATCH_SIZE, SPATIAL_MERGE

    directory = Path(tempfile.gettempdir()) / f"tessera-tekken-v15-{mistral_common.__version__}"
    target = directory / "tekken.json"
    if not target.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        partial = directory / f".tekken-{os.getpid()}.json"
        write_v15_tekken(partial, VOCAB_SIZE, {
            "image_patch_size": PATCH_SIZE, "max_image_size": MAX_IMAGE_SIDE,
            "spatial_merge_size": SPATIAL_MERGE})
        os.replace(partial, target)
    return directory


@functools.cache
def load_model_tokenizer(model_dir: str | None = None) -> MistralTokenizer:
    from model.tokenizer import load_tokenizer

    if model_dir and (Path(model_dir) / "tekken.json").is_file():
        return load_tokenizer(model_dir)
    return load_tokenizer(_built_tokenizer_dir())


def default_counter(model_dir: str | None = None) -> TokenCounter:
    """A counter with the model's tokenizer (cached per process)."""
    return TokenCounter(load_model_tokenizer(model_dir))
