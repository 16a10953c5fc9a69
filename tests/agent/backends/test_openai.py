"""The openai:URL backend against a fake OpenAI-compatible server speaking the wire protocol."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.backend import (
    Backend,
    ChatRequest,
    Delta,
    FinishDelta,
    Message,
    RequestToolCall,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    UsageDelta,
)
from agent.backends import make_backend
from agent.backends.errors import (
    BackendTimeout,
    BadCredentials,
    ContextTooLong,
    EngineDied,
    RequestRejected,
)
from agent.backends.openai import OpenAIBackend
from tests.agent.backends.fake_openai import FakeOpenAIServer, Reply, chunk

TOOLS = [{"type": "function", "function": {
    "name": "read_file", "description": "Read a file",
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                   "required": ["path"]}}}]
USAGE = {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129,
         "prompt_tokens_details": {"cached_tokens": 96}}


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def backend_for(server: FakeOpenAIServer, **kwargs: object) -> OpenAIBackend:
    options: dict[str, object] = {"backoff": 0.01, "retries": 2}
    options.update(kwargs)
    return OpenAIBackend(server.base_url, "test-key", **options)  # type: ignore[arg-type]


def request(effort: str = "high", **kwargs: object) -> ChatRequest:
    return ChatRequest(system="You are a coder.", messages=[Message("user", "fix the bug")],
                       tools=TOOLS, effort=effort, **kwargs)  # type: ignore[arg-type]


def collect(backend: OpenAIBackend, req: ChatRequest) -> list[Delta]:
    async def run() -> list[Delta]:
        return [d async for d in backend.stream(req)]

    return asyncio.run(run())


def test_streams_thinking_text_tool_calls_and_usage(server: FakeOpenAIServer) -> None:
    server.replies = [Reply([
        chunk(reasoning="Look at "), chunk(reasoning="calc.py."),
        chunk(content="Reading it."),
        chunk(tool_calls=[{"index": 0, "id": "c1", "type": "function",
                           "function": {"name": "read_file", "arguments": ""}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"path": '}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": '"calc.py"}'}}]),
        chunk(finish="tool_calls"),
        chunk(usage=USAGE),
    ])]
    deltas = collect(backend_for(server), request())
    assert [d for d in deltas if isinstance(d, ThinkingDelta)] == [
        ThinkingDelta("Look at "), ThinkingDelta("calc.py.")]
    assert [d for d in deltas if isinstance(d, TextDelta)] == [TextDelta("Reading it.")]
    calls = [d for d in deltas if isinstance(d, ToolCallDelta)]
    assert calls[0] == ToolCallDelta(0, "read_file", "")
    assert "".join(c.arguments for c in calls) == '{"path": "calc.py"}'
    assert deltas[-2] == UsageDelta(120, 96, 9)
    finish = deltas[-1]
    assert isinstance(finish, FinishDelta) and finish.reason == "tool_calls"
    assert finish.raw == ('[THINK]Look at calc.py.[/THINK]Reading it.'
                          '[TOOL_CALLS]read_file[ARGS]{"path": "calc.py"}')


def test_tool_names_lose_the_whitespace_a_grammar_allowed(server: FakeOpenAIServer) -> None:
    server.replies = [Reply([
        chunk(tool_calls=[{"index": 0, "id": "c1", "type": "function",
                           "function": {"name": "   read_file", "arguments": "{}"}}]),
        chunk(finish="tool_calls")])]
    deltas = collect(backend_for(server), request())
    assert deltas[0] == ToolCallDelta(0, "read_file", "{}")
    assert deltas[-1] == FinishDelta("tool_calls", "[TOOL_CALLS]read_file[ARGS]{}")


def test_request_carries_effort_tools_history_and_model(server: FakeOpenAIServer) -> None:
    server.replies = [Reply([chunk(content="ok", finish="stop")])]
    history = [
        Message("user", "fix it"),
        Message("assistant", "", thinking="hmm",
                tool_calls=[RequestToolCall("c1", "read_file", '{"path": "a.py"}')]),
        Message("tool", "print(1)", tool_call_id="c1", name="read_file"),
    ]
    req = ChatRequest(system="sys", messages=history, tools=TOOLS, effort="none", max_tokens=50)
    deltas = collect(backend_for(server, strict_tools=True), req)
    assert deltas[-1] == FinishDelta("stop", "ok")
    body = server.chat_requests()[0].body
    assert body is not None
    assert body["model"] == "fake-model"  # discovered from GET /v1/models
    assert body["reasoning_effort"] == "none"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 50
    assert body["tools"][0]["function"]["strict"] is True
    assert body["tools"][0]["function"]["parameters"] == TOOLS[0]["function"]["parameters"]
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool"]
    assistant = body["messages"][2]
    assert assistant["reasoning"] == "hmm"
    assert assistant["tool_calls"][0]["function"] == {"name": "read_file",
                                                      "arguments": '{"path": "a.py"}'}
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "c1", "name": "read_file",
                                   "content": "print(1)"}


def test_a_thinking_budget_travels_as_vllms_parameter(server: FakeOpenAIServer) -> None:
    server.replies = [Reply([chunk(content="ok", finish="stop")])]
    backend = backend_for(server)
    assert backend.takes_thinking_budget is None  # not known before a budgeted request
    collect(backend, request())
    assert "thinking_token_budget" not in (server.chat_requests()[0].body or {})
    collect(backend, request(thinking_budget=0))
    assert (server.chat_requests()[1].body or {})["thinking_token_budget"] == 0
    assert backend.takes_thinking_budget is True


# What vLLM 0.32 answers when it was started without a reasoning parser.
VLLM_NO_REASONING = {"error": {
    "message": "thinking_token_budget is set but reasoning_config is not configured. Please "
               "set --reasoning-parser and/or --reasoning-config to use thinking_token_budget.",
    "type": "BadRequestError", "param": None, "code": 400}}


def test_a_server_rejecting_the_budget_is_asked_again_without_it_once(
        server: FakeOpenAIServer) -> None:
    server.replies = [Reply(status=400, error_body=VLLM_NO_REASONING),
                      Reply([chunk(content="ok", finish="stop")])]
    backend = backend_for(server, retries=0)
    deltas = collect(backend, request(thinking_budget=512))
    assert deltas[-1] == FinishDelta("stop", "ok")  # the turn itself still succeeds
    first, second = (r.body or {} for r in server.chat_requests())
    assert first["thinking_token_budget"] == 512 and "thinking_token_budget" not in second
    assert backend.takes_thinking_budget is False
    collect(backend, request(thinking_budget=512))  # remembered: no second rejection
    assert len(server.chat_requests()) == 3
    assert "thinking_token_budget" not in (server.chat_requests()[2].body or {})


def test_other_bad_requests_are_not_taken_for_a_budget_rejection(
        server: FakeOpenAIServer) -> None:
    server.replies = [Reply(status=400, error_body={"error": {"message": "bad tools"}})]
    backend = backend_for(server, retries=0)
    with pytest.raises(RequestRejected, match="bad tools"):
        collect(backend, request(thinking_budget=512))
    assert backend.takes_thinking_budget is None and len(server.chat_requests()) == 1


def test_images_travel_as_data_urls(server: FakeOpenAIServer, tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "shot.png"
    Image.new("RGB", (30, 20), (255, 0, 0)).save(path)
    history = [
        Message("user", "what is this?", images=[str(path)]),
        Message("assistant", "", tool_calls=[RequestToolCall("c1", "view_image", "{}")]),
        Message("tool", "a screenshot", tool_call_id="c1", name="view_image",
                images=[str(path)]),
    ]
    server.replies = [Reply([chunk(content="red", finish="stop")])]
    collect(backend_for(server), ChatRequest("", history, []))
    body = server.chat_requests()[0].body
    assert body is not None
    for message, text in ((body["messages"][0], "what is this?"),
                          (body["messages"][2], "a screenshot")):
        parts = message["content"]
        url = parts[0]["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.split(",", 1)[1]) == path.read_bytes()
        assert parts[1] == {"type": "text", "text": text}
    assert body["messages"][2]["tool_call_id"] == "c1"


def test_mistral_api_thinking_parts(server: FakeOpenAIServer) -> None:
    parts = [{"type": "thinking", "thinking": [{"type": "text", "text": "plan"}]},
             {"type": "text", "text": "done"}]
    server.replies = [Reply([chunk(content=None, finish=None) | {
        "choices": [{"index": 0, "delta": {"content": parts}, "finish_reason": "stop"}]}])]
    deltas = collect(backend_for(server), request())
    assert deltas[:2] == [ThinkingDelta("plan"), TextDelta("done")]


def test_bad_credentials_are_named(server: FakeOpenAIServer) -> None:
    backend = OpenAIBackend(server.base_url, "wrong-key", "fake-model", retries=0)
    with pytest.raises(BadCredentials, match="refused"):
        collect(backend, request())
    no_key = OpenAIBackend(server.base_url, None, "fake-model", retries=0)
    with pytest.raises(BadCredentials, match="no API key was sent"):
        collect(no_key, request())


def test_context_too_long_is_its_own_error(server: FakeOpenAIServer) -> None:
    server.replies = [Reply(status=400, error_body={"error": {
        "message": "This model's maximum context length is 256 tokens. However, you "
                   "requested 300 tokens.", "type": "BadRequestError", "code": 400}})]
    with pytest.raises(ContextTooLong, match="maximum context length is 256"):
        collect(backend_for(server), request())
    assert len(server.chat_requests()) == 1  # not retried


def test_context_window_is_what_the_server_lists(server: FakeOpenAIServer) -> None:
    from agent.backend import context_window_of

    assert asyncio.run(backend_for(server).context_window()) is None  # the server is silent
    server.max_model_len = 256
    backend = backend_for(server)
    assert asyncio.run(context_window_of(backend)) == 256
    assert asyncio.run(backend_for(server, model="another-model").context_window()) is None
    assert asyncio.run(OpenAIBackend(server.base_url, "wrong-key").context_window()) is None
    assert server.chat_requests() == []


def test_overload_is_retried_with_backoff(server: FakeOpenAIServer) -> None:
    server.replies = [Reply(status=503, error_body={"error": {"message": "busy"}}),
                      Reply(status=429, error_body={"error": {"message": "slow down"}}),
                      Reply([chunk(content="fine", finish="stop")])]
    deltas = collect(backend_for(server), request())
    assert deltas[0] == TextDelta("fine")
    assert len(server.chat_requests()) == 3


def test_gives_up_after_the_retries(server: FakeOpenAIServer) -> None:
    server.replies = [Reply(status=503, error_body={"error": {"message": "busy"}})]
    with pytest.raises(RequestRejected, match=r"busy.*gave up after 3 attempts"):
        collect(backend_for(server), request())


def test_unreachable_server_is_a_clear_error() -> None:
    from model.engine.command import free_port

    backend = OpenAIBackend(f"http://127.0.0.1:{free_port()}/v1", "k", "m", retries=1,
                            backoff=0.01)
    with pytest.raises(EngineDied, match="cannot reach"):
        collect(backend, request())


def test_stream_cut_mid_turn_is_reported_not_retried(server: FakeOpenAIServer) -> None:
    server.replies = [Reply([chunk(content="par"), chunk(content="tial"),
                             chunk(content="never")], cut_after=2)]
    seen: list[Delta] = []

    async def run() -> None:
        async for delta in backend_for(server).stream(request()):
            seen.append(delta)

    with pytest.raises(EngineDied, match="closed the stream mid-turn"):
        asyncio.run(run())
    assert seen == [TextDelta("par"), TextDelta("tial")]
    assert len(server.chat_requests()) == 1


def test_stalled_stream_times_out(server: FakeOpenAIServer) -> None:
    server.replies = [Reply([chunk(content="a"), chunk(content="b")], stall_after=1)]
    started = time.monotonic()
    with pytest.raises(BackendTimeout, match="sent nothing for 1 s"):
        collect(backend_for(server, idle_timeout=1.0), request())
    assert time.monotonic() - started < 10


def test_cancel_ends_the_turn_as_cancelled(server: FakeOpenAIServer) -> None:
    server.replies = [Reply([chunk(content=f"t{i} ") for i in range(200)], chunk_delay=0.05)]
    backend = backend_for(server)

    async def run() -> list[Delta]:
        seen: list[Delta] = []
        async for delta in backend.stream(request()):
            seen.append(delta)
            if len(seen) == 3:
                await backend.cancel()
        return seen

    seen = asyncio.run(run())
    finish = seen[-1]
    assert isinstance(finish, FinishDelta) and finish.reason == "cancelled"
    assert finish.raw is not None and finish.raw.startswith("t0 t1 t2 ")
    assert len(seen) < 50


def test_make_backend_builds_the_openai_backend(monkeypatch: pytest.MonkeyPatch,
                                                server: FakeOpenAIServer) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "test-key")
    monkeypatch.delenv("TESSERA_OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("TESSERA_OPENAI_MODEL", "fake-model")
    backend = make_backend(f"openai:{server.base_url}")
    assert isinstance(backend, Backend) and isinstance(backend, OpenAIBackend)
    server.replies = [Reply([chunk(content="hi", finish="stop")])]
    assert collect(backend, request())[0] == TextDelta("hi")
    assert server.chat_requests()[0].headers["authorization"] == "Bearer test-key"
    assert json.loads(json.dumps(server.chat_requests()[0].body))["model"] == "fake-model"
