"""FP8 E4M3 linear layers on CPU: ``y = x · (fp8 · scale)ᵀ`` with the weight kept in FP8.

The weight stays E4M3 in memory (one byte per value) and is widened in registers by the
native kernel (`cpu_native.linear`); its scales are either one per output row (a fused
projection's shards each keep their own scale: no requantising to a shared one) or 128×128
blocks. Shapes the native kernel does not take (N or K not a multiple of 32, no AVX2/gcc)
dequantise the weight for the call in torch; the resident weight is FP8 either way.

Activations are not quantised (W8A16): on a CPU there is no FP8 arithmetic to gain from it,
and the result is closer to the unquantised model than the checkpoint's W8A8 intent.
"""

from __future__ import annotations

import torch

from kernels import cpu_native
from kernels.fp8 import FP8_DTYPE, ScaleLayout, expand_weight_scale


class Fp8Linear:
    """One FP8 weight ``[N, K]`` and its scales, callable on ``x [..., K]``."""

    def __init__(self, weight: torch.Tensor, *, row_scale: torch.Tensor | None = None,
                 block_scale: torch.Tensor | None = None) -> None:
        if weight.dtype != FP8_DTYPE or weight.dim() != 2:
            raise TypeError(f"weight must be a 2-D float8_e4m3fn tensor, got {weight.dtype} "
                            f"{list(weight.shape)}")
        if (row_scale is None) == (block_scale is None):
            raise ValueError("give exactly one of row_scale [N] or block_scale [N/128, K/128]")
        n, k = weight.shape
        self.weight = weight.contiguous()
        if row_scale is not None:
            if tuple(row_scale.shape) != (n,):
                raise ValueError(f"row_scale has shape {list(row_scale.shape)}; expected [{n}]")
            self.native_scale = cpu_native.WeightScale.per_row(row_scale, k)
            self._expanded = lambda: row_scale.float()[:, None]
        else:
            assert block_scale is not None
            grid = (-(-n // 128), -(-k // 128))
            if tuple(block_scale.shape) != grid:
                raise ValueError(f"block_scale has shape {list(block_scale.shape)}; "
                                 f"expected {list(grid)}")
            self.native_scale = cpu_native.WeightScale(block_scale, ScaleLayout.BLOCK, n, k)
            self._expanded = lambda: expand_weight_scale(block_scale.float(), ScaleLayout.BLOCK,
                                                         (n, k))

    @property
    def nbytes(self) -> int:
        """Resident bytes: the FP8 weight and its float32 scales."""
        scales = self.native_scale.values
        return self.weight.numel() + scales.numel() * scales.element_size()

    def dequantized(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return (self.weight.to(torch.float32) * self._expanded()).to(dtype)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        lead, k = x.shape[:-1], x.shape[-1]
        rows = x.reshape(-1, k)
        if rows.shape[0] and cpu_native.linear_takes(rows, self.weight):
            out = cpu_native.linear(rows, self.weight, self.native_scale)
        else:
            out = (rows.float() @ self.dequantized().T).to(x.dtype)
        return out.reshape(*lead, self.weight.shape[0])
