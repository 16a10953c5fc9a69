"""The local engine as the local backend finds it: the fake OpenAI-compatible server
registered in a data directory as the running engine, and the MoE plugin's verdict after
its self-check written there by the plugin's own counter (what a real engine process does)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from model.engine import EngineInfo, EnginePaths
from model.vllm_plugin.counter import STATS_DIR_ENV, MoeCallCounter, MoeServing
from tests.agent.backends.fake_openai import FakeOpenAIServer

PASSED = MoeServing("tessera kernels (triton)", "tessera triton", "passed")
FELL_BACK = MoeServing("vLLM's built-in fused MoE", "vLLM built-in",
                       "failed: our kernel failed at 1 tokens: RuntimeError: injected")


def register(data_dir: Path, server: FakeOpenAIServer, pid: int) -> None:
    paths = EnginePaths.under(data_dir)
    EngineInfo(pid=pid, host="127.0.0.1", port=server.port, model="/models/tiny",
               served_model_name="tessera", started_at=time.time()).write(paths)
    paths.api_key.write_text("test-key\n")


def write_serving(data_dir: Path, serving: MoeServing, monkeypatch: pytest.MonkeyPatch) -> None:
    """The verdict as an engine process writes it (`moe-calls-<pid>.json`, this pid: a
    second call replaces the first, as a restarted engine's process would)."""
    stats = EnginePaths.under(data_dir).moe_stats
    stats.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv(STATS_DIR_ENV, str(stats))
    MoeCallCounter().set_serving(serving)
