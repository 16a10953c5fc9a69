"""The Triton MoE kernels themselves (launch code is in `kernels.triton_moe`).

Four kernels, two per path:

- sorted path (prefill, large batches): row blocks of pairs grouped by expert
  (`kernels.dispatch.sort_by_expert`); `_gate_up_sorted` is a grouped GEMM over H with gate
  and up accumulated side by side and SiLU(gate)·up fused in the epilogue; `_down_sorted` is a
  grouped GEMM over I that multiplies each row by its routing weight and writes one row per
  pair (summed over the top-k afterwards in a fixed order) or atomically adds into the token.
- direct path (decode): no sort, one program per pair (gate/up) or per token (down) with
  GEMV-style reductions; `_down_direct` sums the token's top-k experts in registers, so its
  output is final and deterministic without a second pass.

Quantisation is compile-time: ``W_SCALE`` 0 none, 1 per tensor, 2 per expert, 3 gate/up per
expert, 4 128×128 blocks; ``A_SCALE`` 0 none (W8A16: FP8 weights upcast in the loop), 1 per
tensor, 2 per expert (W8A8: activations quantised to FP8 with the static scale, FP8 dot).
``UPCAST`` computes dots in float32: used for float32 activations, and always under the
interpreter, whose bf16 ``tl.dot`` is wrong (triton issue 11584) and whose FP8 casts mishandle
NaN; so the FP8 ``tl.dot`` branch runs only on a GPU (the GPU benchmark checks its results).
"""

from __future__ import annotations

import triton
import triton.language as tl

from kernels.backend import interpreting

INTERPRETED = interpreting()

FP8_MAX = tl.constexpr(448.0)
SCALE_BLOCK = tl.constexpr(128)
# The interpreter's float32 → fp8e4nv cast drops the carry when rounding crosses a power of
# two (127.97 becomes 64, not 128), and its float32 → bf16 cast truncates. Under the
# interpreter values are therefore rounded to nearest-even in float32 arithmetic first, so
# the cast itself is exact. GPUs round correctly in hardware and skip this.
SOFTWARE_ROUNDING = tl.constexpr(INTERPRETED)


@triton.jit
def _scalar_scale(ptr, expert, MODE: tl.constexpr):
    # MODE 1: one scale for all experts; 2: one per expert.
    if MODE == 1:
        return tl.load(ptr).to(tl.float32)
    else:
        return tl.load(ptr + expert).to(tl.float32)


@triton.jit
def _round_mantissa(values, MANTISSA_BITS: tl.constexpr, MIN_EXPONENT: tl.constexpr):
    # Round float32 to MANTISSA_BITS bits, nearest-even: adding 1.5·2^23·ulp makes float32
    # addition itself round at the ulp; subtracting it back is exact.
    biased = (values.to(tl.int32, bitcast=True) >> 23) & 0xFF
    biased = tl.maximum(biased, MIN_EXPONENT + 127)
    ulp = ((biased - MANTISSA_BITS) << 23).to(tl.float32, bitcast=True)
    # Huge and non-finite values keep their bits (the magic number would overflow).
    small = tl.abs(values) < 1e30
    magic = tl.where(small, ulp * 12582912.0, 0.0)
    return tl.where(small, (values + magic) - magic, values)


@triton.jit
def _store_cast(values, ptr):
    # Nested on purpose: the outer test is a constexpr, so the GPU build never sees the inner.
    if SOFTWARE_ROUNDING:  # noqa: SIM102
        if ptr.dtype.element_ty == tl.bfloat16:
            values = _round_mantissa(values, 7, -119)
    return values.to(ptr.dtype.element_ty)


@triton.jit
def _widen(values):
    # To float32; under the interpreter an FP8 NaN (0x7F/0xFF) would decode as 480.
    if SOFTWARE_ROUNDING:  # noqa: SIM102
        if values.dtype == tl.float8e4nv:
            bits = values.to(tl.uint8, bitcast=True)
            return tl.where((bits & 0x7F) == 0x7F, float("nan"), values.to(tl.float32))
    return values.to(tl.float32)


