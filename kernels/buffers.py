"""Scratch and output allocation for the MoE paths, with a poisoning switch for tests.

With ``POISON`` set, every buffer starts NaN-filled instead of uninitialised, so an element a
kernel forgot to write shows up as NaN in the output instead of passing by luck.
"""

from __future__ import annotations

import torch

POISON = False


def empty(*shape: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    if POISON and dtype.is_floating_point:
        return torch.full(shape, float("nan"), device=device).to(dtype)
    return torch.empty(*shape, dtype=dtype, device=device)
