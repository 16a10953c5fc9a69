"""Parameter counts and memory estimates, computed from a `ModelConfig` alone.

Definitions (stated because published "active" figures differ in what they count):
- total: every parameter of the checkpoint, text decoder and vision tower + projector.
- active: total minus the routed experts a token does not use (all but top-k) and minus the
  embedding table (a lookup: one row per token). The vision tower and projector stay in, as
  published figures do (119.4B total / 6.52B active for the real config; the text decoder alone
  is 118.97B / 6.10B — `text_breakdown` and `vision_breakdown` give the parts).
"""

from __future__ import annotations

from dataclasses import dataclass

from model.config import ModelConfig, TextConfig, VisionConfig


def text_breakdown(text: TextConfig) -> dict[str, int]:
    h, layers = text.hidden_size, text.num_layers
    heads, moe = text.num_heads, text.moe
    attention = (
        h * text.q_lora_rank
        + text.q_lora_rank  # q_a norm
        + text.q_lora_rank * heads * text.qk_head_dim
        + h * text.latent_cache_width
        + text.kv_lora_rank  # kv_a norm
        + text.kv_lora_rank * heads * (text.qk_nope_head_dim + text.v_head_dim)
        + heads * text.v_head_dim * h
    )
    moe_layers = layers - moe.first_k_dense
    return {
        "embedding": text.vocab_size * h,
        "lm_head": 0 if text.tied_embeddings else text.vocab_size * h,
        "attention": layers * attention,
        "norms": layers * 2 * h + h,
        "dense_mlp": moe.first_k_dense * 3 * h * text.dense_dim,
        "router": moe_layers * moe.num_experts * h,
        "routed_experts": moe_layers * moe.num_experts * 3 * h * moe.expert_dim,
        "shared_experts": moe_layers * 3 * h * moe.shared_dim,
    }


def vision_breakdown(vision: VisionConfig, text_hidden: int) -> dict[str, int]:
    d, merge = vision.hidden_size, vision.spatial_merge_size
    block = 4 * d * d + 3 * d * vision.intermediate_size + 2 * d
    return {
        "vision_encoder": vision.num_channels * vision.patch_size**2 * d + d
        + vision.num_layers * block,
        "projector": d + merge * merge * d * d + d * text_hidden + text_hidden * text_hidden,
    }


def param_counts(config: ModelConfig) -> tuple[int, int]:
    """(total, active) as defined in the module docstring."""
    text = text_breakdown(config.text)
    vision = vision_breakdown(config.vision, config.text.hidden_size) if config.vision else {}
    total = sum(text.values()) + sum(vision.values())
    moe = config.text.moe
    idle_experts = text["routed_experts"] * (moe.num_experts - moe.top_k) // moe.num_experts
    active = total - text["embedding"] - idle_experts
    return total, active


# ---------------------------------------------------------------------------------------------
# Memory

# Bytes per stored weight for the linear layers the release quantises; the rest stay BF16
# (embeddings, norms, router, lm_head, vision tower, projector — model.md "FP8").
WEIGHT_BYTES = {"fp8": 1, "bf16": 2, "fp32": 4}
KV_BYTES = {"fp8": 1, "bf16": 2, "fp32": 4}


def weight_bytes(config: ModelConfig, weights: str) -> int:
    text = text_breakdown(config.text)
    vision = vision_breakdown(config.vision, config.text.hidden_size) if config.vision else {}
    t = config.text
    attention_norms = t.num_layers * (t.q_lora_rank + t.kv_lora_rank)
    quantisable = (
        text["attention"] - attention_norms
        + text["dense_mlp"] + text["routed_experts"] + text["shared_experts"]
    )
    kept = sum(text.values()) + sum(vision.values()) - quantisable
    per_weight = WEIGHT_BYTES[weights]
    return quantisable * per_weight + kept * max(per_weight, 2)


def kv_bytes_per_token(text: TextConfig, kv_dtype: str = "bf16") -> int:
    """MLA caches one latent (kv_lora_rank + rope dims) per token per layer, shared by all heads."""
    return text.num_layers * text.latent_cache_width * KV_BYTES[kv_dtype]


@dataclass(frozen=True)
class EngineSetting:
    name: str
    weights: str  # fp8 | bf16
    kv_dtype: str
    gpus: int
    gpu_bytes: int
    context: int


H200_BYTES = 141 * 10**9
COMMON_SETTINGS = (
    EngineSetting("FP8 on 2×H200, 256K context", "fp8", "bf16", 2, H200_BYTES, 262144),
    EngineSetting("FP8 on 1×H200, 256K context, FP8 KV", "fp8", "fp8", 1, H200_BYTES, 262144),
    EngineSetting("BF16 on 2×H200, 256K context", "bf16", "bf16", 2, H200_BYTES, 262144),
    EngineSetting("BF16 on 4×H200, 256K context", "bf16", "bf16", 4, H200_BYTES, 262144),
)


@dataclass(frozen=True)
class MemoryEstimate:
    setting: EngineSetting
    weights_per_gpu: int
    kv_per_sequence: int  # one full-context sequence, per GPU
    free_per_gpu: int  # after weights and one sequence; negative means it does not fit
    sequences_that_fit: int  # full-context sequences in what the weights leave free

    @property
    def fits(self) -> bool:
        return self.free_per_gpu >= 0


def estimate_memory(config: ModelConfig, setting: EngineSetting) -> MemoryEstimate:
    """Tensor parallel splits the weights; the MLA latent cache is replicated on every rank
    (vLLM shards heads, and the latent is shared by all heads)."""
    weights = weight_bytes(config, setting.weights) // setting.gpus
    kv = kv_bytes_per_token(config.text, setting.kv_dtype) * setting.context
    room = setting.gpu_bytes - weights
    return MemoryEstimate(setting, weights, kv, room - kv, max(room, 0) // kv)
