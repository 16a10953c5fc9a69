"""The reference implementation: the Mistral Small 4 architecture in plain PyTorch.

Readable first. One sequence at a time, no KV cache (each step recomputes the whole prefix):
this is the ground truth engines are compared against, not a server. Text decoder in
model/layers.py, vision tower in model/vision.py; this file puts them together.

    tokens ──embed──┬──────────────────────────────► [Block × L] ─norm─ output ─► logits
    images ─vision_encoder─norm─patch_merger─adapter─┘ (replace the [IMG] positions)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from model.config import ModelConfig, ScaleConvention, softmax_scale
from model.layers import Block, RMSNorm, linear, llama4_query_scale, rope_angles
from model.vision import PatchMerger, VisionLanguageAdapter, VisionTransformer


class Model(nn.Module):
    def __init__(self, config: ModelConfig, scale_convention: ScaleConvention | None = None
                 ) -> None:
        super().__init__()
        self.config = config
        text = config.text
        scale = softmax_scale(text, scale_convention)
        self.tok_embeddings = nn.Embedding(text.vocab_size, text.hidden_size)
        self.layers = nn.ModuleList(Block(text, n, scale) for n in range(text.num_layers))
        self.norm = RMSNorm(text.hidden_size, text.norm_eps)
        self.output = None if text.tied_embeddings else linear(text.hidden_size, text.vocab_size)
        vision = config.vision
        if vision is not None:
            self.vision_encoder = VisionTransformer(vision)
            self.pre_mm_projector_norm = RMSNorm(vision.hidden_size, vision.projector_norm_eps)
            self.patch_merger = PatchMerger(vision)
            self.vision_language_adapter = VisionLanguageAdapter(vision, text.hidden_size)

    def image_embeddings(self, image: torch.Tensor) -> torch.Tensor:
        """One preprocessed image [C, H, W] → its [IMG] embeddings, row-major, [tokens, hidden]."""
        features, rows, cols = self.vision_encoder(image)
        merged = self.patch_merger(self.pre_mm_projector_norm(features), rows, cols)
        return self.vision_language_adapter(merged)

    def embed(self, tokens: torch.Tensor, images: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        x = self.tok_embeddings(tokens)
        if not images:
            return x
        if self.config.vision is None:
            raise ValueError("this model has no vision encoder")
        slots = (tokens == self.config.vision.image_token_id).nonzero().flatten()
        embeddings = torch.cat([self.image_embeddings(image) for image in images])
        if len(slots) != len(embeddings):
            raise ValueError(f"the prompt has {len(slots)} [IMG] tokens but the images give "
                             f"{len(embeddings)} embeddings")
        x = x.clone()
        x[slots] = embeddings.to(x.dtype)
        return x

    def forward(self, tokens: torch.Tensor, images: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        """tokens [T] (positions 0…T-1) → logits [T, vocab] in float32."""
        text = self.config.text
        positions = torch.arange(len(tokens))
        angles = rope_angles(text.rope, text.qk_rope_head_dim, positions)
        q_scale = llama4_query_scale(text.rope, positions)
        x = self.embed(tokens, images)
        for layer in self.layers:
            x = layer(x, angles, q_scale)
        head = self.tok_embeddings.weight if self.output is None else self.output.weight
        return (self.norm(x) @ head.t()).float()


def load_model(directory: str | Path, dtype: torch.dtype = torch.float32,
               scale_convention: ScaleConvention | None = None) -> Model:
    """A checkpoint directory (either format, FP8 dequantised) → a ready `Model` in `dtype`."""
    from model.checkpoint import load_weights

    weights = load_weights(directory, dtype)
    with torch.device("meta"):
        model = Model(weights.config, scale_convention)
    model.load_state_dict(weights.tensors, strict=True, assign=True)
    return model.eval()


@dataclass(frozen=True)
class Generation:
    token_ids: list[int]
    logprobs: list[float]  # log-probability of each chosen token


@torch.inference_mode()
def greedy(model: Model, prompt: Sequence[int], max_tokens: int,
           images: Sequence[torch.Tensor] = (), stop_ids: Sequence[int] = ()) -> Generation:
    """Greedy continuation; each step reruns the full prefix (the reference has no cache)."""
    tokens = list(prompt)
    chosen: list[int] = []
    logprobs: list[float] = []
    for _ in range(max_tokens):
        logits = model(torch.tensor(tokens), images)[-1]
        token = int(logits.argmax())
        chosen.append(token)
        logprobs.append(float(torch.log_softmax(logits, dim=-1)[token]))
        tokens.append(token)
        if token in stop_ids:
            break
    return Generation(chosen, logprobs)
