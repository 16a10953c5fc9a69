"""The CPU path: tokens grouped by expert, each touched expert's weights streamed once.

Why this shape: on a CPU the cost is streaming each touched expert's weights through a GEMM.
With float32/bf16/fp16 or FP8 E4M3 weights (widths in whole 64-byte lines) and the AVX2
kernel available, the whole MoE is native
(`cpu_native.fused_moe`): experts with few rows read their weights as several long streams
at once, busy ones through packed float32 panels and an outer-product micro-kernel; grouping,
gathers, SiLU·up and the combine are in the same call. torch's own GEMMs cost about one GEMV
per row at decode sizes and need a float32 copy of bf16 weights; the native call beats them,
and vLLM's CPU op at nearly every measured size (docs/perf/cpu_moe.md).

Otherwise (no AVX2/gcc, or widths the kernel does not take) tokens are grouped
by expert (tiny batches on the host from a plain list, larger ones with one stable argsort)
and run as per-expert matmuls in torch on the weight *views* (no gather copies), or one
padded ``bmm`` when every expert is busy.

The routing weight is applied to the down projection's rows and the rows are summed into the
token's output in a fixed order, which is deterministic on CPU.

On that torch path FP8 weights are dequantised per touched expert and computed in float32;
natively they stay E4M3 in memory and are widened in registers. With static activation
scales the GEMM inputs are quantised to FP8 first on both paths, exactly as the GPU kernels do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels import buffers, cpu_native
from kernels.fp8 import SCALE_BLOCK, ScaleLayout, quantize_activation
from kernels.validate import MoeProblem, check_ids_range

# Above this many (token, slot) pairs, grouping by argsort beats a Python loop over the ids.
_HOST_GROUPING_MAX_PAIRS = 64
# Above this many rows in its busiest expert, per-expert GEMMs beat one padded ``bmm``.
_PADDED_MAX_ROWS = 48
# torch's bf16/fp16 GEMM on CPUs without native bf16 units is several times slower than fp32
# once an expert has a few rows; from this many rows, upcasting its weights pays for itself.
_UPCAST_MIN_ROWS = 4


def _plan_small(ids: torch.Tensor, top_k: int):
    """(token, slot) pairs ordered by expert (stable), on the host: one tensor per result."""
    flat = ids.reshape(-1).tolist()
    order = sorted(range(len(flat)), key=flat.__getitem__)
    segments, start = [], 0
    for pos in range(1, len(order) + 1):
        if pos == len(order) or flat[order[pos]] != flat[order[start]]:
            segments.append((flat[order[start]], start, pos))
            start = pos
    device = ids.device
    return (torch.tensor(order, device=device),
            torch.tensor([pair // top_k for pair in order], device=device), segments)


def _plan_sorted(ids: torch.Tensor, num_experts: int, top_k: int):
    flat = ids.reshape(-1)
    order = torch.argsort(flat, stable=True)
    counts = torch.bincount(flat, minlength=num_experts).tolist()
    segments, start = [], 0
    for expert, count in enumerate(counts):
        if count:
            segments.append((expert, start, start + count))
            start += count
    return order, order // top_k if top_k > 1 else order, segments


def _dequantized(w: torch.Tensor, scale: torch.Tensor, layout: ScaleLayout, e: int):
    wf = w[e].float()
    if layout is ScaleLayout.TENSOR:
        return wf * scale.reshape(()).float()
    if layout is ScaleLayout.EXPERT:
        return wf * scale[e].float()
    if layout is ScaleLayout.SHARD:
        half = wf.shape[0] // 2
        return wf * scale[e].float().repeat_interleave(half)[:, None]
    n, k = wf.shape
    full = scale[e].float().repeat_interleave(SCALE_BLOCK, 0).repeat_interleave(SCALE_BLOCK, 1)
    return wf * full[:n, :k]


def _gemm_input(act: torch.Tensor, scale: torch.Tensor | None, e: int) -> torch.Tensor:
    if scale is None:
        return act
    s = scale.reshape(-1)[e if scale.numel() > 1 else 0].float()
    return quantize_activation(act, s).float() * s


def moe_cpu(
    x: torch.Tensor,
    w13: torch.Tensor,
    w2: torch.Tensor,
    weights: torch.Tensor,
    ids: torch.Tensor,
    problem: MoeProblem,
    *,
    w13_scale: torch.Tensor | None = None,
    w2_scale: torch.Tensor | None = None,
    a13_scale: torch.Tensor | None = None,
    a2_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Arguments as `kernels.moe` (already checked into ``problem``)."""
    tokens, top_k, inter, hidden = (problem.tokens, problem.top_k, problem.intermediate,
                                    problem.hidden)
    if tokens == 0:
        return torch.zeros(0, hidden, dtype=x.dtype, device=x.device)
    if native_takes(problem, w13, w2):
        if not problem.fp8:
            return cpu_native.fused_moe(x, w13, w2, weights, ids)  # checks the ids' range
        return cpu_native.fused_moe(
            x, w13, w2, weights, ids,
            w13_scale=cpu_native.WeightScale(w13_scale, problem.w13_layout, w13.shape[1],
                                             problem.hidden),
            w2_scale=cpu_native.WeightScale(w2_scale, problem.w2_layout, problem.hidden,
                                            problem.intermediate),
            a13_scale=a13_scale, a2_scale=a2_scale)
    check_ids_range(ids, problem.experts)
    num_pairs = tokens * top_k
    if num_pairs <= _HOST_GROUPING_MAX_PAIRS:
        order, token_of_row, segments = _plan_small(ids, top_k)
    else:
        order, token_of_row, segments = _plan_sorted(ids, problem.experts, top_k)
    upcast = problem.fp8 or (
        x.dtype != torch.float32 and num_pairs >= _UPCAST_MIN_ROWS * len(segments))
    compute = torch.float32 if upcast else x.dtype

    x_sorted = x.index_select(0, token_of_row).to(compute)
    rows = [hi - lo for _, lo, hi in segments]
    if not problem.fp8 and _dense_pays(rows, num_pairs, problem.experts, compute):
        down = _padded_batched(x_sorted, w13, w2, segments, max(rows), compute, inter)
    else:
        down = _per_expert(x_sorted, w13, w2, segments, problem, compute, inter,
                           w13_scale, w2_scale, a13_scale, a2_scale)
    return _combine(down, weights, order, tokens, top_k, hidden, x.dtype)


