"""Fidelity (a): our logits against transformers' Mistral4 / Mistral3 on the same HF weights.

transformers multiplies the softmax scale by YaRN's mscale² (our "mscale" convention); we serve
the plain scale (docs/model.md). Both directions are checked: transformers with its scale set to
the plain value against our default, and transformers as shipped against our "mscale" switch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.config_formats import load_config
from model.reference import load_model
from tests.support import require_module

transformers = require_module("transformers")  # the cpu extra
pytestmark = pytest.mark.slow

TOLERANCE = 1e-4
# 200 positions: past the tiny models' original context (64), so YaRN's interpolated
# frequencies and the Llama-4 query scaling (floor(pos/64) = 1, 2, 3) are both exercised.
PROMPT = torch.randint(20, 2048, (200,), generator=torch.Generator().manual_seed(0))
PROMPT[0] = 1


def hf_model(directory, plain_scale: bool):
    config = load_config(directory).config
    cls = (transformers.Mistral3ForConditionalGeneration if config.vision is not None
           else transformers.Mistral4ForCausalLM)
    model = cls.from_pretrained(directory, dtype=torch.float32, attn_implementation="eager",
                                experts_implementation="eager").eval()
    if plain_scale:
        attention = [m for m in model.modules() if type(m).__name__ == "Mistral4Attention"]
        assert len(attention) == config.text.num_layers
        for module in attention:
            module.scaling = config.text.qk_head_dim**-0.5
    return model


def image_prompt(directory):
    from mistral_common.protocol.instruct.chunk import ImageChunk, TextChunk
    from mistral_common.protocol.instruct.messages import UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from PIL import Image

    from model.tokenizer import load_tokenizer

    pixels = (np.random.RandomState(0).rand(50, 80, 3) * 255).astype("uint8")
    request = ChatCompletionRequest(messages=[UserMessage(content=[
        ImageChunk(image=Image.fromarray(pixels)), TextChunk(text="what is this?")])])
    encoded = load_tokenizer(directory).encode_chat_completion(request)
    return torch.tensor(encoded.tokens), torch.from_numpy(encoded.images[0])


@pytest.mark.parametrize("preset", ["small", "odd", "real-latent"])
def test_text_logits_match_transformers(tiny_dirs, preset) -> None:
    directory = tiny_dirs("hf", preset, vision=False)
    ours = load_model(directory)
    theirs = hf_model(directory, plain_scale=True)
    with torch.no_grad():
        difference = (ours(PROMPT) - theirs(input_ids=PROMPT[None]).logits[0]).abs().max()
    print(f"fidelity text {preset}: max abs diff {difference.item():.3e}")
    assert difference <= TOLERANCE


@pytest.mark.parametrize("preset", ["small", "odd"])
def test_image_logits_match_transformers(tiny_dirs, preset) -> None:
    directory = tiny_dirs("hf", preset, vision=True)
    tokens, image = image_prompt(directory)
    ours = load_model(directory)
    theirs = hf_model(directory, plain_scale=True)
    with torch.no_grad():
        mine = ours(tokens, [image])
        reference = theirs(input_ids=tokens[None], pixel_values=image[None],
                           image_sizes=torch.tensor([list(image.shape[1:])])).logits[0]
        text_only = ours(tokens[tokens != ours.config.vision.image_token_id])
    difference = (mine - reference).abs().max()
    print(f"fidelity image {preset}: max abs diff {difference.item():.3e}")
    assert difference <= TOLERANCE
    assert not torch.allclose(mine[-1], text_only[-1], atol=1e-2)  # the image mattered


def test_mscale_switch_matches_transformers_as_shipped(tiny_dirs) -> None:
    directory = tiny_dirs("hf", "small", vision=False)
    theirs = hf_model(directory, plain_scale=False)
    with torch.no_grad():
        reference = theirs(input_ids=PROMPT[None]).logits[0]
        switched = load_model(directory, scale_convention="mscale")(PROMPT)
        default = load_model(directory)(PROMPT)
    assert (switched - reference).abs().max() <= TOLERANCE
    assert (default - reference).abs().max() > 100 * TOLERANCE  # the two scales really differ