@triton.jit
def _quantize_fp8(values, scale):
    # Saturate finite values to ±448; non-finite ones become NaN so they stay visible.
    # A true division (not a reciprocal multiply) gives the same bits as `kernels.fp8`.
    scaled = values / scale
    finite = tl.abs(scaled) < float("inf")
    clamped = tl.minimum(tl.maximum(scaled, -FP8_MAX), FP8_MAX)
    clamped = tl.where(finite, clamped, float("nan"))
    if SOFTWARE_ROUNDING:
        # The interpreter also casts NaN to 384; write the NaN bit pattern (0x7F) itself.
        clamped = _round_mantissa(clamped, 3, -6)
        bits = clamped.to(tl.float8e4nv).to(tl.uint8, bitcast=True)
        bits = tl.where(clamped == clamped, bits, 0x7F).to(tl.uint8)
        return bits.to(tl.float8e4nv, bitcast=True)
    return clamped.to(tl.float8e4nv)


@triton.jit
def _dot(a, b, FP32: tl.constexpr):
    # float32 operands get IEEE products (not TF32); other dtypes keep the default.
    if FP32:
        return tl.dot(a, b, input_precision="ieee")
    else:
        return tl.dot(a, b)


@triton.jit
def _silu_mul(gate, up):
    return gate / (1.0 + tl.exp(-gate)) * up


@triton.jit
def _gate_up_epilogue(acc_gate, acc_up, expert, w_scale_ptr, a_scale, a2_scale_ptr,
                      W_SCALE: tl.constexpr, A_SCALE: tl.constexpr, QUANT_OUT: tl.constexpr):
    """Scales (per tensor/expert, or separate gate/up per expert), SiLU(gate)·up, and the
    optional FP8 quantisation of the result for the down projection."""
    if W_SCALE == 1 or W_SCALE == 2:
        ws = _scalar_scale(w_scale_ptr, expert, W_SCALE)
        acc_gate *= ws
        acc_up *= ws
    if W_SCALE == 3:
        acc_gate *= tl.load(w_scale_ptr + expert * 2).to(tl.float32)
        acc_up *= tl.load(w_scale_ptr + expert * 2 + 1).to(tl.float32)
    if A_SCALE != 0:
        acc_gate *= a_scale
        acc_up *= a_scale
    h = _silu_mul(acc_gate, acc_up)
    if QUANT_OUT != 0:
        h = _quantize_fp8(h, _scalar_scale(a2_scale_ptr, expert, QUANT_OUT))
    return h


