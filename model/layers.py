"""The text decoder's building blocks: RMSNorm, RoPE with YaRN, MLA attention, MoE.

Shapes: one sequence at a time, activations `[T, hidden]`; attention works on `[heads, T, dim]`.
Parameter names are our checkpoint names (model/checkpoint.py), so `load_state_dict` maps 1:1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from model.config import RopeConfig, TextConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32 whatever the activation dtype; scale after casting back.
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


def linear(dim_in: int, dim_out: int) -> nn.Linear:
    return nn.Linear(dim_in, dim_out, bias=False)


# ---------------------------------------------------------------------------------------------
# Rotary position embedding on the rope dims: YaRN frequencies, GPT-J style interleaved pairs


def yarn_inverse_frequencies(rope: RopeConfig, dim: int) -> torch.Tensor:
    """Per-pair frequencies: original ones for fast-rotating pairs (more than beta_fast turns in
    the original context), 1/factor of them for slow ones (< beta_slow turns), a ramp between."""
    base_freqs = 1.0 / rope.theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)

    def pair_index_for(turns: float) -> float:
        return dim * math.log(rope.original_max_positions / (turns * 2 * math.pi)) / (
            2 * math.log(rope.theta))

    low = max(math.floor(pair_index_for(rope.beta_fast)), 0)
    high = min(math.ceil(pair_index_for(rope.beta_slow)), dim - 1)
    if low == high:
        high += 0.001  # avoid a zero-width ramp
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    keep_original = 1 - ramp
    return base_freqs / rope.yarn_factor * (1 - keep_original) + base_freqs * keep_original


def rope_angles(rope: RopeConfig, dim: int, positions: torch.Tensor) -> torch.Tensor:
    """[T, dim/2] rotation angles. YaRN's cos/sin magnitude factor is mscale/mscale_all_dim = 1
    for this architecture (config parsing enforces mscale == mscale_all_dim)."""
    return positions.float()[:, None] * yarn_inverse_frequencies(rope, dim)[None, :]


def rotate_pairs(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs (x0, x1), (x2, x3), … of the last dim by `angles` [T, dim/2]."""
    even, odd = x[..., 0::2].float(), x[..., 1::2].float()
    cos, sin = angles.cos(), angles.sin()
    rotated = torch.stack((even * cos - odd * sin, odd * cos + even * sin), dim=-1)
    return rotated.flatten(-2).to(x.dtype)


def llama4_query_scale(rope: RopeConfig, positions: torch.Tensor) -> torch.Tensor:
    """[T] factor 1 + beta·ln(1 + floor(pos / original_max)): 1 inside the original context,
    growing slowly beyond it so attention stays sharp over long contexts."""
    blocks = torch.floor(positions.float() / rope.llama4_original_max_positions)
    return 1 + rope.llama4_beta * torch.log1p(blocks)


# ---------------------------------------------------------------------------------------------
# Multi-head latent attention


