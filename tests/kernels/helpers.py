"""Random MoE problems and the comparison against the float64 reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from kernels import fp8
from kernels.reference import moe_reference


@dataclass
class Problem:
    x: torch.Tensor
    w13: torch.Tensor
    w2: torch.Tensor
    weights: torch.Tensor
    ids: torch.Tensor
    scales: dict = field(default_factory=dict)

    def args(self) -> tuple:
        return self.x, self.w13, self.w2, self.weights, self.ids

    def reference(self) -> torch.Tensor:
        return moe_reference(*self.args(), **self.scales)


def random_ids(tokens: int, experts: int, top_k: int) -> torch.Tensor:
    """Distinct experts per token, uniformly chosen."""
    return torch.rand(tokens, experts).argsort(dim=1)[:, :top_k].to(torch.int32)


def random_weights(tokens: int, top_k: int) -> torch.Tensor:
    w = torch.rand(tokens, top_k) + 0.05
    return w / w.sum(dim=1, keepdim=True)


def make_problem(
    tokens: int,
    experts: int,
    top_k: int,
    hidden: int = 64,
    inter: int = 32,
    dtype: torch.dtype = torch.float32,
    layout: fp8.ScaleLayout | None = None,
    w8a8: bool = False,
    ids: torch.Tensor | None = None,
) -> Problem:
    x = torch.randn(tokens, hidden)
    # Expert weights drawn with different magnitudes so per-expert scales matter.
    magnitude = torch.rand(experts, 1, 1) + 0.5
    w13 = torch.randn(experts, 2 * inter, hidden) * magnitude / hidden**0.5
    w2 = torch.randn(experts, hidden, inter) * magnitude / inter**0.5
    ids = random_ids(tokens, experts, top_k) if ids is None else ids
    weights = random_weights(tokens, top_k)
    if layout is None:
        return Problem(x.to(dtype), w13.to(dtype), w2.to(dtype), weights, ids)
    w2_layout = fp8.ScaleLayout.EXPERT if layout is fp8.ScaleLayout.SHARD else layout
    q13, s13 = fp8.quantize(w13, layout)
    q2, s2 = fp8.quantize(w2, w2_layout)
    scales = {"w13_scale": s13, "w2_scale": s2}
    if w8a8:
        scales["a13_scale"] = fp8.activation_scale(x)
        # Calibrated on the float intermediate, as a checkpoint's static scale would be.
        gate_up = torch.einsum("th,enh->ten", x, w13)
        hidden_act = torch.nn.functional.silu(gate_up[..., :inter]) * gate_up[..., inter:]
        scales["a2_scale"] = fp8.activation_scale(hidden_act)
    return Problem(x.to(dtype), q13, q2, weights, ids, scales)


TOLERANCE = {torch.float32: 1e-5, torch.float16: 5e-3, torch.bfloat16: 2e-2}


def fp8_rounding_allowance(problem: Problem) -> torch.Tensor:
    """How far each output may legitimately move from the float64 reference under W8A8.

    The intermediate SiLU(gate)·up is quantised to FP8 (scale a2). A kernel computes it in
    float32, the reference in float64; where a value sits within a hair of an FP8 rounding
    midpoint the two may round to neighbouring FP8 values. Each such element may shift the
    output by routing weight × a2 × one FP8 step × |W2[:, i]|; everything else must match.
    """
    x, ids, weights = problem.x, problem.ids, problem.weights
    allowance = torch.zeros(x.shape, dtype=torch.float64)
    if "a2_scale" not in problem.scales:
        return allowance
    s = problem.scales
    w13 = fp8.dequantize(problem.w13, s["w13_scale"], "w13_scale")
    w2 = fp8.dequantize(problem.w2, s["w2_scale"], "w2_scale")
    inter = w13.shape[1] // 2
    a13 = s["a13_scale"].float().reshape(-1)
    a2 = s["a2_scale"].float().reshape(-1)
    for expert in ids.unique().tolist():
        token_idx, slot_idx = (ids == expert).nonzero(as_tuple=True)
        a13_e, a2_e = a13[expert % a13.numel()], a2[expert % a2.numel()]
        xin = fp8.quantize_activation(x[token_idx], a13_e).double() * a13_e.double()
        gate_up = xin @ w13[expert].T
        gate, up = gate_up[:, :inter], gate_up[:, inter:]
        hidden_act = torch.nn.functional.silu(gate) * up
        # A generous float32 error bound for gate and up (16 ulp of the sum of |terms|),
        # carried through SiLU(gate)·up to the value being quantised.
        term_sums = (xin.abs() @ w13[expert].abs().T) * 1e-6
        sig = torch.sigmoid(gate)
        d_silu = sig * (1 + gate * (1 - sig))
        slack = ((d_silu * up).abs() * term_sums[:, :inter]
                 + (gate * sig).abs() * term_sums[:, inter:] + 1e-6 * hidden_act.abs())
        scaled = hidden_act / a2_e.double()
        exponent = torch.floor(torch.log2(scaled.abs().clamp_min(2.0**-6)))
        step = torch.exp2(exponent - 3)
        rounded = fp8.quantize_activation(hidden_act, a2_e).double()
        distance_to_midpoint = ((scaled - rounded).abs() - step / 2).abs()
        near = (distance_to_midpoint <= slack / a2_e.double()) & (scaled.abs() < fp8.FP8_MAX)
        shift = (near * step * a2_e.double()) @ w2[expert].abs().T
        allowance.index_add_(0, token_idx, shift * weights[token_idx, slot_idx, None].double())
    return allowance


def assert_matches_reference(out: torch.Tensor, problem: Problem) -> None:
    """Per token: |out − ref| ≤ tol · max |ref| (+ the W8A8 rounding allowance).

    tol is set by the activation precision (float32 ≪ 1e-5 relative, bf16 ~1e-2).
    """
    assert out.shape == problem.x.shape, f"shape {list(out.shape)} != {list(problem.x.shape)}"
    assert out.dtype == problem.x.dtype, f"dtype {out.dtype} != {problem.x.dtype}"
    ref = problem.reference()
    assert not torch.isnan(out).any(), f"{int(torch.isnan(out).sum())} output elements are NaN"
    tol = TOLERANCE[problem.x.dtype]
    size = ref.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
    excess = (out.double() - ref).abs() - fp8_rounding_allowance(problem)
    worst = (excess / size).max()
    assert worst <= tol, f"worst error beyond allowance {worst:.3e} > {tol} (× max |ref| per token)"


def same_bits_on_one_and_two_threads(call: Callable[[], torch.Tensor]) -> bool:
    """Whether `call` returns the same bits on 1 and on 2 threads (each value must be
    computed by one thread in a fixed order)."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = call()
        torch.set_num_threads(2)
        two = call()
    finally:
        torch.set_num_threads(before)
    return torch.equal(one, two)
