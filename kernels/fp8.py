"""FP8 E4M3: the one quantise/dequantise module (kernels, checkpoint loading, tiny checkpoints,
tests and benchmarks all use it; it lives here because `kernels` imports nothing of the rest).

A weight is an expert stack ``[E, N, K]`` or one linear weight ``[N, K]``. Weight-scale layouts
(``dequantised = fp8 * scale``; HF's ``weight_scale_inv`` is such a multiplier too):

- per tensor: a scalar (shape ``[]`` or ``[1]``), one scale for every expert;
- per expert: ``[E]`` (the released checkpoint: ``experts.N.w*.qscale_weight``), and for w13
  also ``[E, 2]``: separate gate and up scales, as the checkpoint stores w1 and w3 apart;
- 128×128 blocks: ``[E, ceil(N / 128), ceil(K / 128)]`` (``[ceil(N / 128), ceil(K / 128)]``
  for a 2-D weight).

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
    """128×128 block scales for ``w: [..., N, K]``; returns ``(fp8, [..., N/b, K/b])`` (ceil)."""
    *lead, n, k = w.shape
    nb, kb = -(-n // block), -(-k // block)
    padded = torch.zeros(*lead, nb * block, kb * block, dtype=torch.float32, device=w.device)
    padded[..., :n, :k] = w.float()
    tiles = padded.view(*lead, nb, block, kb, block)
    scale = _amax_scale(tiles.abs().amax(dim=(-3, -1)))
    q = _saturate(tiles / scale[..., :, None, :, None]).view_as(padded)
    return q[..., :n, :k].contiguous().to(FP8_DTYPE), scale


def quantize(w: torch.Tensor, layout: ScaleLayout) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantise an expert weight ``[E, N, K]`` with the given scale layout."""
    if layout is ScaleLayout.TENSOR:
        return quantize_per_tensor(w)
    if layout is ScaleLayout.EXPERT:
        return quantize_per_expert(w)
    if layout is ScaleLayout.SHARD:
        return quantize_per_shard(w)
    return quantize_blocks(w)


def _block_grid(weight_shape: tuple[int, ...]) -> tuple[int, ...]:
    *lead, n, k = weight_shape
    return (*lead, -(-n // SCALE_BLOCK), -(-k // SCALE_BLOCK))


def scale_layout(scale: torch.Tensor, weight_shape: tuple[int, ...], name: str) -> ScaleLayout:
    """Classify a weight scale by its shape; raise ``ValueError`` naming the tensor otherwise."""
    shape = tuple(scale.shape)
    experts = weight_shape[0] if len(weight_shape) == 3 else None
    if shape in ((), (1,)):
        return ScaleLayout.TENSOR
    if experts is not None and shape == (experts,):
        return ScaleLayout.EXPERT
    if experts is not None and shape == (experts, 2) and name == "w13_scale":
        return ScaleLayout.SHARD
    if shape == _block_grid(weight_shape):
        return ScaleLayout.BLOCK
    per_expert = "" if experts is None else f", [{experts}] (per expert)"
    shard = f", [{experts}, 2] (gate/up)" if name == "w13_scale" and experts else ""
    raise ValueError(
        f"{name} has shape {list(shape)}; expected [] or [1] (per tensor){per_expert}{shard} "
        f"or {list(_block_grid(weight_shape))} (128×128 blocks)"
    )


def expand_weight_scale(scale: torch.Tensor, layout: ScaleLayout,
                        shape: tuple[int, ...]) -> torch.Tensor:
    """The scale broadcast to the full weight shape ``[..., N, K]`` (in the scale's dtype)."""
    n, k = shape[-2:]
    if layout is ScaleLayout.TENSOR:
        return scale.reshape([1] * len(shape)).expand(shape)
    if layout is ScaleLayout.EXPERT:
        return scale.reshape(-1, 1, 1).expand(shape)
    if layout is ScaleLayout.SHARD:
        return scale.repeat_interleave(n // 2, dim=1)[:, :, None].expand(shape)
    full = scale.repeat_interleave(SCALE_BLOCK, dim=-2).repeat_interleave(SCALE_BLOCK, dim=-1)
    return full[..., :n, :k]


def dequantize(q: torch.Tensor, scale: torch.Tensor, name: str = "weight",
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """FP8 weight ``[..., N, K]`` × its scale, in ``dtype`` (float64 for the kernels' oracle;
    float32 when loading a checkpoint: fp8 → float32 is exact and the product rounds once).

    Checkpoints also store a scalar as ``[1, 1]`` and per-expert scales as ``[E, 1, 1]``.
    """
    if scale.numel() == 1:
        scale = scale.reshape(())
    elif q.dim() == 3 and tuple(scale.shape) == (q.shape[0], 1, 1):
        scale = scale.reshape(-1)
    layout = scale_layout(scale, tuple(q.shape), name)
    return q.to(dtype) * expand_weight_scale(scale.to(dtype), layout, tuple(q.shape))


def quantize_activation(x: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """Static activation quantisation: ``fp8(x / scale)``, saturating, non-finite → NaN."""
    return _saturate(x.float() / torch.as_tensor(scale, dtype=torch.float32)).to(FP8_DTYPE)


def activation_scale(x: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """A static per-tensor activation scale that fits ``x`` (what calibration would produce)."""
    return _amax_scale(x.abs().amax() * margin).reshape(())
