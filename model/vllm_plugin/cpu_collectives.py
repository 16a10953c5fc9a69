"""Data parallel with expert parallel on vLLM's CPU workers (vLLM 0.32).

With `--data-parallel-size N --enable-expert-parallel`, each MoE layer gathers every data
parallel rank's tokens (`all_gatherv`, sizes differ per rank) and, after the experts, sums
and hands each rank back its own rows (`reduce_scatterv`). vLLM's CPU communicator has
neither: the base class raises NotImplementedError, so the first request kills a DP + EP
engine on CPU. `patch_cpu_variable_collectives` gives the CPU communicator both, built on
the collectives it has (gloo underneath):

- `all_gatherv`: each rank's rows padded to the largest count, one all-gather, the padding
  cut away again, in rank order (what the CUDA communicator returns);
- `reduce_scatterv`: one all-reduce of the whole input, then this rank's rows. It moves
  N times the data a true reduce-scatter would, which at CPU speeds is not what limits a
  step, and each row is the same sum of the same terms.

A communicator that already implements either (a later vLLM) is left alone.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("vllm.tessera_plugin")


def patch_cpu_variable_collectives() -> bool:
    """True when both collectives are available on the CPU communicator (now or before)."""
    from vllm.distributed.device_communicators.base_device_communicator import (
        DeviceCommunicatorBase,
    )
    from vllm.distributed.device_communicators.cpu_communicator import CpuCommunicator

    patched = False
    if CpuCommunicator.all_gatherv is DeviceCommunicatorBase.all_gatherv:
        CpuCommunicator.all_gatherv = all_gatherv  # type: ignore[method-assign]
        patched = True
    if CpuCommunicator.reduce_scatterv is DeviceCommunicatorBase.reduce_scatterv:
        CpuCommunicator.reduce_scatterv = reduce_scatterv  # type: ignore[method-assign]
        patched = True
    if patched:
        logger.info("tessera plugin: all_gatherv and reduce_scatterv for the CPU communicator "
                    "(data parallel with expert parallel on CPU)")
    return True


def all_gatherv(self: Any, input_: Any, dim: int = 0, sizes: list[int] | None = None) -> Any:
    if dim != 0:
        raise NotImplementedError("only dim 0 all-gatherv is supported")
    if isinstance(input_, (list, tuple)):
        return [_gather_rows(self, tensor, sizes) for tensor in input_]
    return _gather_rows(self, input_, sizes)


def _gather_rows(communicator: Any, tensor: Any, sizes: list[int] | None) -> Any:
    import torch

    if sizes is None or all(size == sizes[0] for size in sizes):
        return communicator.all_gather(tensor, dim=0)
    longest = max(sizes)
    padded = tensor
    if tensor.shape[0] < longest:
        padding = tensor.new_zeros((longest - tensor.shape[0], *tensor.shape[1:]))
        padded = torch.cat([tensor, padding], dim=0)
    gathered = communicator.all_gather(padded.contiguous(), dim=0)
    return torch.cat([gathered[rank * longest: rank * longest + size]
                      for rank, size in enumerate(sizes)], dim=0)


def reduce_scatterv(self: Any, input_: Any, dim: int = -1,
                    sizes: list[int] | None = None) -> Any:
    if dim < 0:
        dim += input_.dim()
    rows = input_.movedim(0, dim).contiguous()  # the scattered dimension first
    if sizes is None:
        if rows.shape[0] % self.world_size:
            raise ValueError(f"{rows.shape[0]} rows do not split over {self.world_size} ranks")
        sizes = [rows.shape[0] // self.world_size] * self.world_size
    if len(sizes) != self.world_size or sum(sizes) != rows.shape[0]:
        raise ValueError(f"sizes {sizes} do not split {rows.shape[0]} rows over "
                         f"{self.world_size} ranks")
    summed = self.all_reduce(rows)
    start = sum(sizes[: self.rank_in_group])
    mine = summed[start: start + sizes[self.rank_in_group]]
    return mine.movedim(0, dim).contiguous()
