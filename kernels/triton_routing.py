"""The router as one fused Triton kernel: score, group filter, top-k, renormalise, scale.

Each program owns a block of tokens and keeps their whole row of expert scores in registers
(experts padded to a power of two), so the top-k is k rounds of argmax-and-mask. Ties go to
the lower expert index. Import through `kernels.backend.triton_module`.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.backend import interpreting

INTERPRETED = interpreting()


@triton.jit
def _route_kernel(
    logits_ptr, weights_ptr, ids_ptr,
    tokens, experts, stride_lt, scaling,
    TOP_K: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_KP: tl.constexpr,
    SOFTMAX: tl.constexpr, RENORMALIZE: tl.constexpr,
    NUM_GROUPS: tl.constexpr, TOPK_GROUP: tl.constexpr, BLOCK_G: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.arange(0, BLOCK_E)
    row_ok = rows < tokens
    col_ok = cols < experts
    mask = row_ok[:, None] & col_ok[None, :]
    logits = tl.load(logits_ptr + rows[:, None] * stride_lt + cols[None, :], mask=mask,
                     other=0.0).to(tl.float32)
    logits = tl.where(col_ok[None, :], logits, float("-inf"))
    if SOFTMAX:
        row_max = tl.max(logits, axis=1)
        expd = tl.exp(logits - row_max[:, None])
        expd = tl.where(col_ok[None, :], expd, 0.0)
        scores = expd / tl.sum(expd, axis=1)[:, None]
    else:
        scores = tl.sigmoid(logits)
    # NaN scores (from NaN logits) must not win the argmax: they become -inf here, so ids stay
    # in range, and the chosen weight turns back into NaN below, so the NaN still propagates.
    scores = tl.where(col_ok[None, :] & (scores == scores), scores, float("-inf"))

    candidates = scores
    if NUM_GROUPS > 1:
        group_size = experts // NUM_GROUPS
        group_of_col = cols // group_size
        gcols = tl.arange(0, BLOCK_G)
        group_scores = tl.full([BLOCK_T, BLOCK_G], float("-inf"), tl.float32)
        for g in tl.static_range(NUM_GROUPS):
            best = tl.max(tl.where(group_of_col[None, :] == g, scores, float("-inf")), axis=1)
            group_scores = tl.where(gcols[None, :] == g, best[:, None], group_scores)
        keep_col = tl.zeros([BLOCK_T, BLOCK_E], tl.int32)
        for _ in tl.static_range(TOPK_GROUP):
            chosen = tl.argmax(group_scores, axis=1)
            keep_col = tl.where(group_of_col[None, :] == chosen[:, None], 1, keep_col)
            group_scores = tl.where(gcols[None, :] == chosen[:, None], float("-inf"),
                                    group_scores)
        candidates = tl.where(keep_col != 0, scores, float("-inf"))

    kcols = tl.arange(0, BLOCK_KP)
    top_w = tl.zeros([BLOCK_T, BLOCK_KP], tl.float32)
    top_i = tl.zeros([BLOCK_T, BLOCK_KP], tl.int32)
    for j in tl.static_range(TOP_K):
        best = tl.argmax(candidates, axis=1)
        best_w = tl.max(candidates, axis=1)
        best_w = tl.where(best_w == float("-inf"), float("nan"), best_w)
        top_w = tl.where(kcols[None, :] == j, best_w[:, None], top_w)
        top_i = tl.where(kcols[None, :] == j, best[:, None].to(tl.int32), top_i)
        candidates = tl.where(cols[None, :] == best[:, None], float("-inf"), candidates)
    if RENORMALIZE:
        top_w = top_w / tl.sum(top_w, axis=1)[:, None]
    top_w = top_w * scaling
    out_mask = row_ok[:, None] & (kcols[None, :] < TOP_K)
    offsets = rows[:, None] * TOP_K + kcols[None, :]
    tl.store(weights_ptr + offsets, top_w, mask=out_mask)
    tl.store(ids_ptr + offsets, top_i, mask=out_mask)


def route_triton(
    router_logits: torch.Tensor,
    top_k: int,
    renormalize: bool = True,
    scaling: float = 1.0,
    *,
    num_groups: int = 1,
    topk_group: int = 1,
    scoring: str = "softmax",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Arguments as `kernels.route` (already checked there)."""
    logits = router_logits if router_logits.stride(1) == 1 else router_logits.contiguous()
    tokens, experts = logits.shape
    weights = torch.empty(tokens, top_k, dtype=torch.float32, device=logits.device)
    ids = torch.empty(tokens, top_k, dtype=torch.int32, device=logits.device)
    if tokens == 0:
        return weights, ids
    block_e = triton.next_power_of_2(experts)
    # Keep the per-program register tile near 4K scores.
    block_t = max(1, min(triton.next_power_of_2(tokens), 4096 // block_e, 64))
    grouped = num_groups > 1 and topk_group < num_groups
    _route_kernel[(triton.cdiv(tokens, block_t),)](
        logits, weights, ids, tokens, experts, logits.stride(0), float(scaling),
        TOP_K=top_k, BLOCK_T=block_t, BLOCK_E=block_e,
        BLOCK_KP=triton.next_power_of_2(top_k),
        SOFTMAX=scoring == "softmax", RENORMALIZE=renormalize,
        NUM_GROUPS=num_groups if grouped else 1, TOPK_GROUP=topk_group,
        BLOCK_G=triton.next_power_of_2(num_groups),
    )
    return weights, ids
