"""Bad shapes and dtypes give errors that name the tensor and the expected shape."""

from __future__ import annotations

import pytest
import torch

import kernels
from kernels.fp8 import ScaleLayout

from .helpers import make_problem


def call(p, **overrides):
    args = {"x": p.x, "w13": p.w13, "w2": p.w2, "weights": p.weights, "ids": p.ids}
    scales = dict(p.scales)
    for key, value in overrides.items():
        (args if key in args else scales)[key] = value
    return kernels.moe(args.pop("x"), args.pop("w13"), args.pop("w2"), args.pop("weights"),
                       args.pop("ids"), **scales)


@pytest.mark.parametrize(
    ("override", "error", "message"),
    [
        ({"x": torch.randn(4, 64, 1)}, ValueError, r"x has shape \[4, 64, 1\]; expected"),
        ({"x": torch.randn(4, 32)}, ValueError, r"w13 has shape .*expected \[experts, 2\*inter"),
        ({"w2": torch.randn(8, 64, 31)}, ValueError,
         r"w2 has shape \[8, 64, 31\]; expected \[8, 64, 32\]"),
        ({"w13": torch.randn(8, 63, 64)}, ValueError, r"w13 has shape \[8, 63, 64\]"),
        ({"ids": torch.zeros(3, 2, dtype=torch.int32)}, ValueError,
         r"ids has shape \[3, 2\]; expected \[4, top_k\]"),
        ({"weights": torch.ones(4, 3)}, ValueError,
         r"weights has shape \[4, 3\]; expected \[4, 2\]"),
        ({"ids": torch.zeros(4, 2)}, TypeError, "ids has dtype torch.float32"),
        ({"ids": torch.full((4, 2), 8, dtype=torch.int32)}, ValueError,
         r"ids has values outside \[0, 8\)"),
        ({"x": torch.randn(4, 64, dtype=torch.float64)}, TypeError, "x has dtype torch.float64"),
        ({"w13": torch.randn(8, 64, 64, dtype=torch.bfloat16)}, TypeError,
         "w13 has dtype torch.bfloat16"),
        ({"w13_scale": torch.ones(1)}, ValueError, "w13_scale/w2_scale given but the weights are"),
    ],
)
def test_bad_float_arguments(override, error, message):
    with pytest.raises(error, match=message):
        call(make_problem(4, 8, 2), **override)


def test_fp8_weights_need_their_scales():
    p = make_problem(4, 8, 2, layout=ScaleLayout.EXPERT)
    with pytest.raises(ValueError, match="FP8 weights need w13_scale and w2_scale"):
        kernels.moe(*p.args())


def test_fp8_scale_of_the_wrong_shape_names_the_layouts():
    p = make_problem(4, 8, 2, layout=ScaleLayout.EXPERT)
    expected = r"w2_scale has shape \[3\]; expected .*\[8\] \(per expert\)"
    with pytest.raises(ValueError, match=expected):
        call(p, w2_scale=torch.ones(3))


def test_activation_scales_come_in_pairs():
    p = make_problem(4, 8, 2, layout=ScaleLayout.TENSOR)
    with pytest.raises(ValueError, match="give both a13_scale and a2_scale"):
        call(p, a13_scale=torch.tensor(1.0))


def test_unknown_backend_is_named():
    p = make_problem(2, 8, 2)
    with pytest.raises(ValueError, match="backend is 'gpu'"):
        kernels.moe(*p.args(), backend="gpu")


def test_environment_variable_picks_the_backend(monkeypatch):
    p = make_problem(2, 8, 2)
    monkeypatch.setenv("TESSERA_MOE_BACKEND", "fast")
    with pytest.raises(ValueError, match="TESSERA_MOE_BACKEND is 'fast'"):
        kernels.moe(*p.args())
