"""The replay backend: chunked through the real stream parser, simulated prefix cache,
clear errors for bad files and for running out."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agent.backend import (
    BackendUnavailable,
    ChatRequest,
    FinishDelta,
    MalformedDelta,
    Message,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    UsageDelta,
)
from agent.backends import make_backend
from agent.replay import ReplayBackend, ReplayExhausted, ReplayTurn

RAW = '[THINK]look first[/THINK]Reading.[TOOL_CALLS]read_file[ARGS]{"path": "a [ARGS] b.py"}'


def collect(backend: ReplayBackend, request: ChatRequest) -> list:
    async def gather() -> list:
        return [d async for d in backend.stream(request)]

    return asyncio.run(gather())


def request(effort: str = "high", *history: Message) -> ChatRequest:
    return ChatRequest("system prompt " * 20, [Message("user", "task"), *history], [], effort)


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_any_chunking_gives_the_same_turn(chunk: int) -> None:
    deltas = collect(ReplayBackend([ReplayTurn(RAW, 1)], chunk=chunk), request())
    thinking = "".join(d.text for d in deltas if isinstance(d, ThinkingDelta))
    text = "".join(d.text for d in deltas if isinstance(d, TextDelta))
    calls = [d for d in deltas if isinstance(d, ToolCallDelta)]
    assert (thinking, text) == ("look first", "Reading.")
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("read_file", {"path": "a [ARGS] b.py"})
    ]
    assert deltas[-1] == FinishDelta("tool_calls", RAW)
    assert isinstance(deltas[-2], UsageDelta)


def test_malformed_output_becomes_a_malformed_delta() -> None:
    deltas = collect(ReplayBackend([ReplayTurn("[TOOL_CALLS]read_file", 1)]), request())
    [bad] = [d for d in deltas if isinstance(d, MalformedDelta)]
    assert "without [ARGS]" in bad.message
    assert deltas[-1].reason == "stop"


def test_cache_hits_grow_with_the_history_and_an_effort_switch_misses() -> None:
    backend = ReplayBackend([ReplayTurn("a", 1), ReplayTurn("b", 2), ReplayTurn("c", 3)])
    first = collect(backend, request("high"))[-2]
    assert first.cached_prompt_tokens == 0
    grown = request("high", Message("assistant", "a"), Message("user", "more"))
    second = collect(backend, grown)[-2]
    assert second.prompt_tokens > first.prompt_tokens
    assert second.cached_prompt_tokens >= first.prompt_tokens - 1
    switched = request("none", Message("assistant", "a"), Message("user", "more"))
    third = collect(backend, switched)[-2]
    assert third.prompt_tokens == second.prompt_tokens
    # Only the system prompt and tools precede the effort setting: the history is re-read.
    assert third.cached_prompt_tokens < len("system prompt " * 20) // 4 + 2


def test_running_out_and_bad_files_are_clear(tmp_path: Path) -> None:
    backend = ReplayBackend([ReplayTurn("done", 1)], "t.jsonl")
    collect(backend, request())
    with pytest.raises(ReplayExhausted, match=r"holds 1 turn\(s\)"):
        collect(backend, request())
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"raw": "ok"}\n\n{"text": "x"}\n')
    with pytest.raises(BackendUnavailable, match=r"bad\.jsonl:3: expected an object"):
        make_backend(f"replay:{bad}")
    bad.write_text("{oops\n")
    with pytest.raises(BackendUnavailable, match=r"bad\.jsonl:1: not JSON"):
        make_backend(f"replay:{bad}")
    with pytest.raises(BackendUnavailable, match="needs a file"):
        make_backend("replay:")
    with pytest.raises(BackendUnavailable, match="needs a URL"):
        make_backend("openai:localhost")
    with pytest.raises(BackendUnavailable, match="unknown backend"):
        make_backend("carrier-pigeon")
    good = tmp_path / "good.jsonl"
    good.write_text('{"raw": "one"}\n{"raw": "two"}\n')
    assert [t.raw for t in make_backend(f"replay:{good}").turns] == ["one", "two"]
