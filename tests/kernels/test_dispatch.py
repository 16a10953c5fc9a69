"""Sorting pairs by expert with block padding."""

from __future__ import annotations

import pytest
import torch

from kernels.dispatch import max_row_blocks, sort_by_expert

from .helpers import random_ids


@pytest.mark.parametrize(("tokens", "experts", "top_k", "block_m"),
                         [(1, 8, 1, 16), (37, 8, 2, 16), (100, 128, 4, 64), (5, 4, 4, 1)])
def test_every_pair_once_in_blocks_of_its_expert(tokens, experts, top_k, block_m):
    ids = random_ids(tokens, experts, top_k)
    s = sort_by_expert(ids, experts, block_m)
    num_pairs = tokens * top_k
    used_rows = int(s.num_padded_rows)
    assert used_rows % block_m == 0
    assert s.max_blocks == max_row_blocks(num_pairs, experts, block_m)
    assert used_rows <= s.max_blocks * block_m
    real = s.pair_ids[s.pair_ids < num_pairs].long()
    assert sorted(real.tolist()) == list(range(num_pairs))
    assert (s.pair_ids[used_rows:] == num_pairs).all()
    flat = ids.reshape(-1).long()
    for row in range(used_rows):
        pair = int(s.pair_ids[row])
        block_expert = int(s.block_experts[row // block_m])
        if pair < num_pairs:
            assert flat[pair] == block_expert
    assert (s.block_experts[used_rows // block_m:] == -1).all()
    counts = torch.bincount(flat, minlength=experts)
    expected_rows = int(((counts + block_m - 1) // block_m * block_m).sum())
    assert used_rows == expected_rows


def test_pairs_keep_their_order_within_an_expert():
    ids = torch.tensor([[3, 1], [3, 0], [1, 3]], dtype=torch.int32)
    s = sort_by_expert(ids, 4, 2)
    rows = s.pair_ids.tolist()
    # expert 0: pair 3; expert 1: pairs 1, 4; expert 3: pairs 0, 2, 5 — each padded to 2.
    assert rows[: int(s.num_padded_rows)] == [3, 6, 1, 4, 0, 2, 5, 6]
