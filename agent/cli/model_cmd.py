"""`tessera model tiny|info|check`: make, inspect and check model checkpoints.

    tessera model tiny OUT [--format mistral|hf] [--vision] [--seed N] [--preset P] [--fp8 M]
                       [--context N]
    tessera model info DIR [--json]
    tessera model check DIR [--engine reference|vllm] --prompt-ids 1,3,... [--image PATH]
                        --max-tokens N [--dtype float32|bfloat16] [--json]

Heavy imports (torch, vllm) happen inside `run`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from model.images import encode_image


def configure(parser: argparse.ArgumentParser, command_name: str) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="{tiny,info,check}")

    tiny = sub.add_parser("tiny", help="write a tiny random checkpoint of the real architecture")
    tiny.add_argument("out", type=Path)
    tiny.add_argument("--format", choices=("mistral", "hf"), default="mistral")
    tiny.add_argument("--vision", action="store_true", help="include the Pixtral tower")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--preset", choices=("small", "odd", "real-latent"), default="small")
    tiny.add_argument("--fp8", choices=("tensor", "block"), default=None,
                      help="store linear weights in FP8 E4M3 with these scales")
    tiny.add_argument("--context", type=int, default=None, metavar="N",
                      help="positions the checkpoint serves (default 256; YaRN stretches "
                           "the original 64 to N)")

    info = sub.add_parser("info", help="config, parameter counts, dtypes, memory needed")
    info.add_argument("directory", type=Path)
    info.add_argument("--json", action="store_true")

    check = sub.add_parser("check", help="greedy tokens and their logprobs")
    check.add_argument("directory", type=Path)
    check.add_argument("--engine", choices=("reference", "vllm"), default="reference")
    check.add_argument("--prompt-ids", required=True, type=_ids,
                       help="comma-separated token ids, e.g. 1,3,1010,4")
    check.add_argument("--image", type=Path, default=None,
                       help="an image; its [IMG] tokens go right after the first prompt token")
    check.add_argument("--max-tokens", type=int, required=True)
    check.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    check.add_argument("--json", action="store_true")


def _ids(text: str) -> list[int]:
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of ints: {text!r}") from exc
    if not ids:
        raise argparse.ArgumentTypeError("no token ids given")
    return ids


def run(args: argparse.Namespace) -> int:
    from model.checkpoint import CheckpointError
    from model.config import ConfigError

    try:
        return {"tiny": _tiny, "info": _info, "check": _check}[args.action](args)
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"tessera model {args.action}: {exc}", file=sys.stderr)
        return 2


def _tiny(args: argparse.Namespace) -> int:
    from model.sizes import param_counts
    from model.tiny import write_tiny

    config = write_tiny(args.out, fmt=args.format, vision=args.vision, seed=args.seed,
                        preset=args.preset, fp8=args.fp8, context=args.context)
    total, active = param_counts(config)
    print(f"wrote {args.format} checkpoint to {args.out} ({total:,} parameters, "
          f"{active:,} active{', vision' if args.vision else ''}"
          f"{', fp8 ' + args.fp8 if args.fp8 else ''})")
    return 0


def _info(args: argparse.Namespace) -> int:
    from model.checkpoint import CheckpointFiles
    from model.config_formats import load_config
    from model.sizes import COMMON_SETTINGS, estimate_memory, kv_bytes_per_token, param_counts

    parsed = load_config(args.directory)
    config = parsed.config
    total, active = param_counts(config)
    dtypes: dict[str, int] = {}
    if any(args.directory.glob("*.safetensors")):  # info also reads a bare config directory
        files = CheckpointFiles(args.directory)
        for name in files.names():
            dtypes[files.dtype_name(name)] = dtypes.get(files.dtype_name(name), 0) + 1
    memory = [estimate_memory(config, setting) for setting in COMMON_SETTINGS]
    report: dict[str, Any] = {
        "format": parsed.format,
        "parameters": {"total": total, "active": active},
        "tensor_dtypes": dtypes,
        "unknown_fields": list(parsed.unknown_fields),
        "quantization": parsed.quantization,
        "kv_cache_bytes_per_token": {"bf16": kv_bytes_per_token(config.text, "bf16"),
                                     "fp8": kv_bytes_per_token(config.text, "fp8")},
        "memory": [
            {"setting": m.setting.name, "weights_per_gpu": m.weights_per_gpu,
             "kv_per_sequence": m.kv_per_sequence, "fits": m.fits,
             "full_context_sequences": m.sequences_that_fit}
            for m in memory
        ],
        "config": _as_dict(config),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    t = config.text
    print(f"format        {parsed.format}")
    print(f"parameters    {_count(total)} total, {_count(active)} active per token")
    print(f"text          hidden {t.hidden_size}, {t.num_layers} layers, {t.num_heads} heads, "
          f"MLA q {t.q_lora_rank} / kv {t.kv_lora_rank} + rope {t.qk_rope_head_dim}, "
          f"{t.moe.num_experts} experts top-{t.moe.top_k} + {t.moe.num_shared_experts} shared")
    if config.vision:
        v = config.vision
        print(f"vision        hidden {v.hidden_size}, {v.num_layers} layers, patch {v.patch_size}, "
              f"merge {v.spatial_merge_size}")
    print("tensor dtypes " + (", ".join(f"{k} ×{n}" for k, n in sorted(dtypes.items()))
                              or "(no weight files)"))
    if parsed.unknown_fields:
        print("unknown       " + ", ".join(parsed.unknown_fields))
    print(f"KV cache      {kv_bytes_per_token(t, 'bf16'):,} bytes/token (bf16 latent, all layers)")
    for m in memory:
        verdict = (f"fits, {m.sequences_that_fit} full-context sequences" if m.fits
                   else "does not fit")
        print(f"memory        {m.setting.name}: weights {m.weights_per_gpu / 1e9:.1f} GB/GPU, "
              f"KV {m.kv_per_sequence / 1e9:.2f} GB/sequence — {verdict}")
    return 0


def _count(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.3f}{unit} ({n:,})"
    return str(n)


def _as_dict(config: Any) -> Any:
    from dataclasses import asdict

    return asdict(config)


def _check(args: argparse.Namespace) -> int:
    prompt = list(args.prompt_ids)
    if args.max_tokens < 1:
        raise ValueError("--max-tokens must be at least 1")
    if args.engine == "vllm":
        if args.dtype != "float32":
            raise ValueError("the vLLM check runs in float32")
        from model.vllm_check import vllm_greedy

        image = None
        if args.image is not None:
            from PIL import Image

            tokens, _ = encode_image(args.directory, args.image)
            prompt = prompt[:1] + tokens + prompt[1:]
            with Image.open(args.image) as opened:
                image = opened.convert("RGB")
        generation = vllm_greedy(args.directory, [prompt], args.max_tokens, images=[image])[0]
    else:
        generation = _reference_check(args, prompt)
    result = {"token_ids": generation.token_ids, "logprobs": generation.logprobs}
    if args.json:
        print(json.dumps(result))
    else:
        for token, logprob in zip(generation.token_ids, generation.logprobs, strict=True):
            print(f"{token:>8}  {logprob:.6f}")
    return 0


def _reference_check(args: argparse.Namespace, prompt: list[int]) -> Any:
    import torch

    from model.reference import greedy, load_model

    model = load_model(args.directory, getattr(torch, args.dtype))
    images = []
    if args.image is not None:
        tokens, image = encode_image(args.directory, args.image)
        prompt = prompt[:1] + tokens + prompt[1:]
        images.append(image)
    return greedy(model, prompt, args.max_tokens, images)
