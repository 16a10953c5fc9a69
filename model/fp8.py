"""FP8 E4M3 weights: quantise (for tiny test checkpoints) and dequantise (for loading).

Scales are multipliers in both formats: Mistral's `qscale_weight` and HF's `weight_scale_inv`
(named "inv" but applied as dequantised = fp8 × scale). A scale is per tensor (one value), per
expert ([E, 1, 1] or [E]), or per 128×128 block ([..., ceil(rows/128), ceil(cols/128)]).
Dequantisation is done in float32, where fp8 → fp32 is exact and the product rounds once.
"""

from __future__ import annotations

import math

import torch

FP8 = torch.float8_e4m3fn
FP8_MAX = torch.finfo(FP8).max
BLOCK = 128


class ScaleShapeError(ValueError):
    pass


def dequantize(weight: torch.Tensor, scale: torch.Tensor, name: str = "weight") -> torch.Tensor:
    """fp8 weight × scale in float32; `scale` per tensor, per expert or per block."""
    values = weight.to(torch.float32)
    scale = scale.to(torch.float32)
    if scale.numel() == 1:
        return values * scale.reshape(())
    if scale.dim() == 1 and scale.shape[0] == weight.shape[0] and weight.dim() == 3:
        return values * scale[:, None, None]  # one scale per expert
    if weight.dim() == 3 and tuple(scale.shape) == (weight.shape[0], 1, 1):
        return values * scale  # per expert, stored as [E, 1, 1]
    if scale.dim() == weight.dim():
        return values * _expand_blocks(scale, weight.shape, name)
    raise ScaleShapeError(f"{name}: scale shape {tuple(scale.shape)} does not fit weight "
                          f"{tuple(weight.shape)}")


def _expand_blocks(scale: torch.Tensor, shape: torch.Size, name: str) -> torch.Tensor:
    rows, cols = shape[-2], shape[-1]
    if scale.shape[:-2] != shape[:-2] or scale.shape[-2:] != (
        math.ceil(rows / BLOCK), math.ceil(cols / BLOCK)
    ):
        raise ScaleShapeError(
            f"{name}: block scale shape {tuple(scale.shape)} is not ceil({tuple(shape)}/128)"
        )
    expanded = scale.repeat_interleave(BLOCK, dim=-2).repeat_interleave(BLOCK, dim=-1)
    return expanded[..., :rows, :cols]


def quantize_per_tensor(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fp8 weight, float32 scalar scale) with the largest magnitude mapped to FP8's max."""
    scale = weight.abs().max().to(torch.float32).clamp(min=1e-12) / FP8_MAX
    return (weight.to(torch.float32) / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8), scale


def quantize_blocks(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fp8 weight, float32 [ceil(rows/128), ceil(cols/128)] scales) for a 2-D weight."""
    rows, cols = weight.shape
    grid = (math.ceil(rows / BLOCK), math.ceil(cols / BLOCK))
    padded = torch.zeros(grid[0] * BLOCK, grid[1] * BLOCK, dtype=torch.float32)
    padded[:rows, :cols] = weight.to(torch.float32)
    blocks = padded.view(grid[0], BLOCK, grid[1], BLOCK)
    scale = blocks.abs().amax(dim=(1, 3)).clamp(min=1e-12) / FP8_MAX
    quantised = (blocks / scale[:, None, :, None]).clamp(-FP8_MAX, FP8_MAX)
    return quantised.view_as(padded)[:rows, :cols].contiguous().to(FP8), scale
