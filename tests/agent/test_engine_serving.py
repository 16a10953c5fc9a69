"""What serves the local engine's MoE layers reaches every front end as an `engine_serving`
event: after the `session_start` once the engine is reached, again only when the answer
changes, and never for a backend that cannot say. The engine is the fake OpenAI-compatible
server registered as the running engine, its verdict written by the plugin's own counter."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import events as ev
from agent.paths import data_dir
from agent.render import render_human
from agent.session_driver import SessionDriver, SessionOptions
from tests.agent.backends.fake_engine import FELL_BACK, PASSED, register, write_serving
from tests.agent.backends.fake_openai import FakeOpenAIServer, Reply, chunk
from tests.agent.conftest import of_type, run_session


@pytest.fixture
def engine() -> Iterator[FakeOpenAIServer]:
    """The local engine of this test's data directory, answering every turn with one line."""
    with FakeOpenAIServer() as fake:
        fake.replies = [Reply([chunk(content="Done.", finish="stop")]) for _ in range(3)]
        register(data_dir(), fake, os.getpid())
        yield fake


def test_a_run_says_after_its_start_that_a_failed_self_check_switched_the_engine(
        repo: Path, engine: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    write_serving(data_dir(), FELL_BACK, monkeypatch)
    finish, printed = run_session(repo, None, "fix it", backend="local")  # --json's lines
    assert finish.status == "done"
    kinds = [e.type for e in printed]
    assert kinds[0] == "session_start" and kinds.index("engine_serving") < kinds.index("effort")
    [serving] = of_type(printed, ev.EngineServing)
    assert serving.backend == "local" and serving.fell_back
    assert serving.moe == [{"path": FELL_BACK.path, "label": "vLLM built-in",
                            "self_check": FELL_BACK.self_check}]
    human = io.StringIO()
    render_human(serving, human)
    assert human.getvalue() == (f"warning: local: MoE layers served by vLLM's built-in fused "
                                f"MoE (self-check {FELL_BACK.self_check})\n")


def test_said_again_only_when_the_answer_changes_and_emptied_by_a_silent_backend(
        repo: Path, engine: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    write_serving(data_dir(), PASSED, monkeypatch)
    driver = SessionDriver(SessionOptions(repo, backend="local", repo_map_tokens=0))
    seen: list[ev.EngineServing] = []
    driver.subscribe(lambda e: seen.append(e) if isinstance(e, ev.EngineServing) else None)

    async def turns() -> None:
        await driver.send("first")
        await driver.send("same engine")
        write_serving(data_dir(), FELL_BACK, monkeypatch)  # restarted, and now it fails
        await driver.send("restarted engine")
        driver.switch_backend(f"openai:{engine.base_url}")
        await driver.send("a server that cannot say")

    monkeypatch.setenv("TESSERA_OPENAI_API_KEY", "test-key")
    asyncio.run(turns())
    driver.close()
    assert [(e.backend, [m["label"] for m in e.moe], e.fell_back) for e in seen] == [
        ("local", ["tessera triton"], False),
        ("local", ["vLLM built-in"], True),
        (f"openai:{engine.base_url}", [], False),
    ]


def test_a_remote_server_never_says(repo: Path, engine: FakeOpenAIServer,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_OPENAI_API_KEY", "test-key")
    write_serving(data_dir(), FELL_BACK, monkeypatch)  # the same engine, reached as a server
    _, printed = run_session(repo, None, "fix it", backend=f"openai:{engine.base_url}")
    assert of_type(printed, ev.EngineServing) == []