class Attention(nn.Module):
    """MLA: keys and values come from one small latent per token (what an engine caches:
    kv_lora_rank + qk_rope_head_dim values), queries from their own low-rank latent."""

    def __init__(self, text: TextConfig, softmax_scale: float) -> None:
        super().__init__()
        self.text, self.softmax_scale = text, softmax_scale
        heads = text.num_heads
        self.wq_a = linear(text.hidden_size, text.q_lora_rank)
        self.q_a_norm = RMSNorm(text.q_lora_rank, text.norm_eps)
        self.wq_b = linear(text.q_lora_rank, heads * text.qk_head_dim)
        self.wkv_a_with_mqa = linear(text.hidden_size, text.latent_cache_width)
        self.kv_a_norm = RMSNorm(text.kv_lora_rank, text.norm_eps)
        self.wkv_b = linear(text.kv_lora_rank, heads * (text.qk_nope_head_dim + text.v_head_dim))
        self.wo = linear(heads * text.v_head_dim, text.hidden_size)

    def queries(self, x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        t = self.text
        q = self.wq_b(self.q_a_norm(self.wq_a(x))).view(len(x), t.num_heads, t.qk_head_dim)
        q_nope, q_rope = q.split([t.qk_nope_head_dim, t.qk_rope_head_dim], dim=-1)
        return torch.cat([q_nope, rotate_pairs(q_rope, angles[:, None, :])], dim=-1)

    def latent(self, x: torch.Tensor, angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(normed KV latent [T, kv_lora_rank], rotated shared rope key [T, rope_dim])."""
        t = self.text
        compressed, k_rope = self.wkv_a_with_mqa(x).split(
            [t.kv_lora_rank, t.qk_rope_head_dim], dim=-1)
        return self.kv_a_norm(compressed), rotate_pairs(k_rope, angles)

    def keys_values(self, latent: torch.Tensor, k_rope: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.text
        kv = self.wkv_b(latent).view(len(latent), t.num_heads, t.qk_nope_head_dim + t.v_head_dim)
        k_nope, v = kv.split([t.qk_nope_head_dim, t.v_head_dim], dim=-1)
        k = torch.cat([k_nope, k_rope[:, None, :].expand(-1, t.num_heads, -1)], dim=-1)
        return k, v

    def forward(self, x: torch.Tensor, angles: torch.Tensor, q_scale: torch.Tensor
                ) -> torch.Tensor:
        q = self.queries(x, angles) * q_scale[:, None, None].to(x.dtype)
        k, v = self.keys_values(*self.latent(x, angles))
        out = F.scaled_dot_product_attention(
            q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1),
            is_causal=True, scale=self.softmax_scale,
        )
        return self.wo(out.transpose(0, 1).reshape(len(x), -1))


# ---------------------------------------------------------------------------------------------
# Feed-forward: the dense SiLU-gated MLP and the mixture of experts


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1, self.w2, self.w3 = linear(dim, hidden), linear(hidden, dim), linear(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Gate(nn.Module):
    def __init__(self, dim: int, num_experts: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_experts, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class Experts(nn.Module):
    """Routed experts fused in vLLM's layout: w13 [E, 2·I, H] (gate rows, then up rows) and
    w2 [E, H, I]; expert e computes w2[e] · (SiLU(gate_e · x) ⊙ (up_e · x))."""

    def __init__(self, dim: int, hidden: int, num_experts: int) -> None:
        super().__init__()
        self.w13 = nn.Parameter(torch.empty(num_experts, 2 * hidden, dim))
        self.w2 = nn.Parameter(torch.empty(num_experts, dim, hidden))


def mixture_of_experts(x: torch.Tensor, gate: Gate, experts: Experts,
                       shared: FeedForward | None, top_k: int, routed_scale: float
                       ) -> torch.Tensor:
    """x [T, H] → [T, H]: each token's top-k routed experts, weighted, plus the shared expert.

    Plain torch on purpose: this is what the MoE kernels and the engines are checked against,
    so it shares no code with them (model.md: softmax over all experts, top-k, renormalise to
    sum 1, times routed_scale; no groups, no score-correction bias).
    """
    probs = gate(x).float().softmax(dim=-1)                      # [T, E] router probabilities
    weights, ids = probs.topk(top_k, dim=-1)                     # [T, k] best k per token
    weights = weights / weights.sum(dim=-1, keepdim=True) * routed_scale  # [T, k], sums to scale
    inter = experts.w2.shape[-1]
    out = torch.zeros_like(x)                                    # [T, H]
    for e in ids.unique().tolist():
        token, slot = (ids == e).nonzero(as_tuple=True)          # [n] tokens that chose e
        gate_up = x[token] @ experts.w13[e].t()                  # [n, 2I]
        hidden = F.silu(gate_up[:, :inter]) * gate_up[:, inter:]  # [n, I]
        down = hidden @ experts.w2[e].t()                        # [n, H]
        out.index_add_(0, token, down * weights[token, slot, None].to(x.dtype))
    return out if shared is None else out + shared(x)


def _shared_expert(text: TextConfig) -> FeedForward | None:
    moe = text.moe
    return FeedForward(text.hidden_size, moe.shared_dim) if moe.num_shared_experts else None


class Block(nn.Module):
    """Pre-norm residual block: attention, then a dense FFN (first_k_dense layers) or the MoE.
    Attribute names are the checkpoint's: attention_norm, attention, ffn_norm, and
    feed_forward or gate / experts / shared_experts."""

    def __init__(self, text: TextConfig, layer: int, softmax_scale: float) -> None:
        super().__init__()
        moe = text.moe
        self.attention_norm = RMSNorm(text.hidden_size, text.norm_eps)
        self.attention = Attention(text, softmax_scale)
        self.ffn_norm = RMSNorm(text.hidden_size, text.norm_eps)
        self.dense = layer < moe.first_k_dense
        self.top_k, self.routed_scale = moe.top_k, moe.routed_scale
        if self.dense:
            self.feed_forward = FeedForward(text.hidden_size, text.dense_dim)
        else:
            self.gate = Gate(text.hidden_size, moe.num_experts)
            self.experts = Experts(text.hidden_size, moe.expert_dim, moe.num_experts)
            self.shared_experts = _shared_expert(text)

    def ffn(self, x: torch.Tensor) -> torch.Tensor:
        if self.dense:
            return self.feed_forward(x)
        return mixture_of_experts(x, self.gate, self.experts, self.shared_experts, self.top_k,
                                  self.routed_scale)

    def forward(self, x: torch.Tensor, angles: torch.Tensor, q_scale: torch.Tensor
                ) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), angles, q_scale)
        return x + self.ffn(self.ffn_norm(x))
