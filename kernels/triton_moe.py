"""Launching the Triton MoE kernels: tiles, quantisation mode, buffers, the top-k sum.

Import through `kernels.backend.triton_module` (it sets up the interpreter on CPU).
"""

from __future__ import annotations

import functools

import torch
import triton

from kernels import buffers
from kernels import triton_kernels as tk
from kernels.configs import (
    LaunchConfig,
    Tile,
    config_file_name,
    default_config,
    load_configs,
    pick_config,
)
from kernels.dispatch import sort_by_expert
from kernels.fp8 import FP8_DTYPE, SCALE_BLOCK, ScaleLayout
from kernels.validate import MoeProblem

INTERPRETED = tk.INTERPRETED

_W_SCALE_MODE = {
    None: 0,
    ScaleLayout.TENSOR: 1,
    ScaleLayout.EXPERT: 2,
    ScaleLayout.SHARD: 3,
    ScaleLayout.BLOCK: 4,
}
_DTYPE_TAG = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


def dtype_tag(problem: MoeProblem, x_dtype: torch.dtype) -> str:
    if not problem.fp8:
        return _DTYPE_TAG[x_dtype]
    if problem.w13_layout is ScaleLayout.BLOCK:
        return "fp8_block"
    return "fp8_w8a8" if problem.quantize_activations else "fp8_w8a16"


@functools.cache
def _device_name(index: int) -> str:
    return torch.cuda.get_device_name(index)


def choose_config(problem: MoeProblem, x: torch.Tensor, config: dict | None) -> LaunchConfig:
    if config is not None:
        return LaunchConfig.from_json(config)
    if x.device.type == "cuda":
        device = _device_name(x.device.index if x.device.index is not None else 0)
        name = config_file_name(problem.experts, problem.hidden, problem.intermediate,
                                dtype_tag(problem, x.dtype), device)
        table = load_configs(name)
        if table:
            return pick_config(table, problem.tokens)
    return default_config(problem.tokens, problem.top_k, problem.fp8)


def _fit(tile: Tile, rows: int, cols: int, depth: int, blocked: bool, is_gemm: bool) -> Tile:
    """Shrink a tile to the problem (tiny test shapes) and to the scale blocks."""
    floor = 16 if is_gemm else 1  # tl.dot needs 16 in every dimension
    block_k = min(tile.block_k, max(16, triton.next_power_of_2(depth)))
    if blocked:
        block_k = min(block_k, SCALE_BLOCK)  # one weight scale per K step
    return Tile(
        block_m=max(floor, min(tile.block_m, triton.next_power_of_2(max(rows, 1)))),
        block_n=max(16, min(tile.block_n, triton.next_power_of_2(cols))),
        block_k=block_k,
        num_warps=tile.num_warps,
        num_stages=tile.num_stages,
    )


@functools.cache
def _placeholder(device: torch.device) -> torch.Tensor:
    # Stands in for absent scale pointers (the kernels never read it).
    return torch.ones(1, dtype=torch.float32, device=device)


def _scale_args(scale: torch.Tensor | None, layout: ScaleLayout | None, dummy: torch.Tensor):
    if scale is None:
        return dummy, 0, 0
    s = scale.to(device=dummy.device, dtype=torch.float32).contiguous()
    if layout is ScaleLayout.BLOCK:
        return s, s.stride(0), s.stride(1)
    return s.reshape(-1), 0, 0


def _act_scale_args(scale: torch.Tensor | None, dummy: torch.Tensor) -> tuple[torch.Tensor, int]:
    if scale is None:
        return dummy, 0
    s = scale.to(device=dummy.device, dtype=torch.float32).reshape(-1).contiguous()
    return s, 1 if s.numel() == 1 else 2


def _launch_opts(tile: Tile) -> dict:
    return {"num_warps": tile.num_warps, "num_stages": tile.num_stages}


