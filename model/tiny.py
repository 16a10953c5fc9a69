"""Tiny random checkpoints of the real architecture, in either format, for tests and demos.

A tiny model has every part of the real one (MLA with q/kv latents, interleaved RoPE, YaRN,
Llama-4 query scaling, softmax top-k MoE with a shared expert, optionally the Pixtral tower and
projector) at sizes that run in milliseconds. Presets cover round sizes, odd sizes and the real
latent widths (kv_lora_rank 256 + rope 64 = the real 320-value cache).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from model.checkpoint import (
    expected_shapes,
    our_name_from_hf,
    scale_names,
    to_hf_tensors,
    to_mistral_tensors,
)
from model.config import (
    CheckpointFormat,
    ModelConfig,
    MoEConfig,
    RopeConfig,
    TextConfig,
    VisionConfig,
)
from model.config_formats import to_hf_config, to_mistral_params
from model.tokenizer import write_v15_tekken

if TYPE_CHECKING:
    import torch

Fp8Mode = Literal["tensor", "block"]

_TINY_TEXT = TextConfig(
    vocab_size=2048,
    hidden_size=64,
    num_layers=2,
    num_heads=4,
    q_lora_rank=48,
    kv_lora_rank=32,
    qk_nope_head_dim=16,
    qk_rope_head_dim=16,
    v_head_dim=24,
    dense_dim=96,
    max_positions=256,
    rope=RopeConfig(yarn_factor=4.0, original_max_positions=64, llama4_original_max_positions=64),
    moe=MoEConfig(num_experts=8, top_k=4, expert_dim=32, num_shared_experts=1),
)
_TINY_VISION = VisionConfig(
    hidden_size=32, num_layers=2, num_heads=2, intermediate_size=48, patch_size=14,
    image_size=112, spatial_merge_size=2,
)

PRESETS: dict[str, ModelConfig] = {
    "small": ModelConfig(text=_TINY_TEXT, vision=_TINY_VISION),
    # Odd widths everywhere a shape could hide a transposition bug; one dense layer first.
    "odd": ModelConfig(
        text=replace(
            _TINY_TEXT, hidden_size=52, num_heads=3, q_lora_rank=37, kv_lora_rank=23,
            qk_nope_head_dim=11, qk_rope_head_dim=10, v_head_dim=13, dense_dim=41, num_layers=3,
            moe=MoEConfig(num_experts=7, top_k=3, expert_dim=19, num_shared_experts=1,
                          first_k_dense=1),
        ),
        vision=replace(_TINY_VISION, hidden_size=24, num_heads=3, intermediate_size=29),
    ),
    # The real latent widths: a 256 + 64 = 320-value cache per token and layer.
    "real-latent": ModelConfig(
        text=replace(_TINY_TEXT, kv_lora_rank=256, qk_rope_head_dim=64, qk_nope_head_dim=64,
                     v_head_dim=128, num_heads=2, q_lora_rank=64),
        vision=_TINY_VISION,
    ),
}


def tiny_config(preset: str = "small", vision: bool = False, context: int | None = None
                ) -> ModelConfig:
    """A preset; `context` widens the positions it serves (YaRN factor = context over the
    original 64), e.g. for an engine that must hold a whole agent session."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    config = PRESETS[preset]
    if context is not None:
        original = config.text.rope.original_max_positions
        if context < original:
            raise ValueError(f"context must be at least {original} positions; got {context}")
        rope = replace(config.text.rope, yarn_factor=context / original)
        config = replace(config, text=replace(config.text, max_positions=context, rope=rope))
    return config if vision else replace(config, vision=None)


