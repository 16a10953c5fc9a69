"""The self-check before serving: our MoE against the oracle on a layer's weights, and the
faults it must catch (a kernel that raises, one that returns wrong values)."""

from __future__ import annotations

import pytest
import torch

from kernels import cpu_native
from kernels.fp8 import ScaleLayout
from kernels.self_check import FAULT_ENV, ExpertWeights, check_moe

from .helpers import make_problem


def layer_experts(dtype=torch.float32, layout=None, w8a8=False, experts=12) -> ExpertWeights:
    problem = make_problem(4, experts, 4, hidden=128, inter=64, dtype=dtype, layout=layout,
                           w8a8=w8a8)
    return ExpertWeights(problem.w13, problem.w2, 4, dtype, **problem.scales)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_float_experts_pass(dtype):
    check = check_moe(layer_experts(dtype))
    assert check.ok and check.reason is None
    assert "64 tokens" in check.details


@pytest.mark.parametrize("layout", [ScaleLayout.EXPERT, ScaleLayout.SHARD, ScaleLayout.BLOCK])
def test_fp8_experts_as_loaded_pass(layout):
    assert check_moe(layer_experts(torch.bfloat16, layout, w8a8=True)).ok


def test_a_kernel_that_raises_fails_the_check(monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "raise")
    check = check_moe(layer_experts())
    assert not check.ok
    assert "our kernel failed at 1 tokens: RuntimeError" in check.reason


def test_a_kernel_with_wrong_values_fails_the_check(monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "wrong")
    check = check_moe(layer_experts(torch.bfloat16, ScaleLayout.EXPERT))
    assert not check.ok
    assert "differs from the float64 oracle at 1 tokens" in check.reason


def test_a_real_exception_from_the_kernel_is_caught():
    # Scales of the wrong shape: kernels.moe raises, the check reports it.
    experts = layer_experts(torch.bfloat16, ScaleLayout.EXPERT)
    broken = ExpertWeights(experts.w13, experts.w2, 4, torch.bfloat16,
                           w13_scale=torch.ones(3, 5), w2_scale=experts.w2_scale)
    check = check_moe(broken)
    assert not check.ok and "ValueError" in check.reason


@pytest.mark.skipif(not cpu_native.available(),
                    reason="native CPU kernel unavailable (needs gcc and an AVX2/FMA CPU)")
def test_disabling_the_native_kernels_leaves_the_torch_path_serving():
    from kernels import cpu
    from kernels.validate import check_moe_args

    problem = make_problem(5, 8, 2, hidden=128, inter=64, layout=ScaleLayout.EXPERT)
    checked = check_moe_args(*problem.args(), problem.scales["w13_scale"],
                             problem.scales["w2_scale"], None, None)
    try:
        cpu_native.disable("test")
        assert not cpu_native.available()
        assert not cpu.native_takes(checked, problem.w13, problem.w2)
        assert check_moe(layer_experts(torch.bfloat16, ScaleLayout.EXPERT)).ok
    finally:
        cpu_native.enable()
    assert cpu_native.available()
