"""Argument checks for `kernels.moe`: every error names the tensor and the shape it expected."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kernels.fp8 import FP8_DTYPE, ScaleLayout, scale_layout

ACTIVATION_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@dataclass(frozen=True)
class MoeProblem:
    """The sizes and the quantisation mode of one `moe` call, read from its arguments."""

    tokens: int
    hidden: int
    intermediate: int
    experts: int
    top_k: int
    fp8: bool
    w13_layout: ScaleLayout | None
    w2_layout: ScaleLayout | None
    # Static activation quantisation (W8A8) when the activation scales are given;
    # without them FP8 weights are dequantised inside the GEMM (W8A16).
    quantize_activations: bool


def _check_activation_scale(scale: torch.Tensor | None, name: str, experts: int) -> None:
    if scale is None:
        return
    if not isinstance(scale, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(scale).__name__}")
    if tuple(scale.shape) not in ((), (1,), (experts,)):
        raise ValueError(
            f"{name} has shape {list(scale.shape)}; expected [] or [1] (per tensor) "
            f"or [{experts}] (per expert)"
        )
    if not scale.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got {scale.dtype}")


def check_ids_range(ids: torch.Tensor, experts: int) -> None:
    """ValueError unless every id is an expert index (reads ``ids`` on the host)."""
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= experts):
        raise ValueError(f"ids has values outside [0, {experts}) (min {int(ids.min())}, "
                         f"max {int(ids.max())})")


def check_moe_args(
    x: torch.Tensor,
    w13: torch.Tensor,
    w2: torch.Tensor,
    weights: torch.Tensor,
    ids: torch.Tensor,
    w13_scale: torch.Tensor | None,
    w2_scale: torch.Tensor | None,
    a13_scale: torch.Tensor | None,
    a2_scale: torch.Tensor | None,
    *,
    check_ids: bool = True,
) -> MoeProblem:
    """The problem `moe` was given, or a clear error. ``check_ids=False`` leaves the range of
    ``ids`` to the caller (`check_ids_range`), for a path whose kernel checks it anyway."""
    named = {"x": x, "w13": w13, "w2": w2, "weights": weights, "ids": ids}
    for name, t in named.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    # Shapes read once: this runs on every MoE layer of every decode step.
    x_shape, w13_shape, ids_shape = x.shape, w13.shape, ids.shape
    if len(x_shape) != 2:
        raise ValueError(f"x has shape {list(x_shape)}; expected [tokens, hidden]")
    if x.dtype not in ACTIVATION_DTYPES:
        raise TypeError(f"x has dtype {x.dtype}; expected float32, bfloat16 or float16")
    tokens, hidden = x_shape
    if len(w13_shape) != 3 or w13_shape[2] != hidden or w13_shape[1] % 2:
        raise ValueError(
            f"w13 has shape {list(w13_shape)}; expected [experts, 2*intermediate, {hidden}] "
            "(gate rows first, then up rows)"
        )
    experts, intermediate = w13_shape[0], w13_shape[1] // 2
    if w2.shape != (experts, hidden, intermediate):
        raise ValueError(
            f"w2 has shape {list(w2.shape)}; expected [{experts}, {hidden}, {intermediate}]"
        )
    if len(ids_shape) != 2 or ids_shape[0] != tokens:
        raise ValueError(f"ids has shape {list(ids_shape)}; expected [{tokens}, top_k]")
    top_k = ids_shape[1]
    if top_k < 1:
        raise ValueError("ids has top_k = 0; expected at least one expert per token")
    if ids.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"ids has dtype {ids.dtype}; expected int32 or int64")
    if weights.shape != (tokens, top_k):
        raise ValueError(f"weights has shape {list(weights.shape)}; expected [{tokens}, {top_k}]")
    if not weights.is_floating_point():
        raise TypeError(f"weights has dtype {weights.dtype}; expected a floating dtype")
    device = x.device
    if not (w13.device == device and w2.device == device and weights.device == device
            and ids.device == device):
        devices = {t.device for t in named.values()}
        raise ValueError(f"x, w13, w2, weights and ids must share one device, got {devices}")
    # The range check reads ids back to the host; on a GPU that sync would cost more than a
    # decode step, so it runs only where it is free (and not when the caller's kernel checks).
    if check_ids and device.type == "cpu":
        check_ids_range(ids, experts)

    fp8 = w13.dtype == FP8_DTYPE
    for name, w in (("w13", w13), ("w2", w2)):
        if w.dtype not in (x.dtype, FP8_DTYPE):
            raise TypeError(
                f"{name} has dtype {w.dtype}; expected {x.dtype} (as x) or float8_e4m3fn"
            )
    if w2.dtype != w13.dtype:
        raise TypeError(f"w13 is {w13.dtype} but w2 is {w2.dtype}; expected the same dtype")

    w13_layout = w2_layout = None
    if fp8:
        if w13_scale is None or w2_scale is None:
            raise ValueError("FP8 weights need w13_scale and w2_scale (dequantised = fp8 * scale)")
        w13_layout = scale_layout(w13_scale, tuple(w13.shape), "w13_scale")
        w2_layout = scale_layout(w2_scale, tuple(w2.shape), "w2_scale")
    elif w13_scale is not None or w2_scale is not None:
        raise ValueError(f"w13_scale/w2_scale given but the weights are {w13.dtype}, not FP8")
    if (a13_scale is None) != (a2_scale is None):
        raise ValueError("give both a13_scale and a2_scale (static W8A8) or neither")
    if a13_scale is not None and not fp8:
        raise ValueError("a13_scale/a2_scale need FP8 weights (static W8A8 quantisation)")
    _check_activation_scale(a13_scale, "a13_scale", experts)
    _check_activation_scale(a2_scale, "a2_scale", experts)
    return MoeProblem(
        tokens=tokens,
        hidden=hidden,
        intermediate=intermediate,
        experts=experts,
        top_k=top_k,
        fp8=fp8,
        w13_layout=w13_layout,
        w2_layout=w2_layout,
        quantize_activations=a13_scale is not None,
    )
