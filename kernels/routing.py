"""Router: scores → top-k experts per token, with renormalisation and scaling.

The model's router is softmax over all experts, top-4, renormalised to sum 1, times 1.0.
The general grouped form (DeepSeek-V2 style) first keeps the ``topk_group`` best of
``num_groups`` expert groups (a group's score is its best expert's score) and picks the top-k
among the experts of those groups. ``scoring="sigmoid"`` scores each expert independently.

On CUDA (or with the Triton backend forced under the interpreter) this is one fused Triton
kernel; on CPU it is a handful of torch ops, which is what is fastest there.
"""

from __future__ import annotations

from typing import Literal

import torch

from kernels.backend import Backend, resolve_backend, triton_module

Scoring = Literal["softmax", "sigmoid"]


def check_route_args(
    router_logits: torch.Tensor, top_k: int, num_groups: int, topk_group: int, scoring: str
) -> None:
    if not isinstance(router_logits, torch.Tensor) or router_logits.dim() != 2:
        shape = list(getattr(router_logits, "shape", []))
        raise ValueError(f"router_logits has shape {shape}; expected [tokens, experts]")
    if not router_logits.is_floating_point():
        raise TypeError(f"router_logits has dtype {router_logits.dtype}; expected a float dtype")
    experts = router_logits.shape[1]
    if scoring not in ("softmax", "sigmoid"):
        raise ValueError(f"scoring is {scoring!r}; expected 'softmax' or 'sigmoid'")
    if num_groups < 1 or experts % num_groups:
        raise ValueError(f"num_groups={num_groups} must be ≥ 1 and divide experts={experts}")
    if not 1 <= topk_group <= num_groups:
        raise ValueError(f"topk_group={topk_group} must be in [1, num_groups={num_groups}]")
    eligible = topk_group * (experts // num_groups)
    if not 1 <= top_k <= eligible:
        raise ValueError(
            f"top_k={top_k} must be in [1, {eligible}] (experts in the {topk_group} kept groups)"
        )


def route_torch(
    router_logits: torch.Tensor,
    top_k: int,
    renormalize: bool = True,
    scaling: float = 1.0,
    *,
    num_groups: int = 1,
    topk_group: int = 1,
    scoring: Scoring = "softmax",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The torch form; returns ``(float32 weights [T, k], int32 ids [T, k])``."""
    logits = router_logits.float()
    scores = logits.softmax(dim=-1) if scoring == "softmax" else logits.sigmoid()
    if num_groups > 1 and topk_group < num_groups:
        tokens, experts = scores.shape
        grouped = scores.view(tokens, num_groups, experts // num_groups)
        kept_groups = grouped.amax(dim=-1).topk(topk_group, dim=-1).indices
        keep = torch.zeros(tokens, num_groups, dtype=torch.bool, device=scores.device)
        keep.scatter_(1, kept_groups, True)
        candidates = grouped.masked_fill(~keep[:, :, None], float("-inf")).view(tokens, experts)
        ids = candidates.topk(top_k, dim=-1).indices
        weights = scores.gather(1, ids)
    else:
        weights, ids = scores.topk(top_k, dim=-1)
    if renormalize:
        weights = weights / weights.sum(dim=-1, keepdim=True)
    if scaling != 1.0:
        weights = weights * scaling
    return weights, ids.to(torch.int32)


def route(
    router_logits: torch.Tensor,
    top_k: int,
    renormalize: bool = True,
    scaling: float = 1.0,
    *,
    num_groups: int = 1,
    topk_group: int = 1,
    scoring: Scoring = "softmax",
    backend: Backend | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick ``top_k`` experts per token; returns ``(float32 weights [T, k], int32 ids [T, k])``.

    ``backend`` ("auto", "torch" or "triton"; default from ``TESSERA_MOE_BACKEND``, else auto)
    chooses the implementation; "triton" on a CPU tensor runs under the Triton interpreter.
    """
    check_route_args(router_logits, top_k, num_groups, topk_group, scoring)
    chosen = resolve_backend(router_logits.device, backend)
    if chosen == "triton":
        module = triton_module("triton_routing", router_logits.device)
        return module.route_triton(
            router_logits, top_k, renormalize, scaling,
            num_groups=num_groups, topk_group=topk_group, scoring=scoring,
        )
    return route_torch(
        router_logits, top_k, renormalize, scaling,
        num_groups=num_groups, topk_group=topk_group, scoring=scoring,
    )
