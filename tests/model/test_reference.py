import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model.config import ModelConfig, TextConfig
from model.layers import (
    Experts,
    FeedForward,
    Gate,
    llama4_query_scale,
    mixture_of_experts,
    rotate_pairs,
    yarn_inverse_frequencies,
)
from model.reference import Model, greedy, load_model
from model.tiny import tiny_config


def test_bf16_follows_fp32(tiny_dirs) -> None:
    directory = tiny_dirs("mistral", "small", vision=False)
    prompt = [1, 3, *range(1100, 1140), 4]
    full = greedy(load_model(directory, torch.float32), prompt, 8)
    half = greedy(load_model(directory, torch.bfloat16), prompt, 8)
    assert half.token_ids == full.token_ids
    assert max(abs(a - b) for a, b in zip(half.logprobs, full.logprobs, strict=True)) < 0.1


def random_moe(seed: int = 0) -> tuple[TextConfig, Gate, Experts, FeedForward]:
    text = tiny_config("odd").text
    torch.manual_seed(seed)
    moe = text.moe
    gate = Gate(text.hidden_size, moe.num_experts)
    experts = Experts(text.hidden_size, moe.expert_dim, moe.num_experts)
    shared = FeedForward(text.hidden_size, moe.shared_dim)
    for module in (gate, experts, shared):
        for parameter in module.parameters():
            torch.nn.init.normal_(parameter, std=0.3)
    return text, gate, experts, shared


@torch.no_grad()
def test_moe_matches_a_per_token_loop() -> None:
    text, gate, experts, shared = random_moe()
    x = torch.randn(9, text.hidden_size)
    expected = torch.zeros_like(x)
    inter, scale = text.moe.expert_dim, 0.5
    for t in range(len(x)):
        probs = torch.softmax(gate(x[t]), dim=-1)
        top = probs.topk(text.moe.top_k)
        for weight, e in zip(top.values / top.values.sum(), top.indices, strict=True):
            w13, w2 = experts.w13[e], experts.w2[e]
            hidden = torch.nn.functional.silu(w13[:inter] @ x[t]) * (w13[inter:] @ x[t])
            expected[t] += scale * weight * (w2 @ hidden)
        expected[t] += shared(x[t])
    got = mixture_of_experts(x, gate, experts, shared, text.moe.top_k, routed_scale=scale)
    assert torch.allclose(got, expected, atol=1e-5)


@torch.no_grad()
def test_the_kernels_moe_agrees_with_the_reference_moe() -> None:
    """The kernels (what our vLLM plugin runs) are checked against the plain-torch MoE."""
    import kernels

    text, gate, experts, shared = random_moe(seed=1)
    x = torch.randn(13, text.hidden_size)
    weights, ids = kernels.route(gate(x), text.moe.top_k, renormalize=True, scaling=1.0)
    fast = kernels.moe(x, experts.w13, experts.w2, weights, ids) + shared(x)
    reference = mixture_of_experts(x, gate, experts, shared, text.moe.top_k, routed_scale=1.0)
    assert torch.allclose(fast, reference, atol=1e-5)


def test_the_reference_imports_nothing_from_kernels(tiny_dirs) -> None:
    """The reference is the independent truth: loading and running it never loads `kernels`
    (only an FP8 checkpoint's file format is decoded by `kernels.fp8`, the one FP8 module)."""
    directory = tiny_dirs("mistral", "small", vision=True)
    script = (
        "import sys\n"
        "from model.reference import greedy, load_model\n"
        f"greedy(load_model({str(directory)!r}), [1, 3, 1100, 4], 2)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kernels'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_llama4_query_scale_steps_at_each_original_context() -> None:
    rope = tiny_config().text.rope  # original context 64, beta 0.1
    scale = llama4_query_scale(rope, torch.tensor([0, 63, 64, 127, 128, 200]))
    expected = [1, 1, 1 + 0.1 * math.log(2), 1 + 0.1 * math.log(2), 1 + 0.1 * math.log(3),
                1 + 0.1 * math.log(4)]
    assert torch.allclose(scale, torch.tensor(expected))


def test_yarn_keeps_fast_pairs_and_stretches_slow_ones() -> None:
    rope = ModelConfig().text.rope  # the real config: factor 128 over 8192
    freqs = yarn_inverse_frequencies(rope, 64)
    base = 1.0 / 10000 ** (torch.arange(0, 64, 2) / 64)
    assert torch.allclose(freqs[0], base[0])  # fastest pair untouched
    assert torch.allclose(freqs[-1], base[-1] / 128)  # slowest pair interpolated


def test_rotate_pairs_rotates_interleaved_pairs() -> None:
    x = torch.tensor([[1.0, 0.0, 0.0, 2.0]])
    out = rotate_pairs(x, torch.tensor([[math.pi / 2, math.pi]]))
    assert torch.allclose(out, torch.tensor([[0.0, 1.0, 0.0, -2.0]]), atol=1e-6)


def test_image_token_count_must_match(tiny_dirs) -> None:
    model = load_model(tiny_dirs("hf", "small", vision=True))
    image = torch.randn(3, 28, 28)  # one merged token
    prompt = torch.tensor([1, 10, 10, 4])  # two [IMG] slots
    with pytest.raises(ValueError, match="2 \\[IMG\\] tokens but the images give 1"):
        model(prompt, [image])


def test_text_only_model_refuses_images() -> None:
    model = Model(tiny_config(vision=False))
    with pytest.raises(ValueError, match="no vision encoder"):
        model.embed(torch.tensor([1, 10]), [torch.randn(3, 28, 28)])
