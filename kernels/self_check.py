"""Our MoE kernels checked against a trusted implementation before an engine serves with them.

`check_moe` runs ``kernels.moe`` on a slice of a layer's real expert weights (the model's real
hidden and intermediate widths, as loaded: FP8 with its scales, or bf16/fp32) at a few token
counts and compares each result with a reference:

- on CUDA, vLLM's built-in fused MoE (`fused_experts_op`) on the same weights dequantised
  to the activations' dtype (the reference the engine would otherwise serve with);
- on CPU, the float64 oracle (`kernels.reference.moe_reference`, the same quantisation
  semantics): there the native path this CPU runs (AVX2, or AVX-512 BF16 for FP8 decode) is
  what is checked, and with FP8 weights on CPU vLLM has no built-in path to compare with.

A compile error, an exception or a result beyond tolerance gives a failed `Check` with the
reason; the caller switches to its fallback. ``TESSERA_SELF_CHECK_FAULT=raise|wrong`` injects
a fault into our side of the check (a kernel that raises, one that returns wrong values) so
the fallback can be tested end to end; it never touches serving calls.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from kernels.fp8 import FP8_DTYPE, dequantize

FAULT_ENV = "TESSERA_SELF_CHECK_FAULT"
CHECK_TOKENS = (1, 16, 64)
CHECK_EXPERTS = 8
# max |ours − reference| / max |reference| per token; FP8 with static activation scales may
# round a value to the neighbouring FP8 step where the reference lands on the other side of
# a midpoint, and against vLLM's unquantised op it differs by the activation quantisation.
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 3e-2, torch.float16: 1e-2}
FP8_TOLERANCE = {"oracle": 3e-2, "vllm": 0.12}


@dataclass(frozen=True)
class Check:
    ok: bool
    reason: str | None  # why it failed; None when it passed
    details: str  # the token counts and worst errors measured


@dataclass(frozen=True)
class ExpertWeights:
    """A layer's experts as loaded (scales as `kernels.moe` takes them)."""

    w13: torch.Tensor
    w2: torch.Tensor
    top_k: int
    activation_dtype: torch.dtype
    w13_scale: torch.Tensor | None = None
    w2_scale: torch.Tensor | None = None
    a13_scale: torch.Tensor | None = None
    a2_scale: torch.Tensor | None = None

    def sliced(self, experts: int) -> ExpertWeights:
        total = self.w13.shape[0]

        def cut(t: torch.Tensor | None) -> torch.Tensor | None:
            if t is None or t.numel() == 1 or t.dim() == 0 or t.shape[0] != total:
                return t
            return t[:experts].contiguous()

        return ExpertWeights(self.w13[:experts].contiguous(), self.w2[:experts].contiguous(),
                             min(self.top_k, experts), self.activation_dtype,
                             cut(self.w13_scale), cut(self.w2_scale), cut(self.a13_scale),
                             cut(self.a2_scale))

    @property
    def scales(self) -> dict[str, torch.Tensor | None]:
        return {"w13_scale": self.w13_scale, "w2_scale": self.w2_scale,
                "a13_scale": self.a13_scale, "a2_scale": self.a2_scale}


def _ours(experts: ExpertWeights, x, weights, ids, backend: str | None) -> torch.Tensor:
    import kernels

    fault = os.environ.get(FAULT_ENV, "")
    if fault == "raise":
        raise RuntimeError(f"fault injected by {FAULT_ENV}=raise")
    out = kernels.moe(x, experts.w13, experts.w2, weights, ids, **experts.scales,
                      backend=backend)
    return -out if fault == "wrong" else out


def _vllm_reference(experts: ExpertWeights, x, weights, ids) -> torch.Tensor:
    from vllm.model_executor.layers.fused_moe.fused_moe import fused_experts_op

    w13, w2 = experts.w13, experts.w2
    if w13.dtype == FP8_DTYPE:
        w13 = dequantize(w13, experts.w13_scale, "w13_scale", x.dtype)
        w2 = dequantize(w2, experts.w2_scale, "w2_scale", x.dtype)
    return fused_experts_op(x, w13, w2, weights, ids.to(torch.int32))


def _oracle(experts: ExpertWeights, x, weights, ids) -> torch.Tensor:
    from kernels.reference import moe_reference

    return moe_reference(x, experts.w13, experts.w2, weights, ids, **experts.scales)


def check_moe(experts: ExpertWeights, backend: str | None = None,
              tokens: tuple[int, ...] = CHECK_TOKENS) -> Check:
    """Ours against the reference for this device on `CHECK_EXPERTS` of the layer's experts."""
    sliced = experts.sliced(CHECK_EXPERTS)
    device = sliced.w13.device
    use_vllm = device.type == "cuda"
    reference = _vllm_reference if use_vllm else _oracle
    fp8 = sliced.w13.dtype == FP8_DTYPE
    tolerance = (FP8_TOLERANCE["vllm" if use_vllm else "oracle"] if fp8
                 else TOLERANCE.get(sliced.activation_dtype, 3e-2))
    generator = torch.Generator().manual_seed(0)
    hidden = sliced.w13.shape[2]
    n_experts = sliced.w13.shape[0]
    measured = []
    for count in tokens:
        x = torch.randn(count, hidden, generator=generator).to(sliced.activation_dtype)
        ids = torch.rand(count, n_experts, generator=generator).argsort(dim=1)[:, :sliced.top_k]
        weights = torch.rand(count, sliced.top_k, generator=generator) + 0.05
        weights = weights / weights.sum(dim=1, keepdim=True)
        x, ids, weights = x.to(device), ids.to(torch.int32).to(device), weights.to(device)
        try:
            ours = _ours(sliced, x, weights, ids, backend)
            if device.type == "cuda":
                torch.cuda.synchronize()
        except Exception as exc:  # a compile error or any failure of our kernel
            return Check(False, f"our kernel failed at {count} tokens: "
                                f"{type(exc).__name__}: {str(exc)[:300]}", "; ".join(measured))
        ref = reference(sliced, x, weights, ids).double()
        size = ref.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
        finite = bool(torch.isfinite(ours).all())
        worst = float(((ours.double() - ref).abs() / size).max()) if finite else float("inf")
        measured.append(f"{count} tokens: {worst:.1e}")
        if not worst <= tolerance:
            return Check(False, f"our result differs from {reference_name(device)} at {count} "
                                f"tokens: worst {worst:.2e} > {tolerance:.0e} of the output",
                         "; ".join(measured))
    return Check(True, None, "; ".join(measured))


def reference_name(device: torch.device) -> str:
    return "vLLM's fused MoE" if device.type == "cuda" else "the float64 oracle"
