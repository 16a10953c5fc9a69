"""The one FP8 module: quantise and dequantise for the kernels, checkpoints and tests."""

from __future__ import annotations

import pytest
import torch

from kernels import fp8


@pytest.mark.parametrize("layout", list(fp8.ScaleLayout))
def test_dequantised_weights_are_within_fp8_precision(layout):
    w = torch.randn(3, 300, 260) * (torch.rand(3, 1, 1) + 0.1)
    q, scale = fp8.quantize(w, layout)
    assert q.dtype == fp8.FP8_DTYPE and q.shape == w.shape
    back = fp8.dequantize(q, scale, "w13_scale")
    # e4m3 keeps 3 mantissa bits: half an ulp is 1/16 of the value for normal numbers.
    big = w.abs() > scale_floor(scale, layout, w.shape)
    rel = ((back - w.double()).abs() / w.double().abs())[big]
    assert rel.max() <= 1 / 16 + 1e-6


def scale_floor(scale, layout, shape):
    # Below 2^-6 · scale the format is subnormal and relative precision drops.
    return fp8.expand_weight_scale(scale, layout, shape).float() * 2.0**-6


def test_scale_layouts_are_recognised_by_shape():
    shape = (4, 256, 300)
    assert fp8.scale_layout(torch.tensor(1.0), shape, "w2_scale") is fp8.ScaleLayout.TENSOR
    assert fp8.scale_layout(torch.ones(4), shape, "w2_scale") is fp8.ScaleLayout.EXPERT
    assert fp8.scale_layout(torch.ones(4, 2), shape, "w13_scale") is fp8.ScaleLayout.SHARD
    assert fp8.scale_layout(torch.ones(4, 2, 3), shape, "w2_scale") is fp8.ScaleLayout.BLOCK
    with pytest.raises(ValueError, match=r"w2_scale has shape \[4, 2\]"):
        fp8.scale_layout(torch.ones(4, 2), shape, "w2_scale")


def test_activation_quantisation_saturates_and_keeps_non_finite_visible():
    x = torch.tensor([1.0, 1000.0, -1000.0, float("inf"), float("nan")])
    q = fp8.quantize_activation(x, torch.tensor(1.0)).float()
    assert q[:3].tolist() == [1.0, 448.0, -448.0]
    assert torch.isnan(q[3:]).all()


def test_checkpoint_scale_shapes_dequantise_to_fp8_times_scale_exactly():
    """Checkpoint loading uses the same dequantise: 2-D linear weights, block grids without
    an expert dimension, and the `[1, 1]` and `[E, 1, 1]` shapes checkpoints store."""
    linear = torch.randn(300, 130)
    q, scale = fp8.quantize_blocks(linear)
    assert scale.shape == (3, 2)
    back = fp8.dequantize(q, scale, dtype=torch.float32)
    assert back.dtype == torch.float32
    assert torch.equal(back[128:256, 128:], q[128:256, 128:].float() * scale[1, 1])
    q, scalar = fp8.quantize_per_tensor(linear)
    assert torch.equal(fp8.dequantize(q, scalar.reshape(1, 1), dtype=torch.float32),
                       q.float() * scalar)
    experts = torch.randn(3, 40, 24)
    q, per_expert = fp8.quantize_per_expert(experts)
    stored = fp8.dequantize(q, per_expert.reshape(3, 1, 1), dtype=torch.float32)
    assert torch.equal(stored, q.float() * per_expert[:, None, None])
    with pytest.raises(ValueError, match=r"weight has shape \[2\]; expected \[\] or \[1\]"):
        fp8.dequantize(q[0], torch.ones(2))
