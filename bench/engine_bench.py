"""The engine on a tiny checkpoint: start time, decode tokens/s, prefix cache, plugin counter.

    python -m bench.engine_bench [--checkpoint DIR] [--runs N] [--tokens N] [--ab]

Starts the engine as `tessera engine start` does (a detached vLLM server with our plugin),
measures, stops it. With `--ab` it then does the same with `TESSERA_MOE_PLUGIN=0` (vLLM's own
MoE: on CPU its C++ `cpu_fused_moe`) and prints both side by side. Without a checkpoint a tiny
random one (Mistral format) is written to a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from model.engine import EngineSettings, engine_status, start_engine, stop_engine
from model.engine.state import EnginePaths, read_api_key

PROMPT = [1, 3, *range(1100, 1180), 4]
# Sent twice: the second time its full KV blocks come from the prefix cache (vLLM's CPU
# block is 128 tokens, a GPU's 16, so a short prompt would show no reuse on CPU).
LONG_PROMPT = [1, 3, *range(1100, 1300), 4]


def post(base_url: str, key: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{base_url}/completions", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def measure(checkpoint: Path, runs: int, tokens: int, plugin: bool) -> dict[str, float]:
    os.environ["TESSERA_MOE_PLUGIN"] = "1" if plugin else "0"
    with tempfile.TemporaryDirectory() as data:
        begun = time.monotonic()
        info = start_engine(EngineSettings(checkpoint), data)
        start_s = time.monotonic() - begun
        try:
            key = read_api_key(EnginePaths.under(data)) or ""
            decode = []
            for _ in range(runs + 1):  # the first run warms up
                t0 = time.monotonic()
                out = post(info.base_url, key, {"model": "tessera", "prompt": PROMPT,
                                                "max_tokens": tokens, "temperature": 0,
                                                "ignore_eos": True})
                decode.append(out["usage"]["completion_tokens"] / (time.monotonic() - t0))
            for _ in range(2):
                repeat = post(info.base_url, key, {"model": "tessera", "prompt": LONG_PROMPT,
                                                   "max_tokens": 1, "temperature": 0})
            details = repeat["usage"].get("prompt_tokens_details") or {}
            cached_share = (details.get("cached_tokens") or 0) / repeat["usage"]["prompt_tokens"]
            time.sleep(1.0)  # the counter file is rewritten twice a second
            calls = engine_status(data).moe_calls
        finally:
            stop_engine(data)
    return {"start_s": start_s, "tokens_per_s": statistics.median(decode[1:]),
            "cached_share": cached_share, "moe_calls": calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--ab", action="store_true", help="also run with the plugin off")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = args.checkpoint
        if checkpoint is None:
            from model.tiny import write_tiny

            checkpoint = Path(scratch) / "tiny"
            write_tiny(checkpoint, fmt="mistral")
        results = {"tessera kernels": measure(checkpoint, args.runs, args.tokens, True)}
        if args.ab:
            results["vLLM's own MoE"] = measure(checkpoint, args.runs, args.tokens, False)
    print(f"prompt {len(PROMPT)} tokens, {args.tokens} generated, median of {args.runs} runs; "
          f"cached: share of a repeated {len(LONG_PROMPT)}-token prompt")
    print(f"{'':<18}{'start s':>10}{'tokens/s':>10}{'cached':>9}{'MoE calls':>11}")
    for name, r in results.items():
        print(f"{name:<18}{r['start_s']:>10.1f}{r['tokens_per_s']:>10.1f}"
              f"{r['cached_share']:>9.0%}{int(r['moe_calls']):>11}")
    if len(results) == 2:
        ours, theirs = results.values()
        print(f"decode ratio tessera/vLLM: {ours['tokens_per_s'] / theirs['tokens_per_s']:.2f}")


if __name__ == "__main__":
    main()
