"""The implementations `kernels.bench_gpu` measures ours against, and its float32 checker.

All take `kernels.moe`'s arguments; FP8 here means per-expert weight scales ``[E]`` and
per-tensor static activation scales (the released checkpoint's format).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.fp8 import quantize_activation


def _sorted_pairs(ids: torch.Tensor, experts: int):
    flat = ids.reshape(-1).long()
    order = torch.argsort(flat, stable=True)
    counts = torch.zeros(experts, dtype=torch.long, device=ids.device)
    counts.scatter_add_(0, flat, torch.ones_like(flat))
    return order, counts.cumsum(0).to(torch.int32)


def _combine(down: torch.Tensor, weights: torch.Tensor, order: torch.Tensor, x: torch.Tensor):
    tokens, top_k = weights.shape
    weighted = down.float() * weights.reshape(-1).index_select(0, order).float()[:, None]
    pair_out = torch.empty_like(weighted)
    pair_out.index_copy_(0, order, weighted)
    return pair_out.view(tokens, top_k, -1).sum(dim=1).to(x.dtype)


def grouped_mm_moe(x, w13, w2, weights, ids, *, w13_scale=None, w2_scale=None,
                   a13_scale=None, a2_scale=None) -> torch.Tensor:
    """Tokens sorted by expert, then torch's grouped GEMMs (scaled FP8 ones for W8A8)."""
    experts, inter = w13.shape[0], w13.shape[1] // 2
    top_k = ids.shape[1]
    order, offs = _sorted_pairs(ids, experts)
    xs = x.index_select(0, order // top_k)
    pairs = xs.shape[0]
    if a13_scale is None:
        if w13_scale is not None:
            raise ValueError("grouped_mm baseline: FP8 needs static activation scales (W8A8)")
        gate_up = torch._grouped_mm(xs, w13.transpose(1, 2), offs=offs)
        act = F.silu(gate_up[:, :inter]) * gate_up[:, inter:]
        down = torch._grouped_mm(act, w2.transpose(1, 2), offs=offs)
        return _combine(down, weights, order, x)
    a13 = a13_scale.float().reshape(-1)[:1]
    a2 = a2_scale.float().reshape(-1)[:1]
    gate_up = torch._scaled_grouped_mm(
        quantize_activation(xs, a13), w13.transpose(1, 2), a13.expand(pairs).contiguous(),
        w13_scale.float()[:, None].expand(experts, 2 * inter).contiguous(), offs=offs,
        out_dtype=torch.bfloat16)
    act = F.silu(gate_up[:, :inter].float()) * gate_up[:, inter:].float()
    down = torch._scaled_grouped_mm(
        quantize_activation(act, a2), w2.transpose(1, 2), a2.expand(pairs).contiguous(),
        w2_scale.float()[:, None].expand(experts, w2.shape[1]).contiguous(), offs=offs,
        out_dtype=torch.bfloat16)
    return _combine(down, weights, order, x)


def naive_moe(x, w13, w2, weights, ids, *, w13_scale=None, w2_scale=None,
              a13_scale=None, a2_scale=None) -> torch.Tensor:
    """A loop over the touched experts; FP8 weights dequantised to BF16 per call."""
    inter = w13.shape[1] // 2
    out = torch.zeros(x.shape, dtype=torch.float32, device=x.device)
    for expert in ids.unique().tolist():
        token_idx, slot_idx = (ids == expert).nonzero(as_tuple=True)
        w13e, w2e = w13[expert], w2[expert]
        if w13_scale is not None:
            w13e = w13e.to(x.dtype) * w13_scale[expert].to(x.dtype)
            w2e = w2e.to(x.dtype) * w2_scale[expert].to(x.dtype)
        gate_up = x[token_idx] @ w13e.T
        act = F.silu(gate_up[:, :inter]) * gate_up[:, inter:]
        down = (act @ w2e.T).float() * weights[token_idx, slot_idx, None].float()
        out.index_add_(0, token_idx, down)
    return out.to(x.dtype)


def _gemm_input(act: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
    if scale is None:
        return act.float()
    s = scale.float().reshape(-1)[0]
    return quantize_activation(act, s).float() * s


def reference_moe(x, w13, w2, weights, ids, *, w13_scale=None, w2_scale=None,
                  a13_scale=None, a2_scale=None) -> torch.Tensor:
    """The checker: float32 over the touched experts, with the kernels' FP8 semantics."""
    inter = w13.shape[1] // 2
    out = torch.zeros(x.shape, dtype=torch.float32, device=x.device)
    for expert in ids.unique().tolist():
        token_idx, slot_idx = (ids == expert).nonzero(as_tuple=True)
        w13e, w2e = w13[expert].float(), w2[expert].float()
        if w13_scale is not None:
            w13e = w13e * w13_scale[expert].float()
            w2e = w2e * w2_scale[expert].float()
        gate_up = _gemm_input(x[token_idx], a13_scale) @ w13e.T
        act = F.silu(gate_up[:, :inter]) * gate_up[:, inter:]
        down = _gemm_input(act, a2_scale) @ w2e.T
        out.index_add_(0, token_idx, down * weights[token_idx, slot_idx, None].float())
    return out
