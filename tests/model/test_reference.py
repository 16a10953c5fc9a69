import math

import pytest
import torch

from model.config import ModelConfig
from model.layers import MoE, llama4_query_scale, rotate_pairs, yarn_inverse_frequencies
from model.reference import Model, greedy, load_model
from model.tiny import tiny_config


def test_bf16_follows_fp32(tiny_dirs) -> None:
    directory = tiny_dirs("mistral", "small", vision=False)
    prompt = [1, 3, *range(1100, 1140), 4]
    full = greedy(load_model(directory, torch.float32), prompt, 8)
    half = greedy(load_model(directory, torch.bfloat16), prompt, 8)
    assert half.token_ids == full.token_ids
    assert max(abs(a - b) for a, b in zip(half.logprobs, full.logprobs, strict=True)) < 0.1


def test_moe_matches_a_per_token_loop() -> None:
    text = tiny_config("odd").text
    torch.manual_seed(0)
    moe = MoE(text)
    for parameter in moe.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    x = torch.randn(9, text.hidden_size)
    expected = torch.zeros_like(x)
    inter = text.moe.expert_dim
    for t in range(len(x)):
        probs = torch.softmax(moe.gate(x[t]), dim=-1)
        top = probs.topk(text.moe.top_k)
        for weight, e in zip(top.values / top.values.sum(), top.indices, strict=True):
            w13, w2 = moe.experts.w13[e], moe.experts.w2[e]
            hidden = torch.nn.functional.silu(w13[:inter] @ x[t]) * (w13[inter:] @ x[t])
            expected[t] += weight * (w2 @ hidden)
        expected[t] += moe.shared_experts(x[t])
    with torch.no_grad():
        assert torch.allclose(moe(x), expected, atol=1e-5)


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
