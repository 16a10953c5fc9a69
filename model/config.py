"""One typed configuration for the Mistral Small 4 architecture, read from either checkpoint format.

Mistral ("consolidated") checkpoints describe the model in `params.json`; HF checkpoints in
`config.json` (a `mistral3` wrapper around a `mistral4` text config and a `pixtral` vision config,
or a bare `mistral4`). Both are parsed into these dataclasses: model/config_fields.py holds the
one table naming each field in each format, model/config_formats.py reads and writes the files
(`load_config(directory)`). This module imports neither. Fields we do not know are reported by
name (`ParsedConfig.unknown_fields`); values we cannot run raise `ConfigError` naming the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

CheckpointFormat = Literal["mistral", "hf"]


class ConfigError(ValueError):
    """A config file is missing, malformed, or asks for something this model cannot run."""


@dataclass(frozen=True)
class RopeConfig:
    theta: float = 10000.0
    # YaRN context extension (applies to the rope dims only).
    yarn_factor: float = 128.0
    original_max_positions: int = 8192
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    mscale: float = 1.0
    mscale_all_dim: float = 1.0
    # params.json `yarn.apply_scale`: whether YaRN's magnitude correction multiplies the softmax
    # scale by mscale². The one input to `softmax_scale` below; see docs/model.md.
    yarn_apply_scale: bool = False
    # Llama-4 long-context query scaling: q *= 1 + beta * ln(1 + floor(pos / original_max)).
    llama4_beta: float = 0.1
    llama4_original_max_positions: int = 8192


@dataclass(frozen=True)
class MoEConfig:
    num_experts: int = 128
    top_k: int = 4
    expert_dim: int = 2048
    num_shared_experts: int = 1
    routed_scale: float = 1.0
    first_k_dense: int = 0  # the first k layers use a dense SiLU MLP of `TextConfig.dense_dim`

    @property
    def shared_dim(self) -> int:
        return self.expert_dim * self.num_shared_experts


@dataclass(frozen=True)
class TextConfig:
    vocab_size: int = 131072
    hidden_size: int = 4096
    num_layers: int = 36
    num_heads: int = 32
    q_lora_rank: int = 1024
    kv_lora_rank: int = 256
    qk_nope_head_dim: int = 64
    qk_rope_head_dim: int = 64
    v_head_dim: int = 128
    dense_dim: int = 12288
    norm_eps: float = 1e-6
    max_positions: int = 1048576
    tied_embeddings: bool = False
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = 11
    rope: RopeConfig = field(default_factory=RopeConfig)
    moe: MoEConfig = field(default_factory=MoEConfig)

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def latent_cache_width(self) -> int:
        """Values cached per token per layer by MLA: the compressed KV plus the shared rope key."""
        return self.kv_lora_rank + self.qk_rope_head_dim


@dataclass(frozen=True)
class VisionConfig:
    hidden_size: int = 1024
    num_layers: int = 24
    num_heads: int = 16
    intermediate_size: int = 4096
    patch_size: int = 14
    image_size: int = 1540
    num_channels: int = 3
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    # The RMSNorm before the projector: vLLM's Pixtral uses 1e-5, transformers' Mistral3 reuses
    # the text model's eps (1e-6). Each format is read the way its own engine reads it.
    projector_norm_eps: float = 1e-5
    spatial_merge_size: int = 2
    image_token_id: int = 10
    image_break_token_id: int = 12
    image_end_token_id: int = 13

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@dataclass(frozen=True)
class ModelConfig:
    text: TextConfig = field(default_factory=TextConfig)
    vision: VisionConfig | None = field(default_factory=VisionConfig)


@dataclass(frozen=True)
class ParsedConfig:
    config: ModelConfig
    format: CheckpointFormat
    unknown_fields: tuple[str, ...] = ()
    quantization: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------------
# Attention softmax scale: the ONE switch (docs/model.md has the decision and the evidence)

ScaleConvention = Literal["plain", "mscale"]


def yarn_mscale(factor: float, mscale: float) -> float:
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0


def softmax_scale(text: TextConfig, convention: ScaleConvention | None = None) -> float:
    """The attention softmax scale.

    "plain" is 1/sqrt(qk_head_dim): what vLLM serves a Mistral-format checkpoint whose
    `yarn.apply_scale` is false with, and what SGLang and NeMo use. "mscale" multiplies in YaRN's
    mscale² (transformers' Mistral4 always does; vLLM does when apply_scale is true). By default
    the checkpoint decides through `RopeConfig.yarn_apply_scale`, so the reference matches the
    engine; an HF config.json cannot express apply_scale and reads as plain.
    """
    if convention is None:
        convention = "mscale" if text.rope.yarn_apply_scale else "plain"
    plain = text.qk_head_dim**-0.5
    if convention == "plain":
        return plain
    if convention == "mscale":
        return plain * yarn_mscale(text.rope.yarn_factor, text.rope.mscale_all_dim) ** 2
    raise ValueError(f"unknown softmax scale convention {convention!r}")
