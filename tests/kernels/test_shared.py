"""The shared expert run as an always-on extra expert equals routed + dense shared MLP."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import kernels
from kernels import fp8
from kernels.reference import moe_reference

from .helpers import make_problem


def dense_mlp(x, w13, w2):
    inter = w13.shape[0] // 2
    gate_up = x.double() @ w13.double().T
    return (F.silu(gate_up[:, :inter]) * gate_up[:, inter:]) @ w2.double().T


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_shared_expert_as_extra_expert(backend):
    p = make_problem(9, 8, 2)
    shared_w13 = torch.randn(64, 64) / 8
    shared_w2 = torch.randn(64, 32) / 6
    experts = kernels.with_shared_expert(p.w13, p.w2, shared_w13, shared_w2)
    weights, ids = kernels.add_shared_route(p.weights, p.ids, shared_id=8)
    assert ids.shape == (9, 3) and (ids[:, 2] == 8).all() and (weights[:, 2] == 1.0).all()
    out = kernels.moe(p.x, experts.w13, experts.w2, weights, ids, backend=backend)
    expected = moe_reference(*p.args()) + dense_mlp(p.x, shared_w13, shared_w2)
    assert (out.double() - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_fp8_per_tensor_scales_become_per_expert():
    p = make_problem(5, 4, 2, layout=fp8.ScaleLayout.TENSOR)
    shared_q13, shared_s13 = fp8.quantize_per_tensor(torch.randn(64, 64) / 8)
    shared_q2, shared_s2 = fp8.quantize_per_tensor(torch.randn(64, 32) / 6)
    experts = kernels.with_shared_expert(
        p.w13, p.w2, shared_q13, shared_q2, w13_scale=p.scales["w13_scale"],
        w2_scale=p.scales["w2_scale"], shared_w13_scale=shared_s13, shared_w2_scale=shared_s2)
    assert experts.w13_scale.shape == (5,) and experts.w2_scale.shape == (5,)
    weights, ids = kernels.add_shared_route(p.weights, p.ids, shared_id=4)
    out = kernels.moe(p.x, experts.w13, experts.w2, weights, ids, **experts.scales())
    expected = moe_reference(*p.args(), **p.scales) + dense_mlp(
        p.x, fp8.dequantize(shared_q13[None], shared_s13)[0],
        fp8.dequantize(shared_q2[None], shared_s2)[0])
    assert (out.double() - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_shared_expert_of_another_size_is_refused():
    p = make_problem(2, 4, 2)
    with pytest.raises(ValueError, match=r"shared_w13 has shape \[48, 64\]"):
        kernels.with_shared_expert(p.w13, p.w2, torch.randn(48, 64), torch.randn(64, 24))