def _combine(down, weights, order, tokens, top_k, hidden, dtype) -> torch.Tensor:
    """Weight each pair's row and sum a token's slots."""
    weighted = down.float().mul_(weights.reshape(-1).index_select(0, order).float()[:, None])
    # One row per (token, slot) pair, summed over the slots in a fixed order: no scatter-add
    # (slow on CPU) and the same bits on every run. Every pair is in exactly one group.
    pair_out = buffers.empty(tokens * top_k, hidden, dtype=torch.float32, device=down.device)
    pair_out.index_copy_(0, order, weighted)
    if top_k == 1:
        return pair_out.to(dtype)
    return pair_out.view(tokens, top_k, hidden).sum(dim=1).to(dtype)


def native_takes(problem: MoeProblem, w13: torch.Tensor, w2: torch.Tensor) -> bool:
    """Whether the call runs natively (`cpu_native.fused_moe`) rather than in torch."""
    return cpu_native.supports(w13) and cpu_native.supports(w2)


def _dense_pays(rows: list[int], num_pairs: int, experts: int, compute: torch.dtype) -> bool:
    """Most experts busy and bounded padding: one batched matmul over all experts.

    float32 GEMMs tolerate more padding (measured: 16 tokens × top-4 over 32 experts is
    faster padded); bf16 ones on CPUs without bf16 units cost per row, so pad little. With
    many rows per expert, per-expert GEMMs beat the padded ``bmm`` (2048 tokens, E=32: 0.6 s
    against 0.9 s), so it is only for small batches.
    """
    if max(rows) > _PADDED_MAX_ROWS:
        return False
    if compute == torch.float32:
        return len(rows) * 4 >= experts * 3 and experts * max(rows) <= 4 * num_pairs
    return len(rows) * 10 >= experts * 9 and experts * max(rows) <= 1.5 * num_pairs


def _padded_batched(x_sorted, w13, w2, segments, max_rows, compute, inter) -> torch.Tensor:
    """All experts in one ``bmm`` per projection, each expert's rows padded to ``max_rows``.

    One call streams every expert's weights once and costs one thread-pool region instead
    of one per expert. Padding rows are zeros and are never read back.
    """
    experts, hidden = w13.shape[0], w13.shape[2]
    device = x_sorted.device
    slot_expert = torch.cat([torch.full((hi - lo,), e, device=device) for e, lo, hi in segments])
    slot_row = torch.cat([torch.arange(hi - lo, device=device) for _, lo, hi in segments])
    padded = torch.zeros(experts, max_rows, hidden, dtype=compute, device=device)
    padded[slot_expert, slot_row] = x_sorted
    gate_up = torch.bmm(padded, w13.to(compute).transpose(1, 2))
    hidden_act = F.silu(gate_up[..., :inter]).mul_(gate_up[..., inter:])
    down = torch.bmm(hidden_act, w2.to(compute).transpose(1, 2))
    return down[slot_expert, slot_row]


def _per_expert(x_sorted, w13, w2, segments, problem, compute, inter,
                w13_scale, w2_scale, a13_scale, a2_scale) -> torch.Tensor:
    """Only the matmuls run per expert (on views of the weights, into row slices of one
    buffer); gathers and elementwise work run once over all pairs. Fewer, larger ops keep
    thread-pool barriers few, which matters on a busy machine."""
    num_pairs = x_sorted.shape[0]
    gate_up = torch.empty(num_pairs, 2 * inter, dtype=compute, device=x_sorted.device)
    for expert, lo, hi in segments:
        rows = x_sorted[lo:hi]
        if problem.fp8:
            w13e = _dequantized(w13, w13_scale, problem.w13_layout, expert)
            rows = _gemm_input(rows, a13_scale, expert)
        else:
            w13e = w13[expert].to(compute)
        torch.mm(rows, w13e.t(), out=gate_up[lo:hi])
    hidden_act = F.silu(gate_up[:, :inter]).mul_(gate_up[:, inter:])
    down = torch.empty(num_pairs, problem.hidden, dtype=compute, device=x_sorted.device)
    for expert, lo, hi in segments:
        rows = hidden_act[lo:hi]
        if problem.fp8:
            w2e = _dequantized(w2, w2_scale, problem.w2_layout, expert)
            rows = _gemm_input(rows, a2_scale, expert)
        else:
            w2e = w2[expert].to(compute)
        torch.mm(rows, w2e.t(), out=down[lo:hi])
    return down
