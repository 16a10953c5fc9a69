"""The oracle: a plain float64 loop over experts that every fast path is tested against.

It follows the same quantisation semantics as the kernels: FP8 weights are dequantised with
their scales; with static activation scales (W8A8) the input of each GEMM is first quantised
to FP8 exactly as the kernels do, and everything after that is computed in float64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.fp8 import dequantize, quantize_activation
from kernels.validate import check_moe_args


def _expert_scale(scale: torch.Tensor, expert: int) -> torch.Tensor:
    return scale.reshape(-1)[expert if scale.numel() > 1 else 0]


def _as_gemm_input(act: torch.Tensor, scale: torch.Tensor | None, expert: int) -> torch.Tensor:
    if scale is None:
        return act.double()
    s = _expert_scale(scale, expert).float()
    return quantize_activation(act, s).double() * s.double()


def moe_reference(
    x: torch.Tensor,
    w13: torch.Tensor,
    w2: torch.Tensor,
    weights: torch.Tensor,
    ids: torch.Tensor,
    *,
    w13_scale: torch.Tensor | None = None,
    w2_scale: torch.Tensor | None = None,
    a13_scale: torch.Tensor | None = None,
    a2_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """``sum_k weights[t, k] * W2[e] · (SiLU(W1[e] · x_t) ⊙ W3[e] · x_t)`` with e = ids[t, k].

    Returns float64 ``[tokens, hidden]``.
    """
    p = check_moe_args(x, w13, w2, weights, ids, w13_scale, w2_scale, a13_scale, a2_scale)
    if p.fp8:
        w13d = dequantize(w13, w13_scale, "w13_scale")
        w2d = dequantize(w2, w2_scale, "w2_scale")
    else:
        w13d, w2d = w13.double(), w2.double()
    out = torch.zeros(p.tokens, p.hidden, dtype=torch.float64, device=x.device)
    for expert in range(p.experts):
        token_idx, slot_idx = (ids == expert).nonzero(as_tuple=True)
        if token_idx.numel() == 0:
            continue
        xin = _as_gemm_input(x[token_idx], a13_scale, expert)
        gate_up = xin @ w13d[expert].T
        gate, up = gate_up[:, : p.intermediate], gate_up[:, p.intermediate :]
        hidden_act = F.silu(gate) * up
        hin = _as_gemm_input(hidden_act, a2_scale, expert)
        down = hin @ w2d[expert].T
        out.index_add_(0, token_idx, down * weights[token_idx, slot_idx].double()[:, None])
    return out
