"""The shared expert as an always-on extra routed expert.

The model has 128 routed experts plus one shared expert that every token uses with weight 1.
Appending the shared expert's weights as expert ``E`` (once, at load time, with
`with_shared_expert`) and a column ``(E, 1.0)`` to every token's route (per step, with
`add_shared_route`) lets one `kernels.moe` call do both: the shared expert's weights stream
through the same grouped GEMM and its output is summed with the routed ones. This is exact:
the shared expert is the same SiLU-gated MLP, and its weight 1.0 multiplies exactly.

    experts = with_shared_expert(w13, w2, shared_w13, shared_w2)        # load time
    weights, ids = kernels.route(logits, 4)
    weights, ids = add_shared_route(weights, ids, shared_id=w13.shape[0])
    out = kernels.moe(x, experts.w13, experts.w2, weights, ids, **experts.scales())
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from kernels.fp8 import ScaleLayout, scale_layout


class ExpertWeights(NamedTuple):
    w13: torch.Tensor
    w2: torch.Tensor
    w13_scale: torch.Tensor | None = None
    w2_scale: torch.Tensor | None = None
    a13_scale: torch.Tensor | None = None
    a2_scale: torch.Tensor | None = None

    def scales(self) -> dict[str, torch.Tensor | None]:
        return {
            "w13_scale": self.w13_scale,
            "w2_scale": self.w2_scale,
            "a13_scale": self.a13_scale,
            "a2_scale": self.a2_scale,
        }


def _merge_weight_scale(
    routed: torch.Tensor, shared: torch.Tensor, routed_shape: tuple[int, ...], name: str
) -> torch.Tensor:
    experts = routed_shape[0]
    routed_layout = scale_layout(routed, routed_shape, name)
    # One expert's scale: [] or [1] per tensor, [2] gate/up, [N/128, K/128] blocks.
    if tuple(shared.shape) == (2,):
        shared = shared.reshape(1, 2)
    elif shared.dim() >= 2:
        shared = shared[None]
    shared_layout = scale_layout(shared, (1, *routed_shape[1:]), name)
    if ScaleLayout.BLOCK in (routed_layout, shared_layout):
        if routed_layout is not shared_layout:
            raise ValueError(f"{name}: block scales can only be merged with block scales")
        return torch.cat([routed, shared.to(routed.dtype)])
    if ScaleLayout.SHARD in (routed_layout, shared_layout):
        as_shard = [
            s.reshape(-1, 2) if layout is ScaleLayout.SHARD else s.reshape(-1, 1).expand(-1, 2)
            for s, layout in ((routed, routed_layout), (shared, shared_layout))
        ]
        routed_shard = as_shard[0].expand(experts, 2)
        return torch.cat([routed_shard, as_shard[1].to(routed.dtype)]).contiguous()
    per_expert = routed.reshape(-1).expand(experts)
    return torch.cat([per_expert, shared.reshape(1).to(routed.dtype)]).contiguous()


def _merge_activation_scale(
    routed: torch.Tensor | None, shared: torch.Tensor | None, experts: int, name: str
) -> torch.Tensor | None:
    if routed is None and shared is None:
        return None
    if routed is None or shared is None:
        raise ValueError(f"{name}: give the routed and the shared scale, or neither")
    return torch.cat([routed.reshape(-1).expand(experts), shared.reshape(1).to(routed.dtype)])


def with_shared_expert(
    w13: torch.Tensor,
    w2: torch.Tensor,
    shared_w13: torch.Tensor,
    shared_w2: torch.Tensor,
    *,
    w13_scale: torch.Tensor | None = None,
    w2_scale: torch.Tensor | None = None,
    shared_w13_scale: torch.Tensor | None = None,
    shared_w2_scale: torch.Tensor | None = None,
    a13_scale: torch.Tensor | None = None,
    a2_scale: torch.Tensor | None = None,
    shared_a13_scale: torch.Tensor | None = None,
    shared_a2_scale: torch.Tensor | None = None,
) -> ExpertWeights:
    """Routed experts ``[E, …]`` plus the shared expert as expert ``E`` → ``[E + 1, …]``.

    ``shared_w13 [2I, H]`` and ``shared_w2 [H, I]`` must have the routed experts' sizes and
    dtype. Scales are promoted to per-expert form where the two sides differ in layout.
    """
    experts = w13.shape[0]
    if tuple(shared_w13.shape) != tuple(w13.shape[1:]):
        raise ValueError(f"shared_w13 has shape {list(shared_w13.shape)}; "
                         f"expected {list(w13.shape[1:])} (as one routed expert)")
    if tuple(shared_w2.shape) != tuple(w2.shape[1:]):
        raise ValueError(f"shared_w2 has shape {list(shared_w2.shape)}; "
                         f"expected {list(w2.shape[1:])} (as one routed expert)")
    if shared_w13.dtype != w13.dtype or shared_w2.dtype != w2.dtype:
        raise TypeError("the shared expert's weights must have the routed experts' dtype")
    merged_w13 = torch.cat([w13, shared_w13[None]])
    merged_w2 = torch.cat([w2, shared_w2[None]])
    scales: list[torch.Tensor | None] = []
    for name, routed, shared, shape in (
        ("w13_scale", w13_scale, shared_w13_scale, tuple(w13.shape)),
        ("w2_scale", w2_scale, shared_w2_scale, tuple(w2.shape)),
    ):
        if routed is None and shared is None:
            scales.append(None)
        elif routed is None or shared is None:
            raise ValueError(f"{name}: give the routed and the shared scale, or neither")
        else:
            scales.append(_merge_weight_scale(routed, shared, shape, name))
    return ExpertWeights(
        merged_w13,
        merged_w2,
        scales[0],
        scales[1],
        _merge_activation_scale(a13_scale, shared_a13_scale, experts, "a13_scale"),
        _merge_activation_scale(a2_scale, shared_a2_scale, experts, "a2_scale"),
    )


def add_shared_route(
    weights: torch.Tensor, ids: torch.Tensor, shared_id: int, shared_weight: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Append the always-on shared expert to every token's route: ``[T, k]`` → ``[T, k + 1]``."""
    tokens = ids.shape[0]
    shared_ids = torch.full((tokens, 1), shared_id, dtype=ids.dtype, device=ids.device)
    shared_weights = torch.full((tokens, 1), shared_weight, dtype=weights.dtype,
                                device=weights.device)
    return torch.cat([weights, shared_weights], dim=1), torch.cat([ids, shared_ids], dim=1)
