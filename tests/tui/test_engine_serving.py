"""The footer says what serves the local engine's MoE layers: quietly when our kernels
passed the engine's self-check, loudly (and still whole at 80 columns) when a failed check
switched the engine to a fallback, whose full reason the transcript and `/model` give. It
learns this from the session's `engine_serving` event. The engine is the fake
OpenAI-compatible server registered as the running engine, its verdict written by the
plugin's own counter."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.paths import data_dir
from model.vllm_plugin.counter import MoeServing
from tests.agent.backends.fake_engine import FELL_BACK, PASSED, register, write_serving
from tests.agent.backends.fake_openai import FakeOpenAIServer, Reply, chunk
from tests.tui.conftest import isolated_sandbox
from tests.tui.pilot import chat, transcript_text, type_and_send, wait_idle
from tui.app import TesseraApp
from tui.session import ChatOptions
from tui.widgets.status import Stats

MODEL_DIR = "/models/Mistral-Small-4-119B-2603"  # a real name's width in the footer


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("TESSERA_MODEL_DIR", MODEL_DIR)
    with FakeOpenAIServer(models=("tessera",)) as fake:  # the engine's served name
        fake.max_model_len = 131_072
        fake.replies = [Reply([chunk(content="Done.", finish="stop")])]
        register(data_dir(), fake, os.getpid())
        yield fake


def local_chat(repo: Path) -> TesseraApp:
    return TesseraApp(ChatOptions(repo=repo, backend="local", repo_map_tokens=0),
                      sandbox_probe=isolated_sandbox, stats=Stats(clock=lambda: 0.0))


async def send_one(pilot, app: TesseraApp) -> None:
    await type_and_send(pilot, "fix the bug")
    await wait_idle(pilot, app)


def footer_and_transcript(repo: Path, width: int, command: str = "") -> tuple[str, str]:
    """The footer's visible line at `width` columns after one message (and `command`)."""
    async def scenario() -> tuple[str, str]:
        app = local_chat(repo)
        async with app.run_test(size=(width, 30)) as pilot:
            await send_one(pilot, app)
            if command:
                await type_and_send(pilot, command)
            bar = chat(app).status_bar
            bar.refresh_stats()
            await pilot.pause()
            return bar.render_line(0).text, transcript_text(app)

    return asyncio.run(scenario())


def test_a_failed_self_check_is_loud_in_the_footer_and_its_reason_in_the_transcript(
        repo: Path, engine: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    write_serving(data_dir(), FELL_BACK, monkeypatch)
    line, transcript = footer_and_transcript(repo, 80, "/model")
    assert "⚠ moe: vLLM built-in (check failed)" in line  # whole, at 80 columns
    said = " ".join(transcript.split())
    assert ("⚠ local: our kernels failed the engine's self-check before serving; its MoE "
            "layers are served by vLLM's built-in fused MoE (self-check failed: our kernel "
            "failed at 1 tokens: RuntimeError: injected)") in said
    assert ("MoE layers served by: vLLM's built-in fused MoE (self-check failed: our kernel "
            "failed at 1 tokens: RuntimeError: injected)") in said.split("backend: local;")[1]


def test_a_cpu_fp8_fallback_names_the_torch_path(
        repo: Path, engine: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    write_serving(data_dir(), MoeServing(
        "tessera torch path, native kernels off (vLLM has no FP8 MoE on CPU)", "torch path",
        "failed: our result differs by 0.5 at 16 tokens"), monkeypatch)
    line, _ = footer_and_transcript(repo, 80)
    assert "⚠ moe: torch path (check failed)" in line


def test_kernels_that_passed_are_named_quietly(
        repo: Path, engine: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    write_serving(data_dir(), PASSED, monkeypatch)
    line, transcript = footer_and_transcript(repo, 160)
    assert "local · Mistral-Small-4-119B-2603 │ moe: tessera triton │ sandbox" in line
    assert "⚠" not in line and "self-check" not in transcript


def test_a_remote_server_shows_nothing(repo: Path, engine: FakeOpenAIServer,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_OPENAI_API_KEY", "test-key")
    write_serving(data_dir(), FELL_BACK, monkeypatch)

    async def scenario() -> str:
        app = TesseraApp(ChatOptions(repo=repo, backend=f"openai:{engine.base_url}",
                                     repo_map_tokens=0), sandbox_probe=isolated_sandbox)
        async with app.run_test(size=(160, 30)) as pilot:
            await send_one(pilot, app)
            return chat(app).status_bar.render_line(0).text

    assert "moe" not in asyncio.run(scenario())


async def _fallback_after_one_message(pilot) -> None:
    await send_one(pilot, pilot.app)
    await pilot.pause(0.3)


@pytest.mark.require_module("pytest_textual_snapshot")  # the dev extra
def test_snapshot_of_the_fallback_at_80_columns(
        repo: Path, engine: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch,
        snap_compare) -> None:
    write_serving(data_dir(), FELL_BACK, monkeypatch)
    assert snap_compare(local_chat(repo), terminal_size=(80, 24),
                        run_before=_fallback_after_one_message)
