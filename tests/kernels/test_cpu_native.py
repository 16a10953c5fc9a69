"""The native AVX2 MoE behind the CPU path (each of its GEMM kernels), and the CPU path with
and without it."""

from __future__ import annotations

import pytest
import torch

import kernels
from kernels import cpu, cpu_native
from kernels.fp8 import ScaleLayout
from tests.support import require_program

from .helpers import assert_matches_reference, make_problem, same_bits_on_one_and_two_threads

# An AVX2 CPU is a property of the machine; the compiler is installed by scripts/test,
# so in CI its absence fails (test_native_kernel_builds_where_the_cpu_allows) instead of
# skipping every native test silently.
needs_native = pytest.mark.skipif(
    not cpu_native.available(),
    reason="native CPU kernel unavailable (needs gcc and an AVX2/FMA CPU)")


@pytest.mark.skipif(cpu_native._cpu_has_avx2() is False, reason="no AVX2/FMA on this CPU")
def test_native_kernel_builds_where_the_cpu_allows():
    require_program("gcc", "cc")
    assert cpu_native.available()


def run(problem):
    return kernels.moe(*problem.args(), **problem.scales, backend="torch")


@needs_native
def test_same_bits_whatever_the_thread_count():
    problem = make_problem(40, 16, 4, hidden=128, inter=64, dtype=torch.bfloat16)
    assert same_bits_on_one_and_two_threads(lambda: run(problem))


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


def test_native_takes_float_and_fp8_weights():
    from kernels.validate import check_moe_args

    native = cpu_native.available()
    for dtype in (torch.float32, torch.bfloat16):
        problem = make_problem(8, 8, 2, hidden=64, inter=32, dtype=dtype)
        checked = check_moe_args(*problem.args(), None, None, None, None)
        assert cpu.native_takes(checked, problem.w13, problem.w2) is native
    fp8 = make_problem(8, 8, 2, hidden=64, inter=32, dtype=torch.bfloat16,
                       layout=ScaleLayout.TENSOR)
    checked = check_moe_args(*fp8.args(), fp8.scales["w13_scale"], fp8.scales["w2_scale"],
                             None, None)
    assert cpu.native_takes(checked, fp8.w13, fp8.w2) is native


# Widths: hidden 64 / inter 40 take the row-block kernel (not whole 64-byte lines); 128 / 96
# and 288 / 64 the line kernels, weight streams or packed panels by rows per expert (288
# columns: stream items of 256 and 32 columns, panel items of 64 and 32).
@needs_native
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("hidden, inter", [(64, 40), (128, 96), (288, 64)])
@pytest.mark.parametrize("tokens, experts, top_k", [(1, 16, 4), (7, 8, 2), (48, 4, 1),
                                                    (200, 2, 1)])
def test_fused_moe_matches_reference(dtype, hidden, inter, tokens, experts, top_k):
    # (48, 4, 1): ~12 rows per expert, several row groups share each weight step of the
    # streams; (200, 2, 1): ~100 rows per expert, the packed panels, over two row blocks.
    problem = make_problem(tokens, experts, top_k, hidden=hidden, inter=inter, dtype=dtype)
    out = cpu_native.fused_moe(*problem.args())
    assert out.dtype == dtype and out.shape == problem.x.shape
    assert_matches_reference(out, problem)


@needs_native
@pytest.mark.parametrize("hidden, inter", [(128, 64), (64, 40)])
def test_fused_moe_same_bits_whatever_the_thread_count(hidden, inter):
    problem = make_problem(24, 8, 4, hidden=hidden, inter=inter, dtype=torch.bfloat16)
    assert same_bits_on_one_and_two_threads(lambda: cpu_native.fused_moe(*problem.args()))


@needs_native
def test_fused_moe_refuses_ids_out_of_range():
    problem = make_problem(3, 8, 2, hidden=64, inter=32, dtype=torch.bfloat16)
    ids = problem.ids.clone()
    ids[1, 0] = 8
    with pytest.raises(ValueError, match=r"outside \[0, 8\)"):
        kernels.moe(problem.x, problem.w13, problem.w2, problem.weights, ids, backend="torch")


@needs_native
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_size_takes_the_native_call(monkeypatch, dtype):
    calls = []
    real = cpu_native.fused_moe
    monkeypatch.setattr(cpu_native, "fused_moe", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    for tokens in (1, 48, 300):
        problem = make_problem(tokens, 8, 2, hidden=64, inter=32, dtype=dtype)
        assert_matches_reference(run(problem), problem)
    assert calls == [1, 1, 1]


@needs_native
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_moe_in_chunks_matches_reference(monkeypatch, dtype):
    # Not bit-equal to one call: an expert's row count picks its kernel (streams or tiles).
    monkeypatch.setattr(cpu_native, "FUSED_CHUNK_TOKENS", 5)  # 5 + 5 + 3 tokens
    problem = make_problem(13, 8, 4, hidden=128, inter=64, dtype=dtype)
    assert_matches_reference(cpu_native.fused_moe(*problem.args()), problem)


@needs_native
def test_plain_calls_skip_the_full_check_with_the_same_result(monkeypatch):
    from kernels import dispatcher
    from kernels.validate import check_moe_args

    checked = []
    monkeypatch.setattr(dispatcher, "check_moe_args",
                        lambda *a, **kw: checked.append(1) or check_moe_args(*a, **kw))
    plain = make_problem(5, 8, 2, hidden=64, inter=32, dtype=torch.bfloat16)
    out = kernels.moe(*plain.args())
    assert checked == []
    full = cpu.moe_cpu(*plain.args(), check_moe_args(*plain.args(), None, None, None, None))
    assert torch.equal(out, full)
    fp8 = make_problem(5, 8, 2, hidden=64, inter=32, dtype=torch.bfloat16,
                       layout=ScaleLayout.TENSOR)
    assert_matches_reference(kernels.moe(*fp8.args(), **fp8.scales), fp8)
    assert checked == [1]
