"""FP8 E4M3 expert and linear weights read directly by the native CPU kernels (widened in
registers), against the float64 oracle on the dequantised weights."""

from __future__ import annotations

import pytest
import torch

import kernels
from kernels import cpu, cpu_native, fp8
from kernels.fp8 import ScaleLayout
from kernels.validate import check_moe_args

from .helpers import assert_matches_reference, make_problem, same_bits_on_one_and_two_threads

pytestmark = pytest.mark.skipif(
    not cpu_native.available(),
    reason="native CPU kernel unavailable (needs gcc and an AVX2/FMA CPU)")

LAYOUTS = [ScaleLayout.TENSOR, ScaleLayout.EXPERT, ScaleLayout.SHARD, ScaleLayout.BLOCK]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_e4m3_byte_widens_to_its_value(dtype):
    # All 254 finite codes (incl. subnormals and -0) through the decode streams: one expert,
    # one token, x = e_k picks weight column k. bfloat16 x takes the AVX-512 BF16 dot
    # products where the CPU has them (k % 64 == 0), float32 x the AVX2 widening.
    codes = torch.arange(256, dtype=torch.uint8)
    finite = codes[(codes & 0x7F) != 0x7F]
    values = finite.view(fp8.FP8_DTYPE)
    k = 256
    w = torch.zeros(32, k, dtype=torch.uint8)
    w[0, : finite.numel()] = finite
    weight = w.view(fp8.FP8_DTYPE)
    for column in range(finite.numel()):
        x = torch.zeros(1, k, dtype=dtype)
        x[0, column] = 1.0
        out = cpu_native.linear(x, weight, cpu_native.WeightScale.per_row(torch.ones(32), k))
        assert out[0, 0].item() == values[column].float().item(), hex(int(finite[column]))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("hidden, inter", [(128, 96), (288, 64)])
@pytest.mark.parametrize("tokens, experts, top_k", [(1, 16, 4), (7, 8, 2), (48, 4, 1),
                                                    (200, 2, 1)])
def test_fp8_experts_on_the_native_path_match_the_oracle(layout, dtype, hidden, inter, tokens,
                                                         experts, top_k):
    # 1 and 7 tokens: weight streams (one pass per 128-column k-block for block scales);
    # 48 over 4 experts and 200 over 2: the packed panels, dequantised while packing.
    problem = make_problem(tokens, experts, top_k, hidden=hidden, inter=inter, dtype=dtype,
                           layout=layout)
    checked = check_moe_args(*problem.args(), problem.scales["w13_scale"],
                             problem.scales["w2_scale"], None, None)
    assert cpu.native_takes(checked, problem.w13, problem.w2)
    assert_matches_reference(kernels.moe(*problem.args(), **problem.scales, backend="torch"),
                             problem)


@pytest.mark.parametrize("layout", [ScaleLayout.EXPERT, ScaleLayout.BLOCK])
@pytest.mark.parametrize("tokens", [1, 16, 200])
def test_static_activation_scales_quantise_the_gemm_inputs_as_the_oracle(layout, tokens):
    problem = make_problem(tokens, 8, 4, hidden=128, inter=64, layout=layout, w8a8=True)
    assert_matches_reference(kernels.moe(*problem.args(), **problem.scales, backend="torch"),
                             problem)


def test_fp8_widths_without_whole_lines_fall_back_to_torch():
    problem = make_problem(5, 8, 2, hidden=64, inter=40, layout=ScaleLayout.EXPERT)
    checked = check_moe_args(*problem.args(), problem.scales["w13_scale"],
                             problem.scales["w2_scale"], None, None)
    assert not cpu.native_takes(checked, problem.w13, problem.w2)
    assert_matches_reference(kernels.moe(*problem.args(), **problem.scales), problem)


def test_fp8_same_bits_whatever_the_thread_count():
    problem = make_problem(24, 8, 4, hidden=128, inter=64, layout=ScaleLayout.BLOCK)
    assert same_bits_on_one_and_two_threads(lambda: kernels.moe(*problem.args(), **problem.scales))


@pytest.mark.parametrize("rows", [1, 5, 40])
@pytest.mark.parametrize("blocks", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fp8_linear_matches_the_dequantised_oracle(rows, blocks, dtype):
    n, k = 160, 288
    weight = torch.randn(n, k) / k**0.5
    x = torch.randn(rows, k).to(dtype)
    if blocks:
        q, scale = fp8.quantize_blocks(weight)
        native_scale = cpu_native.WeightScale(scale, ScaleLayout.BLOCK, n, k)
    else:  # three shards with their own scales, as a merged projection
        parts = [fp8.quantize_per_tensor(part) for part in weight.split([64, 32, 64])]
        q = torch.cat([p for p, _ in parts])
        scale = torch.cat([s.expand(len(p)) for p, s in parts])
        native_scale = cpu_native.WeightScale.per_row(scale, k)
    oracle = x.double() @ (q.double() * (fp8.expand_weight_scale(
        scale.double(), ScaleLayout.BLOCK, (n, k)) if blocks else scale.double()[:, None])).T
    assert cpu_native.linear_takes(x, q)
    out = cpu_native.linear(x, q, native_scale)
    assert out.dtype == dtype
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    assert ((out.double() - oracle).abs().max() / oracle.abs().max()) <= tol
