"""FP8 E4M3 quantisation helpers shared by the kernels, the reference and the tests.

Three weight-scale layouts are understood (``dequantised = fp8 * scale``):

- per tensor: a scalar (shape ``[]`` or ``[1]``), one scale for every expert;
- per expert: ``[E]`` (the released checkpoint: ``experts.N.w*.qscale_weight``), and for w13
  also ``[E, 2]``: separate gate and up scales, as the checkpoint stores w1 and w3 apart;
- 128×128 blocks: ``[E, ceil(N / 128), ceil(K / 128)]`` for a weight ``[E, N, K]``.

Activation scales are static (calibrated): a scalar, or ``[E]`` per expert. Quantising an
activation saturates finite values to ±448 and turns non-finite values into NaN, so a NaN or
Inf input stays visible in the output instead of being clamped into a plausible number.
"""

from __future__ import annotations

from enum import Enum

import torch

FP8_DTYPE = torch.float8_e4m3fn
FP8_MAX = 448.0
SCALE_BLOCK = 128


class ScaleLayout(Enum):
    TENSOR = "tensor"
    EXPERT = "expert"
    SHARD = "shard"  # [E, 2]: gate and up halves of w13 scaled separately
    BLOCK = "block"


def _amax_scale(amax: torch.Tensor) -> torch.Tensor:
    # An all-zero weight still needs a usable (non-zero) scale.
    return (amax.float() / FP8_MAX).clamp_min(1e-12)


def _saturate(scaled: torch.Tensor) -> torch.Tensor:
    clamped = scaled.clamp(-FP8_MAX, FP8_MAX)
    return torch.where(torch.isfinite(scaled), clamped, torch.full_like(scaled, float("nan")))


def quantize_per_tensor(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One scale for the whole tensor; returns ``(fp8 weight, scalar float32 scale)``."""
    scale = _amax_scale(w.abs().amax())
    return _saturate(w.float() / scale).to(FP8_DTYPE), scale


def quantize_per_expert(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One scale per expert for ``w: [E, N, K]``; returns ``(fp8 weight, [E] scale)``."""
    scale = _amax_scale(w.abs().amax(dim=(1, 2)))
    return _saturate(w.float() / scale[:, None, None]).to(FP8_DTYPE), scale


def quantize_per_shard(w13: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Separate gate and up scales for ``w13: [E, 2I, H]``; returns ``(fp8, [E, 2] scale)``."""
    e, two_i, h = w13.shape
    halves = w13.float().view(e, 2, two_i // 2, h)
    scale = _amax_scale(halves.abs().amax(dim=(2, 3)))
    q = _saturate(halves / scale[:, :, None, None]).to(FP8_DTYPE)
    return q.view(e, two_i, h), scale


def quantize_blocks(w: torch.Tensor, block: int = SCALE_BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """128×128 block scales for ``w: [E, N, K]``; returns ``(fp8, [E, ceil(N/b), ceil(K/b)])``."""
    e, n, k = w.shape
    nb, kb = -(-n // block), -(-k // block)
    padded = torch.zeros(e, nb * block, kb * block, dtype=torch.float32, device=w.device)
    padded[:, :n, :k] = w.float()
    tiles = padded.view(e, nb, block, kb, block)
    scale = _amax_scale(tiles.abs().amax(dim=(2, 4)))
    q = _saturate(tiles / scale[:, :, None, :, None]).view(e, nb * block, kb * block)
    return q[:, :n, :k].contiguous().to(FP8_DTYPE), scale


def quantize(w: torch.Tensor, layout: ScaleLayout) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantise an expert weight ``[E, N, K]`` with the given scale layout."""
    if layout is ScaleLayout.TENSOR:
        return quantize_per_tensor(w)
    if layout is ScaleLayout.EXPERT:
        return quantize_per_expert(w)
    if layout is ScaleLayout.SHARD:
        return quantize_per_shard(w)
    return quantize_blocks(w)


def scale_layout(scale: torch.Tensor, weight_shape: tuple[int, ...], name: str) -> ScaleLayout:
    """Classify a weight scale by its shape; raise ``ValueError`` naming the tensor otherwise."""
    e, n, k = weight_shape
    block_shape = (e, -(-n // SCALE_BLOCK), -(-k // SCALE_BLOCK))
    shape = tuple(scale.shape)
    if shape in ((), (1,)):
        return ScaleLayout.TENSOR
    if shape == (e,):
        return ScaleLayout.EXPERT
    if shape == (e, 2) and name == "w13_scale":
        return ScaleLayout.SHARD
    if shape == block_shape:
        return ScaleLayout.BLOCK
    shard = f", [{e}, 2] (gate/up)" if name == "w13_scale" else ""
    raise ValueError(
        f"{name} has shape {list(shape)}; expected [] or [1] (per tensor), [{e}] (per expert)"
        f"{shard} or {list(block_shape)} (128×128 blocks)"
    )


def expand_weight_scale(scale: torch.Tensor, layout: ScaleLayout, shape: tuple[int, ...]):
    """The scale broadcast to a full ``[E, N, K]`` weight (float64, for the reference)."""
    e, n, k = shape
    s = scale.double()
    if layout is ScaleLayout.TENSOR:
        return s.reshape(1, 1, 1).expand(e, n, k)
    if layout is ScaleLayout.EXPERT:
        return s.reshape(e, 1, 1).expand(e, n, k)
    if layout is ScaleLayout.SHARD:
        return s.repeat_interleave(n // 2, dim=1)[:, :, None].expand(e, n, k)
    full = s.repeat_interleave(SCALE_BLOCK, dim=1).repeat_interleave(SCALE_BLOCK, dim=2)
    return full[:, :n, :k]


def dequantize(q: torch.Tensor, scale: torch.Tensor, name: str = "weight") -> torch.Tensor:
    """FP8 expert weight ``[E, N, K]`` back to float64 with any supported scale layout."""
    layout = scale_layout(scale, tuple(q.shape), name)
    return q.double() * expand_weight_scale(scale, layout, tuple(q.shape))


def quantize_activation(x: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """Static activation quantisation: ``fp8(x / scale)``, saturating, non-finite → NaN."""
    return _saturate(x.float() / torch.as_tensor(scale, dtype=torch.float32)).to(FP8_DTYPE)


def activation_scale(x: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """A static per-tensor activation scale that fits ``x`` (what calibration would produce)."""
    return _amax_scale(x.abs().amax() * margin).reshape(())
