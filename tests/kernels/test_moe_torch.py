"""The CPU (torch) path against the float64 reference."""

from __future__ import annotations

import pytest
import torch

import kernels
from kernels.fp8 import ScaleLayout

from .helpers import assert_matches_reference, make_problem


def run(problem, **kwargs):
    return kernels.moe(*problem.args(), **problem.scales, backend="torch", **kwargs)


@pytest.mark.parametrize(
    ("tokens", "experts", "top_k"),
    [(1, 8, 1), (1, 128, 8), (7, 8, 4), (33, 16, 4), (100, 128, 4), (150, 64, 8)],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_float_weights_match_reference(tokens, experts, top_k, dtype):
    problem = make_problem(tokens, experts, top_k, dtype=dtype)
    assert_matches_reference(run(problem), problem)


@pytest.mark.parametrize("layout", list(ScaleLayout))
@pytest.mark.parametrize("w8a8", [False, True], ids=["w8a16", "w8a8"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("tokens", [1, 40])
def test_fp8_weights_match_reference(layout, w8a8, dtype, tokens):
    problem = make_problem(tokens, 16, 4, hidden=256, inter=192, dtype=dtype, layout=layout,
                           w8a8=w8a8)
    assert_matches_reference(run(problem), problem)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_busy_experts_take_one_batched_matmul(dtype):
    # 600 tokens over 8 experts, top-2: every expert busy, little padding → padded bmm path.
    problem = make_problem(600, 8, 2, dtype=dtype)
    assert_matches_reference(run(problem), problem)


def test_every_token_on_one_expert_and_others_empty():
    tokens, experts = 90, 32
    ids = torch.full((tokens, 1), 5, dtype=torch.int32)
    problem = make_problem(tokens, experts, 1, ids=ids)
    assert_matches_reference(run(problem), problem)


def test_same_bits_on_every_run():
    problem = make_problem(200, 16, 4)
    first, second = run(problem), run(problem)
    assert torch.equal(first, second)


def test_zero_tokens_give_an_empty_output():
    problem = make_problem(0, 8, 2)
    assert run(problem).shape == (0, 64)


def test_non_finite_inputs_propagate_to_their_tokens_only():
    problem = make_problem(12, 8, 2)
    problem.x[3, 5] = float("nan")
    problem.x[7, 1] = float("inf")
    out = run(problem)
    assert not torch.isfinite(out[3]).any()
    assert not torch.isfinite(out[7]).all()
    healthy = [t for t in range(12) if t not in (3, 7)]
    assert torch.isfinite(out[healthy]).all()
