"""The Backend protocol: a request in, a stream of deltas out.

Implementations: the local engine and OpenAI-compatible servers (engine issue), and
`replay:FILE` (agent/replay.py), which feeds recorded raw model output through the same
stream parser as the engine path. The loop only ever sees this protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from model.vllm_plugin.counter import MoeServing

EFFORT_VALUES = ("none", "high")


@dataclass
class RequestToolCall:
    id: str
    name: str
    arguments: str  # JSON text, exactly as the model produced it


@dataclass
class Message:
    """One turn of the conversation, in the shape every chat format can be built from."""

    role: str  # "user", "assistant" or "tool"
    content: str = ""
    thinking: str = ""  # assistant only
    tool_calls: list[RequestToolCall] = field(default_factory=list)  # assistant only
    tool_call_id: str = ""  # tool only
    name: str = ""  # tool only
    # Stored images (PNG paths, tools/images.store_image) shown before the text: a user's
    # attachments, or what view_image/screenshot returned (tool messages).
    images: list[str] = field(default_factory=list)
    image_tokens: int = 0  # what those images cost the model (tools/images.image_tokens)


@dataclass
class ChatRequest:
    system: str
    messages: list[Message]
    tools: list[dict[str, Any]]
    effort: str = "high"
    max_tokens: int | None = None
    # Thinking tokens the engine may generate before it forces `[/THINK]` (vLLM's
    # `thinking_token_budget`); None: no budget. The prompt is the same either way.
    thinking_budget: int | None = None

    def __post_init__(self) -> None:
        if self.effort not in EFFORT_VALUES:
            raise ValueError(f"effort must be one of {EFFORT_VALUES}, got {self.effort!r}")
        if self.thinking_budget is not None and self.thinking_budget < 0:
            raise ValueError(f"thinking_budget must be >= 0, got {self.thinking_budget}")


# --- deltas --------------------------------------------------------------------------------


@dataclass
class TextDelta:
    text: str


@dataclass
class ThinkingDelta:
    text: str


@dataclass
class ToolCallDelta:
    """A piece of tool call `index`: the name arrives first, then argument fragments."""

    index: int
    name: str = ""
    arguments: str = ""


@dataclass
class MalformedDelta:
    """Output the parser could not read as the chat format (e.g. a call with no [ARGS])."""

    message: str
    raw: str = ""


@dataclass
class UsageDelta:
    prompt_tokens: int
    cached_prompt_tokens: int
    completion_tokens: int


@dataclass
class FinishDelta:
    reason: str  # "stop", "tool_calls", "length", "cancelled"
    # The complete raw model output of the turn, when the backend knows it (for replay).
    raw: str | None = None


Delta = TextDelta | ThinkingDelta | ToolCallDelta | MalformedDelta | UsageDelta | FinishDelta


class BackendError(Exception):
    """A backend could not produce a turn; the session ends with this message."""


class BackendUnavailable(BackendError):
    """The spec names a backend that does not exist (yet) or is misconfigured."""


@runtime_checkable
class Backend(Protocol):
    name: str

    def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        """Deltas of one assistant turn; the last is a FinishDelta."""
        ...

    async def cancel(self) -> None:
        """Stop the turn in progress; the stream then ends with reason "cancelled"."""
        ...


@runtime_checkable
class KnowsContextWindow(Protocol):
    """A backend that can say how many tokens its model serves (optional: a backend
    without it, such as a replay, has an unknown window)."""

    async def context_window(self) -> int | None:
        """The served context (prompt + output tokens), None when the server does not
        say; may connect (the local engine starts here when none runs). Never raises for
        an unknown window: the turn itself reports an unreachable server."""
        ...


@runtime_checkable
class TakesThinkingBudget(Protocol):
    """A backend that may honour `ChatRequest.thinking_budget` (optional: one without
    it never gets a budget, and the effort policy varies the settings instead)."""

    # None: not known yet (the first budgeted request tells); False: the server rejected
    # the parameter once, and the backend sends requests without it from then on.
    takes_thinking_budget: bool | None


def takes_thinking_budget(backend: Backend) -> bool:
    """Whether budgets may be sent to `backend` (an unknown answer counts as yes)."""
    return isinstance(backend, TakesThinkingBudget) and backend.takes_thinking_budget is not False


@runtime_checkable
class KnowsMoeServing(Protocol):
    """A backend that can say which code serves its model's MoE layers (optional: the
    local engine can, after its self-check before serving; a remote server cannot)."""

    async def moe_serving(self) -> list[MoeServing]:
        """One entry per distinct answer of the engine's processes; empty when unknown
        (no MoE layers run by our plugin, or the engine cannot be reached). May connect,
        as `context_window` does."""
        ...


async def moe_serving_of(backend: Backend) -> list[MoeServing]:
    if isinstance(backend, KnowsMoeServing):
        return await backend.moe_serving()
    return []


async def context_window_of(backend: Backend) -> int | None:
    if isinstance(backend, KnowsContextWindow):
        return await backend.context_window()
    return None