def moe_triton(
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
    deterministic: bool = True,
    config: dict | None = None,
) -> torch.Tensor:
    """Arguments as `kernels.moe` (already checked into ``problem``)."""
    tokens, hidden, top_k = problem.tokens, problem.hidden, problem.top_k
    inter = problem.intermediate
    for name, w in (("w13", w13), ("w2", w2)):
        if w.stride(2) != 1:
            raise ValueError(f"{name} must be contiguous in its last dimension for Triton")
    out = buffers.empty(tokens, hidden, dtype=x.dtype, device=x.device)
    if tokens == 0:
        return out
    x = x.contiguous()
    ids = ids.to(torch.int32).contiguous()
    weights = weights.float().contiguous()
    num_pairs = tokens * top_k
    dummy = _placeholder(x.device)
    s13, s13_e, s13_n = _scale_args(w13_scale, problem.w13_layout, dummy)
    s2, s2_e, s2_n = _scale_args(w2_scale, problem.w2_layout, dummy)
    a13, a13_mode = _act_scale_args(a13_scale, dummy)
    a2, a2_mode = _act_scale_args(a2_scale, dummy)
    w13_mode, w2_mode = _W_SCALE_MODE[problem.w13_layout], _W_SCALE_MODE[problem.w2_layout]
    blocked = problem.w13_layout is ScaleLayout.BLOCK or problem.w2_layout is ScaleLayout.BLOCK
    w8a8 = problem.quantize_activations
    h = buffers.empty(num_pairs, inter, dtype=FP8_DTYPE if w8a8 else x.dtype, device=x.device)
    # float32 activations want IEEE fp32 dots; the interpreter's bf16 and FP8 dots are wrong.
    upcast = x.dtype == torch.float32 or INTERPRETED
    weight_only = problem.fp8 and not w8a8
    cfg = choose_config(problem, x, config)

    if cfg.path == "direct":
        gu = _fit(cfg.gate_up, 1, inter, hidden, blocked, is_gemm=False)
        tk._gate_up_direct[(num_pairs, triton.cdiv(inter, gu.block_n))](
            x, w13, h, ids, s13, a13, a2, hidden, inter,
            x.stride(0), w13.stride(0), w13.stride(1), h.stride(0), s13_e, s13_n,
            TOP_K=top_k, BLOCK_N=gu.block_n, BLOCK_K=gu.block_k,
            W_SCALE=w13_mode, A_SCALE=a13_mode, QUANT_OUT=a2_mode, **_launch_opts(gu),
        )
        dn = _fit(cfg.down, 1, hidden, inter, blocked, is_gemm=False)
        tk._down_direct[(tokens, triton.cdiv(hidden, dn.block_n))](
            h, w2, out, weights, ids, s2, a2, hidden, inter,
            h.stride(0), w2.stride(0), w2.stride(1), out.stride(0), s2_e, s2_n,
            TOP_K=top_k, BLOCK_N=dn.block_n, BLOCK_K=dn.block_k,
            W_SCALE=w2_mode, A_SCALE=a2_mode, **_launch_opts(dn),
        )
        return out

    gu = _fit(cfg.gate_up, num_pairs, inter, hidden, blocked, is_gemm=True)
    dn = _fit(cfg.down, num_pairs, hidden, inter, blocked, is_gemm=True)
    gu_sorted = sort_by_expert(ids, problem.experts, gu.block_m)
    dn_sorted = gu_sorted if dn.block_m == gu.block_m else sort_by_expert(
        ids, problem.experts, dn.block_m)
    tk._gate_up_sorted[(gu_sorted.max_blocks, triton.cdiv(inter, gu.block_n))](
        x, w13, h, gu_sorted.pair_ids, gu_sorted.block_experts, gu_sorted.num_padded_rows,
        s13, a13, a2, num_pairs, hidden, inter,
        x.stride(0), w13.stride(0), w13.stride(1), h.stride(0), s13_e, s13_n,
        TOP_K=top_k, BLOCK_M=gu.block_m, BLOCK_N=gu.block_n, BLOCK_K=gu.block_k,
        W_SCALE=w13_mode, A_SCALE=a13_mode, QUANT_OUT=a2_mode,
        UPCAST=upcast, WEIGHT_ONLY=weight_only, **_launch_opts(gu),
    )
    if deterministic:
        partial = buffers.empty(num_pairs, hidden, dtype=torch.float32, device=x.device)
    else:
        partial = torch.zeros(tokens, hidden, dtype=torch.float32, device=x.device)
    tk._down_sorted[(dn_sorted.max_blocks, triton.cdiv(hidden, dn.block_n))](
        h, w2, partial, weights, dn_sorted.pair_ids, dn_sorted.block_experts,
        dn_sorted.num_padded_rows, s2, a2, num_pairs, hidden, inter,
        h.stride(0), w2.stride(0), w2.stride(1), partial.stride(0), s2_e, s2_n,
        TOP_K=top_k, BLOCK_M=dn.block_m, BLOCK_N=dn.block_n, BLOCK_K=dn.block_k,
        W_SCALE=w2_mode, A_SCALE=a2_mode, UPCAST=upcast, WEIGHT_ONLY=weight_only,
        ATOMIC=not deterministic, **_launch_opts(dn),
    )
    if deterministic:
        # A fixed-order sum over the top-k slots: the same bits on every run.
        partial = partial.view(tokens, top_k, hidden).sum(dim=1)
    out.copy_(partial)
    return out
