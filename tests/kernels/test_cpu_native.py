"""The AVX2 grouped GEMM behind the CPU path, and the CPU path with and without it."""

from __future__ import annotations

import pytest
import torch

import kernels
from kernels import cpu, cpu_native

from .helpers import assert_matches_reference, make_problem

needs_native = pytest.mark.skipif(
    not cpu_native.available(),
    reason="native CPU kernel unavailable (needs gcc and an AVX2/FMA CPU)")


def run(problem):
    return kernels.moe(*problem.args(), **problem.scales, backend="torch")


@needs_native
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_grouped_gemm_matches_float64(dtype):
    experts, n_out, k = 5, 37, 48  # odd column count: the single-column tail runs
    weight = torch.randn(experts, n_out, k).to(dtype)
    # Segment sizes cover 1–4-row groups, a multiple of 4, and more than one row block (64).
    sizes = [(3, 1), (0, 6), (4, 7), (1, 70)]
    segments, start = [], 0
    for expert, rows in sizes:
        segments.append((expert, start, start + rows))
        start += rows
    x = torch.randn(start, k)
    y = cpu_native.grouped_gemm(weight, x, cpu_native.segment_table(segments))
    for expert, lo, hi in segments:
        ref = x[lo:hi].double() @ weight[expert].double().T
        torch.testing.assert_close(y[lo:hi].double(), ref, rtol=1e-5, atol=1e-5 * k**0.5)


@needs_native
def test_grouped_gemm_leaves_rows_outside_segments_unwritten(monkeypatch):
    from kernels import buffers

    monkeypatch.setattr(buffers, "POISON", True)
    weight = torch.randn(2, 8, 16)
    x = torch.randn(6, 16)
    y = cpu_native.grouped_gemm(weight, x, cpu_native.segment_table([(1, 2, 5)]))
    assert torch.isnan(y[[0, 1, 5]]).all()
    assert torch.isfinite(y[2:5]).all()


@needs_native
def test_same_bits_whatever_the_thread_count():
    problem = make_problem(40, 16, 4, hidden=128, inter=64, dtype=torch.bfloat16)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = run(problem)
        torch.set_num_threads(2)
        two = run(problem)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)


@needs_native
@pytest.mark.parametrize("tokens", [1, 16, 200])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_moe_on_the_native_path_matches_reference(tokens, dtype):
    # 200 tokens: 50 rows per expert, native for bf16 weights, MKL for float32 ones.
    problem = make_problem(tokens, 16, 4, hidden=256, inter=128, dtype=dtype)
    assert_matches_reference(run(problem), problem)


def test_width_not_a_multiple_of_8_uses_torch():
    problem = make_problem(9, 8, 2, hidden=60, inter=20, dtype=torch.bfloat16)
    assert not cpu_native.supports(problem.w13)
    assert_matches_reference(run(problem), problem)


@pytest.fixture
def torch_only(monkeypatch):
    monkeypatch.setenv("TESSERA_CPU_NATIVE", "0")
    cpu_native._library.cache_clear()
    yield
    cpu_native._library.cache_clear()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_torch_only_when_the_native_kernel_is_disabled(torch_only, dtype):
    assert not cpu_native.available()
    # 1 and 16 tokens: per-expert matmuls; 120 tokens over 8 experts, top-2 (about 30 rows
    # each, every expert busy): the padded batched matmul.
    for tokens, experts, top_k in ((1, 16, 4), (16, 16, 4), (120, 8, 2)):
        problem = make_problem(tokens, experts, top_k, hidden=128, inter=64, dtype=dtype)
        assert_matches_reference(run(problem), problem)


def test_native_choice_follows_rows_per_expert():
    problem = make_problem(8, 8, 2, hidden=64, inter=32, dtype=torch.float32)
    from kernels.validate import check_moe_args

    checked = check_moe_args(*problem.args(), None, None, None, None)
    native = cpu_native.available()
    assert cpu._native_pays(checked, problem.w13, problem.w2, 2.0) is native
    assert not cpu._native_pays(checked, problem.w13, problem.w2, 1000.0)
    half = make_problem(8, 8, 2, hidden=64, inter=32, dtype=torch.bfloat16)
    checked = check_moe_args(*half.args(), None, None, None, None)
    assert cpu._native_pays(checked, half.w13, half.w2, 1000.0) is native


# Widths: hidden 64 / inter 40 take the row-block kernel (not whole 64-byte lines); 128 / 96
# and 288 / 64 take the stream kernel (288 columns: a full item of 256 and a short one of 32).
@needs_native
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("hidden, inter", [(64, 40), (128, 96), (288, 64)])
@pytest.mark.parametrize("tokens, experts, top_k", [(1, 16, 4), (7, 8, 2), (48, 4, 1)])
def test_fused_moe_matches_reference(dtype, hidden, inter, tokens, experts, top_k):
    # (48, 4, 1): twelve rows per expert, so several row groups share each weight step.
    problem = make_problem(tokens, experts, top_k, hidden=hidden, inter=inter, dtype=dtype)
    out = cpu_native.fused_moe(*problem.args())
    assert out.dtype == dtype and out.shape == problem.x.shape
    assert_matches_reference(out, problem)


@needs_native
@pytest.mark.parametrize("hidden, inter", [(128, 64), (64, 40)])
def test_fused_moe_same_bits_whatever_the_thread_count(hidden, inter):
    problem = make_problem(24, 8, 4, hidden=hidden, inter=inter, dtype=torch.bfloat16)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = cpu_native.fused_moe(*problem.args())
        torch.set_num_threads(2)
        two = cpu_native.fused_moe(*problem.args())
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)


@needs_native
def test_fused_moe_refuses_ids_out_of_range():
    problem = make_problem(3, 8, 2, hidden=64, inter=32, dtype=torch.bfloat16)
    ids = problem.ids.clone()
    ids[1, 0] = 8
    with pytest.raises(ValueError, match=r"outside \[0, 8\)"):
        kernels.moe(problem.x, problem.w13, problem.w2, problem.weights, ids, backend="torch")


@needs_native
def test_fused_call_for_half_weights_at_any_size_and_float32_at_decode(monkeypatch):
    calls = []
    real = cpu_native.fused_moe
    monkeypatch.setattr(cpu_native, "fused_moe", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    for dtype, tokens, fused in ((torch.bfloat16, 300, True),
                                 (torch.float32, cpu._FUSED_MAX_TOKENS, True),
                                 (torch.float32, cpu._FUSED_MAX_TOKENS + 1, False)):
        calls.clear()
        problem = make_problem(tokens, 8, 2, hidden=64, inter=32, dtype=dtype)
        assert_matches_reference(run(problem), problem)
        assert calls == ([1] if fused else []), (dtype, tokens)


@needs_native
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_moe_in_chunks_matches_reference(monkeypatch, dtype):
    # Not bit-equal to one call: an expert's row count picks its kernel (streams or tiles).
    monkeypatch.setattr(cpu_native, "FUSED_CHUNK_TOKENS", 5)  # 5 + 5 + 3 tokens
    problem = make_problem(13, 8, 4, hidden=128, inter=64, dtype=dtype)
    assert_matches_reference(cpu_native.fused_moe(*problem.args()), problem)
