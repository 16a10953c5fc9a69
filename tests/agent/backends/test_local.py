"""The local backend finds the engine through its data directory, sends strict tools with the
engine's key, and tells a dead engine from a dropped stream. The engine here is the fake
OpenAI-compatible server registered as the running engine; the real one is in
test_engine_live.py."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.backend import BackendError, ChatRequest, Delta, FinishDelta, Message
from agent.backends import make_backend
from agent.backends.errors import EngineDied
from agent.backends.local import LocalBackend
from model.engine import EnginePaths
from tests.agent.backends.fake_engine import FELL_BACK, PASSED, register, write_serving
from tests.agent.backends.fake_openai import FakeOpenAIServer, Reply, chunk

TOOLS = [{"type": "function", "function": {"name": "read_file", "description": "d",
                                           "parameters": {"type": "object"}}}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def collect(backend: LocalBackend, request: ChatRequest) -> list[Delta]:
    async def run() -> list[Delta]:
        return [d async for d in backend.stream(request)]

    return asyncio.run(run())


def test_streams_from_the_registered_engine_with_strict_tools(tmp_path: Path,
                                                             server: FakeOpenAIServer) -> None:
    register(tmp_path, server, os.getpid())
    server.replies = [Reply([chunk(content="hi", finish="stop")])]
    deltas = collect(LocalBackend(tmp_path, None), ChatRequest("s", [Message("user", "u")],
                                                               TOOLS))
    assert deltas[-1] == FinishDelta("stop", "hi")
    sent = server.chat_requests()[0]
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.body is not None and sent.body["model"] == "tessera"
    assert sent.body["tools"][0]["function"]["strict"] is True


def test_a_dead_engine_is_named_when_the_stream_breaks(tmp_path: Path,
                                                       server: FakeOpenAIServer) -> None:
    engine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    register(tmp_path, server, engine.pid)
    EnginePaths.under(tmp_path).log.write_text("INFO loading\nERROR worker crashed\n")
    server.replies = [Reply([chunk(content="a"), chunk(content="b"), chunk(content="c")],
                            cut_after=2)]
    backend = LocalBackend(tmp_path, None)
    seen: list[Delta] = []

    async def run() -> None:
        async for delta in backend.stream(ChatRequest("", [Message("user", "u")], [])):
            seen.append(delta)
            if len(seen) == 1:
                engine.kill()
                engine.wait()

    with pytest.raises(EngineDied, match=rf"local engine \(pid {engine.pid}\) died") as caught:
        asyncio.run(run())
    assert "ERROR worker crashed" in str(caught.value)


def test_no_engine_and_no_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="no engine is running and no model is configured"):
        collect(LocalBackend(tmp_path, None), ChatRequest("", [Message("user", "u")], []))


def test_make_backend_local_reads_the_configured_model(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setenv("TESSERA_MODEL_DIR", str(tmp_path / "ckpt"))
    backend = make_backend("local")
    assert isinstance(backend, LocalBackend)
    assert backend.model_dir == tmp_path / "ckpt"
    assert backend.data_dir == Path(os.environ["TESSERA_HOME"])


def test_says_what_serves_the_engines_moe_layers_after_its_self_check(
        tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    register(tmp_path, server, os.getpid())
    backend = LocalBackend(tmp_path, None)
    assert asyncio.run(backend.moe_serving()) == []  # no process of it ran our plugin
    write_serving(tmp_path, FELL_BACK, monkeypatch)
    assert asyncio.run(backend.moe_serving()) == [FELL_BACK]
    write_serving(tmp_path, PASSED, monkeypatch)  # the engine restarted, and passed
    [serving] = asyncio.run(backend.moe_serving())
    assert serving == PASSED and not serving.fell_back


def test_an_unreachable_engine_says_nothing_about_its_moe_layers(tmp_path: Path) -> None:
    assert asyncio.run(LocalBackend(tmp_path, None).moe_serving()) == []