@triton.jit
def _gate_up_sorted(
    x_ptr, w_ptr, h_ptr, pair_ids_ptr, block_experts_ptr, num_padded_ptr,
    w_scale_ptr, a_scale_ptr, a2_scale_ptr,
    num_pairs, hidden, inter,
    stride_xt, stride_we, stride_wn, stride_hp,
    stride_se, stride_sn,
    TOP_K: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    W_SCALE: tl.constexpr, A_SCALE: tl.constexpr, QUANT_OUT: tl.constexpr,
    UPCAST: tl.constexpr, WEIGHT_ONLY: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    if pid_m * BLOCK_M >= tl.load(num_padded_ptr):
        return
    expert = tl.load(block_experts_ptr + pid_m).to(tl.int64)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    pairs = tl.load(pair_ids_ptr + rows)
    row_ok = pairs < num_pairs
    tokens = (pairs // TOP_K).to(tl.int64)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    n_ok = offs_n < inter
    w_gate = w_ptr + expert * stride_we + offs_n[None, :] * stride_wn
    w_up = w_gate + inter * stride_wn
    a_scale = 1.0
    if A_SCALE != 0:
        a_scale = _scalar_scale(a_scale_ptr, expert, A_SCALE)
    acc_gate = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    acc_up = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, hidden, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        k_ok = offs_k < hidden
        a = tl.load(x_ptr + tokens[:, None] * stride_xt + offs_k[None, :],
                    mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        w_mask = k_ok[:, None] & n_ok[None, :]
        bg = tl.load(w_gate + offs_k[:, None], mask=w_mask, other=0.0)
        bu = tl.load(w_up + offs_k[:, None], mask=w_mask, other=0.0)
        if A_SCALE != 0:
            a = _quantize_fp8(a.to(tl.float32), a_scale)
        if UPCAST:
            a = _widen(a)
            bg = bg.to(tl.float32)
            bu = bu.to(tl.float32)
        elif WEIGHT_ONLY:
            bg = bg.to(a.dtype)
            bu = bu.to(a.dtype)
        if W_SCALE == 4:
            scale_row = w_scale_ptr + expert * stride_se + (k0 // SCALE_BLOCK)
            sg = tl.load(scale_row + (offs_n // SCALE_BLOCK) * stride_sn, mask=n_ok, other=0.0)
            su = tl.load(scale_row + ((offs_n + inter) // SCALE_BLOCK) * stride_sn, mask=n_ok,
                         other=0.0)
            acc_gate += _dot(a, bg, UPCAST) * sg[None, :]
            acc_up += _dot(a, bu, UPCAST) * su[None, :]
        else:
            acc_gate += _dot(a, bg, UPCAST)
            acc_up += _dot(a, bu, UPCAST)
    h = _gate_up_epilogue(acc_gate, acc_up, expert, w_scale_ptr, a_scale, a2_scale_ptr,
                          W_SCALE, A_SCALE, QUANT_OUT)
    h_ptrs = h_ptr + pairs.to(tl.int64)[:, None] * stride_hp + offs_n[None, :]
    tl.store(h_ptrs, _store_cast(h, h_ptr), mask=row_ok[:, None] & n_ok[None, :])


@triton.jit
def _down_sorted(
    h_ptr, w_ptr, out_ptr, weights_ptr, pair_ids_ptr, block_experts_ptr, num_padded_ptr,
    w_scale_ptr, a_scale_ptr,
    num_pairs, hidden, inter,
    stride_hp, stride_we, stride_wn, stride_op,
    stride_se, stride_sn,
    TOP_K: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    W_SCALE: tl.constexpr, A_SCALE: tl.constexpr,
    UPCAST: tl.constexpr, WEIGHT_ONLY: tl.constexpr, ATOMIC: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    if pid_m * BLOCK_M >= tl.load(num_padded_ptr):
        return
    expert = tl.load(block_experts_ptr + pid_m).to(tl.int64)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    pairs = tl.load(pair_ids_ptr + rows)
    row_ok = pairs < num_pairs
    pairs64 = pairs.to(tl.int64)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    n_ok = offs_n < hidden
    w_rows = w_ptr + expert * stride_we + offs_n[None, :] * stride_wn
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, inter, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        k_ok = offs_k < inter
        a = tl.load(h_ptr + pairs64[:, None] * stride_hp + offs_k[None, :],
                    mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        b = tl.load(w_rows + offs_k[:, None], mask=k_ok[:, None] & n_ok[None, :], other=0.0)
        if UPCAST:
            a = _widen(a)
            b = b.to(tl.float32)
        elif WEIGHT_ONLY:
            b = b.to(a.dtype)
        if W_SCALE == 4:
            s = tl.load(w_scale_ptr + expert * stride_se + (offs_n // SCALE_BLOCK) * stride_sn
                        + k0 // SCALE_BLOCK, mask=n_ok, other=0.0)
            acc += _dot(a, b, UPCAST) * s[None, :]
        else:
            acc += _dot(a, b, UPCAST)
    if W_SCALE == 1 or W_SCALE == 2:
        acc *= _scalar_scale(w_scale_ptr, expert, W_SCALE)
    if A_SCALE != 0:
        acc *= _scalar_scale(a_scale_ptr, expert, A_SCALE)
    route_w = tl.load(weights_ptr + pairs64, mask=row_ok, other=0.0).to(tl.float32)
    acc = acc * route_w[:, None]
    mask = row_ok[:, None] & n_ok[None, :]
    if ATOMIC:
        token = pairs64 // TOP_K
        tl.atomic_add(out_ptr + token[:, None] * stride_op + offs_n[None, :], acc, mask=mask)
    else:
        tl.store(out_ptr + pairs64[:, None] * stride_op + offs_n[None, :], acc, mask=mask)


@triton.jit
def _gate_up_direct(
    x_ptr, w_ptr, h_ptr, ids_ptr,
    w_scale_ptr, a_scale_ptr, a2_scale_ptr,
    hidden, inter,
    stride_xt, stride_we, stride_wn, stride_hp,
    stride_se, stride_sn,
    TOP_K: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    W_SCALE: tl.constexpr, A_SCALE: tl.constexpr, QUANT_OUT: tl.constexpr,
):
    pair = tl.program_id(0).to(tl.int64)
    pid_n = tl.program_id(1)
    token = pair // TOP_K
    expert = tl.load(ids_ptr + pair).to(tl.int64)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    n_ok = offs_n < inter
    w_gate = w_ptr + expert * stride_we + offs_n[:, None] * stride_wn
    w_up = w_gate + inter * stride_wn
    a_scale = 1.0
    if A_SCALE != 0:
        a_scale = _scalar_scale(a_scale_ptr, expert, A_SCALE)
    acc_gate = tl.zeros([BLOCK_N], dtype=tl.float32)
    acc_up = tl.zeros([BLOCK_N], dtype=tl.float32)
    for k0 in range(0, hidden, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        k_ok = offs_k < hidden
        a = tl.load(x_ptr + token * stride_xt + offs_k, mask=k_ok, other=0.0).to(tl.float32)
        if A_SCALE != 0:
            a = _widen(_quantize_fp8(a, a_scale))
        w_mask = n_ok[:, None] & k_ok[None, :]
        bg = tl.load(w_gate + offs_k[None, :], mask=w_mask, other=0.0).to(tl.float32)
        bu = tl.load(w_up + offs_k[None, :], mask=w_mask, other=0.0).to(tl.float32)
        part_gate = tl.sum(bg * a[None, :], axis=1)
        part_up = tl.sum(bu * a[None, :], axis=1)
        if W_SCALE == 4:
            scale_row = w_scale_ptr + expert * stride_se + (k0 // SCALE_BLOCK)
            part_gate *= tl.load(scale_row + (offs_n // SCALE_BLOCK) * stride_sn, mask=n_ok,
                                 other=0.0)
            part_up *= tl.load(scale_row + ((offs_n + inter) // SCALE_BLOCK) * stride_sn,
                               mask=n_ok, other=0.0)
        acc_gate += part_gate
        acc_up += part_up
    h = _gate_up_epilogue(acc_gate, acc_up, expert, w_scale_ptr, a_scale, a2_scale_ptr,
                          W_SCALE, A_SCALE, QUANT_OUT)
    tl.store(h_ptr + pair * stride_hp + offs_n, _store_cast(h, h_ptr), mask=n_ok)


@triton.jit
def _down_direct(
    h_ptr, w_ptr, out_ptr, weights_ptr, ids_ptr,
    w_scale_ptr, a_scale_ptr,
    hidden, inter,
    stride_hp, stride_we, stride_wn, stride_ot,
    stride_se, stride_sn,
    TOP_K: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    W_SCALE: tl.constexpr, A_SCALE: tl.constexpr,
):
    token = tl.program_id(0).to(tl.int64)
    pid_n = tl.program_id(1)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    n_ok = offs_n < hidden
    total = tl.zeros([BLOCK_N], dtype=tl.float32)
    for slot in tl.static_range(TOP_K):
        pair = token * TOP_K + slot
        expert = tl.load(ids_ptr + pair).to(tl.int64)
        w_rows = w_ptr + expert * stride_we + offs_n[:, None] * stride_wn
        acc = tl.zeros([BLOCK_N], dtype=tl.float32)
        for k0 in range(0, inter, BLOCK_K):
            offs_k = k0 + tl.arange(0, BLOCK_K)
            k_ok = offs_k < inter
            a = _widen(tl.load(h_ptr + pair * stride_hp + offs_k, mask=k_ok, other=0.0))
            b = tl.load(w_rows + offs_k[None, :], mask=n_ok[:, None] & k_ok[None, :],
                        other=0.0).to(tl.float32)
            part = tl.sum(b * a[None, :], axis=1)
            if W_SCALE == 4:
                part *= tl.load(w_scale_ptr + expert * stride_se
                                + (offs_n // SCALE_BLOCK) * stride_sn + k0 // SCALE_BLOCK,
                                mask=n_ok, other=0.0)
            acc += part
        if W_SCALE == 1 or W_SCALE == 2:
            acc *= _scalar_scale(w_scale_ptr, expert, W_SCALE)
        if A_SCALE != 0:
            acc *= _scalar_scale(a_scale_ptr, expert, A_SCALE)
        total += acc * tl.load(weights_ptr + pair).to(tl.float32)
    tl.store(out_ptr + token * stride_ot + offs_n, _store_cast(total, out_ptr), mask=n_ok)
