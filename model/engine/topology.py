"""Where this node stands in a multi-node engine, read from the user's vLLM options.

vLLM scales out two ways, and `tessera serve` passes both through unchanged:

- one engine spread over nodes (`--nnodes N --node-rank R --master-addr HOST
  --master-port P`, tensor and pipeline parallel ranks split among the nodes): the
  leader (rank 0) serves the API, followers run `--headless` workers that join the
  leader's torch.distributed group at HOST:P;
- data parallel engines on several nodes (`--data-parallel-size N
  --data-parallel-size-local L --data-parallel-address HOST --data-parallel-rpc-port P`):
  the leader runs the API and its L engines, each follower runs `--headless
  --data-parallel-start-rank S` engines that connect to HOST:P.

The leader cannot answer before every follower has joined; `Topology` says what it waits
for, so `tessera serve` can say it while it waits and name what is missing when it gives up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def option_value(args: Sequence[str], names: tuple[str, ...]) -> str | None:
    """The last value given to any of `names` (`--name V` or `--name=V`): vLLM keeps the last."""
    found = None
    for index, arg in enumerate(args):
        name, equals, value = arg.partition("=")
        if name in names:
            if equals:
                found = value
            elif index + 1 < len(args):
                found = args[index + 1]
    return found


def _int(args: Sequence[str], names: tuple[str, ...], default: int) -> int:
    value = option_value(args, names)
    try:
        return int(value) if value is not None else default
    except ValueError as exc:
        raise ValueError(f"{names[0]} takes a whole number, not {value!r}") from exc


@dataclass(frozen=True)
class Topology:
    tensor: int = 1
    pipeline: int = 1
    nodes: int = 1  # --nnodes: one engine's ranks spread over this many nodes
    node_rank: int = 0
    master: str = "127.0.0.1:29501"  # torch.distributed master (vLLM's defaults)
    data_parallel: int = 1
    data_parallel_local: int | None = None  # engines on this node (None: vLLM's default)
    data_parallel_start: int = 0
    data_parallel_address: str = "127.0.0.1:?"
    headless: bool = False

    @classmethod
    def of(cls, args: Sequence[str]) -> Topology:
        master = option_value(args, ("--master-addr",)) or "127.0.0.1"
        master_port = option_value(args, ("--master-port",)) or "29501"
        dp_host = option_value(args, ("--data-parallel-address", "-dpa")) or master
        dp_port = option_value(args, ("--data-parallel-rpc-port", "-dpp")) or "?"
        local = option_value(args, ("--data-parallel-size-local", "-dpl"))
        return cls(
            tensor=_int(args, ("--tensor-parallel-size", "-tp"), 1),
            pipeline=_int(args, ("--pipeline-parallel-size", "-pp"), 1),
            nodes=_int(args, ("--nnodes",), 1),
            node_rank=_int(args, ("--node-rank",), 0),
            master=f"{master}:{master_port}",
            data_parallel=_int(args, ("--data-parallel-size", "-dp"), 1),
            data_parallel_local=int(local) if local is not None else None,
            data_parallel_start=_int(args, ("--data-parallel-start-rank", "-dpr"), 0),
            data_parallel_address=f"{dp_host}:{dp_port}",
            headless="--headless" in args,
        )

    @property
    def local_engines(self) -> int:
        if self.data_parallel_local is not None:
            return self.data_parallel_local
        return self.data_parallel if self.nodes == 1 else 1

    @property
    def local_ranks(self) -> int:
        """Worker processes on this node (what the CPU thread binding splits the CPUs for)."""
        per_engine = self.tensor * self.pipeline
        if self.nodes > 1:
            per_engine = max(per_engine // self.nodes, 1)
        return per_engine * max(self.local_engines, 1)

    @property
    def multi_node(self) -> bool:
        return self.nodes > 1 or self.local_engines < self.data_parallel

    @property
    def leader(self) -> bool:
        return not self.headless and self.node_rank == 0 and self.data_parallel_start == 0

    def awaited(self) -> str:
        """What a leader waits for, in words (empty on a single node)."""
        parts = []
        if self.nodes > 1:
            followers = ("node rank 1" if self.nodes == 2
                         else f"node ranks 1 to {self.nodes - 1}")
            parts.append(f"{followers} of {self.nodes} to join the torch.distributed group "
                         f"at {self.master} (`--nnodes {self.nodes} --node-rank R --master-addr "
                         f"{self.master.rsplit(':', 1)[0]} --master-port "
                         f"{self.master.rsplit(':', 1)[1]} --headless`)")
        remote = self.data_parallel - self.local_engines
        if remote > 0:
            first = self.local_engines
            ranks = (f"data parallel rank {first}" if remote == 1
                     else f"data parallel ranks {first} to {self.data_parallel - 1}")
            parts.append(f"{ranks} to connect to {self.data_parallel_address} (`--headless "
                         f"--data-parallel-start-rank {first}` on the node that runs them)")
        return "; ".join(parts)
