"""Pixtral vision: patch encoder with 2-D RoPE, then the projector into the text model's width.

Images arrive already resized and normalised by mistral-common (`[C, H, W]`, H and W multiples
of patch × merge). Each image is encoded on its own, so patches attend only within their image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.config import VisionConfig
from model.layers import FeedForward, RMSNorm, linear, rotate_pairs


def grid_angles(vision: VisionConfig, rows: int, cols: int) -> torch.Tensor:
    """[rows·cols, head_dim/2] angles: even frequency indices follow the patch row, odd ones the
    column, each pair of the head rotated by one of them."""
    dim = vision.head_dim
    freqs = 1.0 / vision.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    row = torch.arange(rows, dtype=torch.float32)[:, None, None] * freqs[None, None, ::2]
    col = torch.arange(cols, dtype=torch.float32)[None, :, None] * freqs[None, None, 1::2]
    return torch.cat([row.expand(rows, cols, -1), col.expand(rows, cols, -1)], dim=-1).flatten(0, 1)


class VisionAttention(nn.Module):
    def __init__(self, vision: VisionConfig) -> None:
        super().__init__()
        d = vision.hidden_size
        self.heads, self.head_dim = vision.num_heads, vision.head_dim
        self.wq, self.wk, self.wv, self.wo = linear(d, d), linear(d, d), linear(d, d), linear(d, d)

    def forward(self, x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(len(x), self.heads, self.head_dim)

        q = rotate_pairs(heads(self.wq(x)), angles[:, None, :])
        k = rotate_pairs(heads(self.wk(x)), angles[:, None, :])
        out = F.scaled_dot_product_attention(
            q.transpose(0, 1), k.transpose(0, 1), heads(self.wv(x)).transpose(0, 1))
        return self.wo(out.transpose(0, 1).reshape(len(x), -1))


class VisionBlock(nn.Module):
    def __init__(self, vision: VisionConfig) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(vision.hidden_size, vision.norm_eps)
        self.attention = VisionAttention(vision)
        self.ffn_norm = RMSNorm(vision.hidden_size, vision.norm_eps)
        self.feed_forward = FeedForward(vision.hidden_size, vision.intermediate_size)

    def forward(self, x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), angles)
        return x + self.feed_forward(self.ffn_norm(x))


class VisionTransformer(nn.Module):
    def __init__(self, vision: VisionConfig) -> None:
        super().__init__()
        self.vision = vision
        self.patch_conv = nn.Conv2d(vision.num_channels, vision.hidden_size,
                                    kernel_size=vision.patch_size, stride=vision.patch_size,
                                    bias=False)
        self.ln_pre = RMSNorm(vision.hidden_size, vision.norm_eps)
        self.transformer = nn.Module()
        self.transformer.layers = nn.ModuleList(
            VisionBlock(vision) for _ in range(vision.num_layers))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """One image [C, H, W] → (patch features [rows·cols, D], rows, cols)."""
        patches = self.patch_conv(image[None].to(self.patch_conv.weight.dtype))[0]
        _, rows, cols = patches.shape
        x = self.ln_pre(patches.flatten(1).t())
        angles = grid_angles(self.vision, rows, cols)
        for layer in self.transformer.layers:
            x = layer(x, angles)
        return x, rows, cols


class PatchMerger(nn.Module):
    """Concatenate each 2×2 square of patch features and project back to D: a quarter as many
    image tokens."""

    def __init__(self, vision: VisionConfig) -> None:
        super().__init__()
        self.merge = vision.spatial_merge_size
        self.merging_layer = linear(vision.hidden_size * self.merge**2, vision.hidden_size)

    def forward(self, x: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
        grid = x.t().reshape(1, -1, rows, cols)
        squares = F.unfold(grid, kernel_size=self.merge, stride=self.merge)[0].t()
        return self.merging_layer(squares)


class VisionLanguageAdapter(nn.Module):
    def __init__(self, vision: VisionConfig, text_hidden: int) -> None:
        super().__init__()
        self.w_in = linear(vision.hidden_size, text_hidden)
        self.w_out = linear(text_hidden, text_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_out(F.gelu(self.w_in(x)))
