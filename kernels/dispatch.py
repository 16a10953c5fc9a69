"""Token → expert dispatch: the (token, slot) pairs grouped by expert for the grouped GEMMs.

A *pair* is one (token t, slot k) choice, numbered ``p = t * top_k + k``. Large batches sort
the pairs by expert and pad every expert's run to a multiple of the GEMM's row block, so each
row block of the grouped GEMM belongs to exactly one expert (`sort_by_expert`). Tiny batches
(decode) skip the sort: each pair reads its expert's weights directly (the tuned launch
config's `path`, kernels/configs), which saves the sort's launches where they would cost more
than the GEMM.

Everything here is plain torch, runs on any device, and never reads device values back to the
host, so it adds no synchronisation on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SortedPairs:
    """Pairs grouped by expert, each expert's run padded to ``block_m`` rows.

    ``pair_ids[r]`` is the pair in padded row r, or ``num_pairs`` for a padding row.
    ``block_experts[b]`` is the expert of row block b, or -1 past the last used block.
    ``num_padded_rows`` (a one-element device tensor) is how many rows are used; programs past
    it exit at once. ``max_blocks`` bounds the used blocks and sizes the launch grid.
    """

    pair_ids: torch.Tensor
    block_experts: torch.Tensor
    num_padded_rows: torch.Tensor
    num_pairs: int
    block_m: int
    max_blocks: int


def max_row_blocks(num_pairs: int, num_experts: int, block_m: int) -> int:
    # Each expert that has pairs can leave at most one partly filled block.
    return -(-num_pairs // block_m) + min(num_experts, num_pairs)


def sort_by_expert(ids: torch.Tensor, num_experts: int, block_m: int) -> SortedPairs:
    """Group the pairs of ``ids [T, top_k]`` by expert, stable in pair order."""
    flat = ids.reshape(-1).long()
    num_pairs = flat.numel()
    device = ids.device
    # scatter_add, not bincount: bincount reads the maximum id back to the host (a sync, and
    # it breaks CUDA graph capture).
    counts = torch.zeros(num_experts, dtype=torch.long, device=device)
    counts.scatter_add_(0, flat, torch.ones_like(flat))
    padded = (counts + block_m - 1) // block_m * block_m
    padded_end = padded.cumsum(0)
    padded_start = padded_end - padded
    order = torch.argsort(flat, stable=True)
    sorted_experts = flat[order]
    first_of_expert = counts.cumsum(0) - counts
    rank = torch.arange(num_pairs, device=device) - first_of_expert[sorted_experts]
    destination = padded_start[sorted_experts] + rank

    max_blocks = max_row_blocks(num_pairs, num_experts, block_m)
    pair_ids = torch.full((max_blocks * block_m,), num_pairs, dtype=torch.int32, device=device)
    pair_ids[destination] = order.to(torch.int32)
    block_starts = torch.arange(max_blocks, device=device) * block_m
    block_experts = torch.searchsorted(padded_end, block_starts, right=True)
    block_experts = torch.where(block_experts < num_experts, block_experts, -1).to(torch.int32)
    return SortedPairs(
        pair_ids=pair_ids,
        block_experts=block_experts,
        num_padded_rows=padded_end[-1:].to(torch.int32),
        num_pairs=num_pairs,
        block_m=block_m,
        max_blocks=max_blocks,
    )
