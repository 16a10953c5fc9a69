"""The Triton kernels (under the interpreter when there is no GPU) against the reference.

Each case runs both launch paths explicitly: "direct" (decode: no sort) and "sorted"
(expert-sorted row blocks padded to BLOCK_M). Shapes are tiny and tiles large because the
interpreter is 100–1000× slower than torch.
"""

from __future__ import annotations

import pytest
import torch

import kernels
from kernels.fp8 import ScaleLayout

from .helpers import assert_matches_reference, make_problem

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def launch_config(path: str, block_m: int = 16) -> dict:
    tile = {"block_m": 1 if path == "direct" else block_m, "block_n": 128, "block_k": 128}
    return {"path": path, "gate_up": tile, "down": tile}


def run(problem, path: str, **kwargs):
    args = [t.to(DEVICE) for t in problem.args()]
    scales = {k: v.to(DEVICE) for k, v in problem.scales.items()}
    out = kernels.moe(*args, **scales, backend="triton", config=launch_config(path), **kwargs)
    return out.cpu()


PATHS = ["direct", "sorted"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("tokens", "experts", "top_k"),
    [(1, 8, 1), (1, 128, 8), (3, 16, 4), (37, 8, 2), (21, 128, 4)],
)
def test_float32_matches_reference(path, tokens, experts, top_k):
    problem = make_problem(tokens, experts, top_k)
    assert_matches_reference(run(problem, path), problem)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_matches_reference(path, dtype):
    problem = make_problem(19, 16, 4, dtype=dtype)
    assert_matches_reference(run(problem, path), problem)


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("layout", list(ScaleLayout))
@pytest.mark.parametrize("w8a8", [False, True], ids=["w8a16", "w8a8"])
def test_fp8_matches_reference(path, layout, w8a8):
    # 256 × 160: two 128-wide K blocks and a partial block along N (block scales).
    problem = make_problem(5, 8, 2, hidden=256, inter=160, layout=layout, w8a8=w8a8)
    assert_matches_reference(run(problem, path), problem)


@pytest.mark.parametrize("path", PATHS)
def test_fp8_with_bf16_activations(path):
    problem = make_problem(6, 8, 2, dtype=torch.bfloat16, layout=ScaleLayout.EXPERT, w8a8=True)
    assert_matches_reference(run(problem, path), problem)


@pytest.mark.parametrize("path", PATHS)
def test_every_token_on_one_expert(path):
    ids = torch.full((40, 1), 6, dtype=torch.int32)
    problem = make_problem(40, 8, 1, ids=ids)
    assert_matches_reference(run(problem, path), problem)


def test_sorted_path_with_rows_not_a_multiple_of_the_block():
    # 45 pairs over 4 experts in 32-row blocks: every expert run ends in a padded block.
    problem = make_problem(15, 4, 3)
    config = launch_config("sorted", block_m=32)
    out = kernels.moe(*problem.args(), backend="triton", config=config)
    assert_matches_reference(out, problem)


def test_deterministic_reduction_gives_the_same_bits():
    problem = make_problem(24, 8, 4)
    assert torch.equal(run(problem, "sorted"), run(problem, "sorted"))


def test_atomic_reduction_matches_reference():
    problem = make_problem(24, 8, 4)
    assert_matches_reference(run(problem, "sorted", deterministic=False), problem)


@pytest.mark.parametrize("path", PATHS)
def test_non_finite_inputs_propagate_to_their_tokens_only(path):
    problem = make_problem(6, 8, 2)
    problem.x[1, 3] = float("nan")
    problem.x[4, 0] = float("-inf")
    out = run(problem, path)
    assert not torch.isfinite(out[1]).any()
    assert not torch.isfinite(out[4]).all()
    assert torch.isfinite(out[[0, 2, 3, 5]]).all()


@pytest.mark.parametrize("path", PATHS)
def test_non_finite_inputs_propagate_through_fp8_activation_quantisation(path):
    problem = make_problem(4, 8, 2, layout=ScaleLayout.TENSOR, w8a8=True)
    problem.x[2, 7] = float("inf")
    out = run(problem, path)
    assert not torch.isfinite(out[2]).any()
    assert torch.isfinite(out[[0, 1, 3]]).all()


def test_default_config_runs_on_tiny_shapes():
    for tokens in (2, 50):
        problem = make_problem(tokens, 8, 2)
        out = kernels.moe(*problem.args(), backend="triton")
        assert_matches_reference(out, problem)
