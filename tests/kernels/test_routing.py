"""`kernels.route` on both backends against torch's own softmax/topk."""

from __future__ import annotations

import pytest
import torch

import kernels
from kernels.routing import route_torch

BACKENDS = ["torch", "triton"]


def brute_force_grouped(logits, top_k, num_groups, topk_group, scoring):
    """Per token, in plain Python: keep the best groups, then the best experts among them."""
    scores = logits.double().softmax(-1) if scoring == "softmax" else logits.double().sigmoid()
    size = logits.shape[1] // num_groups
    all_ids = []
    for row in scores:
        group_best = [max(row[g * size : (g + 1) * size]).item() for g in range(num_groups)]
        kept = sorted(range(num_groups), key=lambda g: -group_best[g])[:topk_group]
        candidates = [e for g in kept for e in range(g * size, (g + 1) * size)]
        all_ids.append(sorted(candidates, key=lambda e: -row[e].item())[:top_k])
    return torch.tensor(all_ids), scores


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("tokens", "experts", "top_k"),
                         [(1, 8, 1), (5, 8, 2), (37, 128, 4), (3, 128, 8), (70, 20, 3)])
def test_softmax_topk_with_renormalisation(backend, tokens, experts, top_k):
    logits = torch.randn(tokens, experts) * 3
    weights, ids = kernels.route(logits, top_k, backend=backend)
    expected_w, expected_ids = logits.softmax(-1).topk(top_k, dim=-1)
    expected_w = expected_w / expected_w.sum(-1, keepdim=True)
    assert ids.dtype == torch.int32 and weights.dtype == torch.float32
    assert torch.equal(ids.long(), expected_ids)
    torch.testing.assert_close(weights, expected_w, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scaling_without_renormalisation(backend):
    # Distinct values, exact in bf16: random bf16 logits tie often enough that two correct
    # top-k implementations may order tied experts differently.
    logits = (torch.stack([torch.randperm(16) for _ in range(9)]).float() / 4 - 2).bfloat16()
    weights, ids = kernels.route(logits, 4, renormalize=False, scaling=2.5, backend=backend)
    expected_w, expected_ids = logits.float().softmax(-1).topk(4, dim=-1)
    assert torch.equal(ids.long(), expected_ids)
    torch.testing.assert_close(weights, expected_w * 2.5, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scoring", ["softmax", "sigmoid"])
@pytest.mark.parametrize(("experts", "num_groups", "topk_group", "top_k"),
                         [(64, 8, 3, 6), (32, 4, 1, 2), (24, 4, 2, 5)])
def test_grouped_topk(backend, scoring, experts, num_groups, topk_group, top_k):
    logits = torch.randn(11, experts)
    weights, ids = kernels.route(logits, top_k, num_groups=num_groups, topk_group=topk_group,
                                 scoring=scoring, backend=backend)
    expected_ids, scores = brute_force_grouped(logits, top_k, num_groups, topk_group, scoring)
    assert torch.equal(ids.long(), expected_ids)
    chosen = scores.gather(1, expected_ids)
    torch.testing.assert_close(weights.double(), chosen / chosen.sum(-1, keepdim=True),
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_logits_keep_ids_in_range_and_weights_nan(backend):
    logits = torch.randn(4, 16)
    logits[1] = float("nan")
    weights, ids = kernels.route(logits, 4, backend=backend)
    assert ((ids >= 0) & (ids < 16)).all()
    assert torch.isnan(weights[1]).all()
    assert torch.isfinite(weights[[0, 2, 3]]).all()


def test_backends_agree_on_the_model_router():
    logits = torch.randn(50, 128)
    assert all(torch.equal(a, b) if a.dtype == torch.int32 else torch.allclose(a, b)
               for a, b in zip(kernels.route(logits, 4, backend="triton"),
                               route_torch(logits, 4), strict=True))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"top_k": 0}, "top_k=0"),
        ({"top_k": 9}, "top_k=9"),
        ({"top_k": 2, "num_groups": 3}, "num_groups=3"),
        ({"top_k": 2, "num_groups": 4, "topk_group": 5}, "topk_group=5"),
        ({"top_k": 2, "scoring": "softmin"}, "scoring"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kernels.route(torch.randn(3, 8), **kwargs)


def test_bad_logits_are_clear_errors():
    with pytest.raises(ValueError, match="router_logits has shape"):
        kernels.route(torch.randn(8), 2)
    with pytest.raises(TypeError, match="router_logits has dtype"):
        kernels.route(torch.ones(2, 8, dtype=torch.int64), 2)
