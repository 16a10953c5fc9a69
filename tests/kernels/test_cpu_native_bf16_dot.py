"""FP8 decode with bfloat16 activations through the AVX-512 BF16 dot products
(`kernels/cpu_native_dp.h`), against the float64 oracle on the dequantised weights, and
beside the AVX2 path it replaces on CPUs that have the instructions."""

from __future__ import annotations

import pytest
import torch

import kernels
from kernels import cpu_native, fp8
from kernels.fp8 import ScaleLayout

from .helpers import assert_matches_reference, make_problem, same_bits_on_one_and_two_threads

pytestmark = pytest.mark.skipif(
    not cpu_native.available(),
    reason="native CPU kernel unavailable (needs gcc and an AVX2/FMA CPU)")

LAYOUTS = [ScaleLayout.TENSOR, ScaleLayout.EXPERT, ScaleLayout.SHARD, ScaleLayout.BLOCK]


@pytest.fixture
def bf16_dot():
    if not cpu_native.use_bf16_dot(True):
        pytest.skip("this CPU has no AVX-512 BF16/VBMI: the AVX2 path serves FP8")
    yield
    cpu_native.use_bf16_dot(True)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("w8a8", [False, True])
@pytest.mark.parametrize("tokens, experts, top_k", [(1, 16, 4), (7, 8, 2), (40, 4, 1)])
def test_fp8_experts_match_the_oracle(bf16_dot, layout, w8a8, tokens, experts, top_k):
    problem = make_problem(tokens, experts, top_k, hidden=256, inter=128, dtype=torch.bfloat16,
                           layout=layout, w8a8=w8a8)
    assert_matches_reference(kernels.moe(*problem.args(), **problem.scales, backend="torch"),
                             problem)


def test_the_switch_selects_the_path(bf16_dot):
    # W8A16: the dp path rounds SiLU·up to bfloat16 before w2, the AVX2 path keeps float32,
    # so the two give different bits; both are within the oracle's tolerance.
    problem = make_problem(16, 8, 4, hidden=256, inter=128, dtype=torch.bfloat16,
                           layout=ScaleLayout.EXPERT)
    dot = kernels.moe(*problem.args(), **problem.scales)
    assert not cpu_native.use_bf16_dot(False)
    avx2 = kernels.moe(*problem.args(), **problem.scales)
    assert not torch.equal(dot, avx2)
    assert_matches_reference(dot, problem)
    assert_matches_reference(avx2, problem)


def test_same_bits_whatever_the_thread_count(bf16_dot):
    problem = make_problem(24, 8, 4, hidden=256, inter=128, dtype=torch.bfloat16,
                           layout=ScaleLayout.BLOCK)
    assert same_bits_on_one_and_two_threads(lambda: kernels.moe(*problem.args(), **problem.scales))


@pytest.mark.parametrize("rows", [1, 5])
@pytest.mark.parametrize("blocks", [False, True])
def test_fp8_linear_matches_the_oracle(bf16_dot, rows, blocks):
    n, k = 160, 256
    weight = torch.randn(n, k) / k**0.5
    x = torch.randn(rows, k).to(torch.bfloat16)
    if blocks:
        q, scale = fp8.quantize_blocks(weight)
        native_scale = cpu_native.WeightScale(scale, ScaleLayout.BLOCK, n, k)
        dequantised = q.double() * fp8.expand_weight_scale(scale.double(), ScaleLayout.BLOCK,
                                                           (n, k))
    else:
        q, scale = fp8.quantize_per_tensor(weight)
        native_scale = cpu_native.WeightScale.per_row(scale.expand(n), k)
        dequantised = q.double() * scale.double()
    oracle = x.double() @ dequantised.T
    out = cpu_native.linear(x, q, native_scale)
    assert ((out.double() - oracle).abs().max() / oracle.abs().max()) <= 1e-2