def random_weights(config: ModelConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights scaled so activations stay O(1) and logits are decisive (no near-ties)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    for name, shape in expected_shapes(config).items():
        if len(shape) == 1:  # norms: near one, not exactly, so a missed norm shows
            tensor = 1.0 + 0.1 * torch.randn(shape, generator=generator)
        elif name == "tok_embeddings.weight":
            tensor = torch.randn(shape, generator=generator)
        else:
            fan_in = 1
            for size in shape[1:]:
                fan_in *= size
            gain = 4.0 if name.endswith(("output.weight", "gate.weight")) else 1.0
            tensor = gain * torch.randn(shape, generator=generator) / fan_in**0.5
        tensors[name] = tensor
    return tensors


# Linear weights the released checkpoint stores in FP8 (model.md): attention projections and
# every FFN of the text decoder. Embeddings, norms, router, lm_head and vision stay high precision.
_QUANTISED = re.compile(
    r"layers\.\d+\.(attention\.w\w+\.weight|experts\.w13|experts\.w2|"
    r"(shared_experts|feed_forward)\.w[123]\.weight)"
)


def is_quantised(our_name: str) -> bool:
    return bool(_QUANTISED.fullmatch(our_name)) or bool(
        re.fullmatch(r"layers\.\d+\.experts\.\d+\.w[123]\.weight", our_name))


def quantise(tensors: dict[str, torch.Tensor], fmt: CheckpointFormat, mode: Fp8Mode,
             config: ModelConfig) -> dict[str, torch.Tensor]:
    """FP8 E4M3 with per-tensor (per-expert for fused experts) or 128×128 block scales."""
    import torch

    from kernels.fp8 import quantize_blocks, quantize_per_tensor

    if mode == "block" and fmt == "mistral":
        raise ValueError("Mistral-format checkpoints carry per-tensor FP8 scales only")
    out: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        ours = name if fmt == "mistral" else our_name_from_hf(name, config.vision is not None)
        if ours is None or not is_quantised(ours):
            out[name] = tensor
            continue
        weight_scale, activation_scale = scale_names(fmt, name)
        pieces = list(tensor) if tensor.dim() == 3 else [tensor]  # fused experts: one per expert
        quantiser = quantize_blocks if mode == "block" else quantize_per_tensor
        results = [quantiser(piece) for piece in pieces]
        if tensor.dim() == 3:
            out[name] = torch.stack([q for q, _ in results])
            scales = torch.stack([s for _, s in results])
            out[weight_scale] = scales if mode == "block" else scales.reshape(-1, 1, 1)
            out[activation_scale] = torch.ones(len(pieces), dtype=torch.float32)
        else:
            out[name], out[weight_scale] = results[0]
            out[activation_scale] = torch.tensor(1.0, dtype=torch.float32)
    return out


def write_tiny(
    out: str | Path,
    fmt: CheckpointFormat = "mistral",
    vision: bool = False,
    seed: int = 0,
    preset: str = "small",
    fp8: Fp8Mode | None = None,
    dtype: str = "float32",
    context: int | None = None,
) -> ModelConfig:
    """Write config, tokenizer and two weight shards; return the config written."""
    import torch
    from safetensors.torch import save_file

    config = tiny_config(preset, vision, context)
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    ours = {k: v.to(getattr(torch, dtype)) for k, v in random_weights(config, seed).items()}
    if fmt == "mistral":
        tensors = to_mistral_tensors(ours, config)
        params = to_mistral_params(config)
        if fp8:
            params["quantization"] = {"qformat_weight": "fp8_e4m3", "qscheme_act": "TENSOR"}
        (directory / "params.json").write_text(json.dumps(params, indent=2))
        names = ("consolidated-00001-of-00002.safetensors",
                 "consolidated-00002-of-00002.safetensors")
    elif fmt == "hf":
        tensors = to_hf_tensors(ours, config)
        hf = to_hf_config(config)
        hf["dtype"] = dtype
        if fp8:
            hf["quantization_config"] = {
                "quant_method": "fp8", "activation_scheme": "static",
                "weight_block_size": [128, 128] if fp8 == "block" else None,
                "modules_to_not_convert": ["model.vision_tower", "model.multi_modal_projector",
                                           "lm_head"],
            }
        (directory / "config.json").write_text(json.dumps(hf, indent=2))
        names = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
    else:
        raise ValueError(f"unknown format {fmt!r}")
    if fp8:
        tensors = quantise(tensors, fmt, fp8, config)
    _write_shards(directory, tensors, names, fmt, save_file)
    image = None
    if config.vision is not None:
        image = {"image_patch_size": config.vision.patch_size,
                 "max_image_size": config.vision.image_size,
                 "spatial_merge_size": config.vision.spatial_merge_size}
    write_v15_tekken(directory / "tekken.json", config.text.vocab_size, image)
    return config


def _write_shards(directory: Path, tensors: dict[str, torch.Tensor], names: tuple[str, str],
                  fmt: CheckpointFormat, save_file: Callable[..., None]) -> None:
    ordered = sorted(tensors)
    half = len(ordered) // 2
    shards = {names[0]: ordered[:half], names[1]: ordered[half:]}
    for shard, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, str(directory / shard), metadata={"format": "pt"})
    if fmt == "hf":
        total = sum(t.numel() * t.element_size() for t in tensors.values())
        weight_map = {k: shard for shard, keys in shards.items() for k in keys}
        (directory / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1))
