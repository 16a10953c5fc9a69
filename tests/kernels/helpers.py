"""Random MoE problems and the comparison against the float64 reference."""

from __future__ import annotations

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


def assert_matches_reference(out: torch.Tensor, problem: Problem) -> None:
    """Per token: max |out − ref| ≤ tol · max |ref|, tol set by the activation precision.

    With FP8 activations (W8A8) an element whose float32 and float64 values straddle an FP8
    rounding boundary rounds one FP8 step apart in the kernel and the reference, rarely
    but legitimately. There every token must be within FP8 precision and the median token
    within the activation precision, which still catches any systematic error.
    """
    assert out.shape == problem.x.shape, f"shape {list(out.shape)} != {list(problem.x.shape)}"
    assert out.dtype == problem.x.dtype, f"dtype {out.dtype} != {problem.x.dtype}"
    ref = problem.reference()
    assert not torch.isnan(out).any(), f"{int(torch.isnan(out).sum())} output elements are NaN"
    err = (out.double() - ref).abs().amax(dim=1)
    size = ref.abs().amax(dim=1).clamp_min(1e-12)
    token_error = err / size
    tol = TOLERANCE[problem.x.dtype]
    if "a13_scale" in problem.scales:
        assert token_error.max() <= max(tol, 3e-2), f"worst token error {token_error.max():.3e}"
        assert token_error.median() <= tol, f"median token error {token_error.median():.3e}"
    else:
        assert token_error.max() <= tol, f"worst token error {token_error.max():.3e} > {tol}"
