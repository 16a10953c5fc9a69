"""`moe`: the one entry point the model and the engine call; it picks the path by device."""

from __future__ import annotations

import torch

from kernels import cpu_native
from kernels.backend import Backend, requested_backend, resolve_backend, triton_module
from kernels.cpu import moe_cpu
from kernels.validate import check_moe_args


def moe(
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
    backend: Backend | None = None,
    deterministic: bool = True,
    config: dict | None = None,
) -> torch.Tensor:
    """Routed experts: ``out[t] = Σ_k weights[t,k] · W2[e] (SiLU(W1[e] x_t) ⊙ W3[e] x_t)``.

    Layout as vLLM: ``x [T, H]``; ``w13 [E, 2I, H]`` (gate rows, then up rows);
    ``w2 [E, H, I]``; ``weights [T, k]`` and ``ids [T, k]`` from `kernels.route`.
    Weights are ``x.dtype`` or FP8 E4M3 with ``w13_scale``/``w2_scale`` (per tensor,
    per expert, or 128×128 blocks — see `kernels.fp8`); static activation scales
    ``a13_scale``/``a2_scale`` make it W8A8, without them FP8 weights are dequantised in the
    GEMM. Returns ``[T, H]`` in ``x.dtype``.

    ``backend``: "auto" (CUDA → Triton, CPU → torch), "torch", or "triton" (on CPU tensors it
    runs under the Triton interpreter, for tests). ``deterministic=False`` lets the GPU sum
    the top-k results with atomics instead of a fixed-order reduction. ``config`` overrides
    the Triton launch configuration (see `kernels.configs`).
    """
    if (w13_scale is None and w2_scale is None and a13_scale is None and a2_scale is None
            and isinstance(x, torch.Tensor) and x.is_cpu
            and requested_backend(backend) in ("auto", "torch")):
        # The common CPU call (see `fused_moe_if_plain` for why it skips the full check).
        out = cpu_native.fused_moe_if_plain(x, w13, w2, weights, ids)
        if out is not None:
            return out
    chosen = resolve_backend(x.device, backend)
    # The CPU path checks the ids' range itself (in the kernel where it has one).
    problem = check_moe_args(x, w13, w2, weights, ids, w13_scale, w2_scale, a13_scale, a2_scale,
                             check_ids=chosen == "triton")
    scales = {
        "w13_scale": w13_scale,
        "w2_scale": w2_scale,
        "a13_scale": a13_scale,
        "a2_scale": a2_scale,
    }
    if chosen == "triton":
        module = triton_module("triton_moe", x.device)
        return module.moe_triton(
            x, w13, w2, weights, ids, problem, deterministic=deterministic, config=config,
            **scales,
        )
    return moe_cpu(x, w13, w2, weights, ids, problem, **scales)
