"""The one call from inside vLLM into `kernels/`: routed experts of one MoE layer."""

from __future__ import annotations

from functools import cache
from typing import Any

import torch

from model.vllm_plugin.counter import COUNTER


@cache
def backend_for(device_type: str) -> str:
    """`kernels.moe`'s backend for this engine process, read once: the environment that picks
    it is fixed when the engine starts, and reading it costs tens of µs per layer per step
    with cold caches."""
    from kernels.backend import resolve_backend

    return resolve_backend(torch.device(device_type), None)


def run_routed_experts(
    layer: Any,
    x: torch.Tensor,
    topk_weights: torch.Tensor,
    topk_ids: torch.Tensor,
    *,
    precision: str,
    w13_scale: torch.Tensor | None = None,
    w2_scale: torch.Tensor | None = None,
    a13_scale: torch.Tensor | None = None,
    a2_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """``Σ_k w[t,k] · expert_k(x_t)`` over this rank's experts, with vLLM's router choices.

    Under expert parallelism vLLM hands us global expert ids and a map to local slots (-1 for
    experts that live on another rank): those get weight 0 here, and vLLM's combine step sums
    the ranks. Under tensor parallelism the result is this rank's partial sum, reduced by vLLM.
    """
    import kernels

    backend = backend_for(x.device.type)
    weights, ids = topk_weights, topk_ids
    expert_map = layer.expert_map
    if expert_map is not None:
        local = expert_map[ids.long()]
        weights = torch.where(local >= 0, weights, torch.zeros_like(weights))
        ids = local.clamp_min(0)
    out = kernels.moe(
        x, layer.w13_weight, layer.w2_weight, weights.float(), ids.to(torch.int32),
        w13_scale=w13_scale, w2_scale=w2_scale, a13_scale=a13_scale, a2_scale=a2_scale,
        backend=backend,
    )
    COUNTER.record(x.shape[0], f"{precision}/{backend}")
    return out
