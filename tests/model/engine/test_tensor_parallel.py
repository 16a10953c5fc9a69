"""Tensor + expert parallel on CPU with our plugin: `tessera engine start MODEL
--tensor-parallel-size 2 --enable-expert-parallel` on a machine with one NUMA node.

vLLM's automatic CPU binding gives each worker a NUMA node of its own and refuses to start
two workers on one node ("Not enough allowed NUMA nodes"); the engine command now splits the
allowed CPUs among the ranks when the user gave no `VLLM_CPU_OMP_THREADS_BIND`. Both ranks run
our kernels on their half of the experts, and the greedy tokens equal one rank's.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from model.engine import EngineSettings, start_engine, stop_engine
from model.engine.command import numa_nodes
from model.engine.state import EnginePaths, read_api_key
from tests.model.conftest import ENGINE_MAX_TOKENS, ENGINE_PROMPT

pytestmark = [
    pytest.mark.engine,
    pytest.mark.require_module("vllm"),  # vllm-cpu, the cpu extra
]


def greedy_completion(data_dir: Path, base_url: str) -> dict:
    body = {"model": "tessera", "prompt": ENGINE_PROMPT, "max_tokens": ENGINE_MAX_TOKENS,
            "temperature": 0, "logprobs": 1, "return_token_ids": True, "ignore_eos": True}
    request = urllib.request.Request(
        f"{base_url}/completions", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"Bearer {read_api_key(EnginePaths.under(data_dir))}"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())["choices"][0]


def calls_by_process(stats_dir: Path, wanted: int, wait: float = 10.0) -> list[int]:
    """Each engine process's count of MoE calls our kernels served (files are rewritten
    twice a second, so wait a little for `wanted` processes)."""
    deadline = time.monotonic() + wait
    while True:
        calls = [json.loads(p.read_text())["calls"] for p in stats_dir.glob("moe-calls-*.json")]
        if len([c for c in calls if c > 0]) >= wanted or time.monotonic() > deadline:
            return calls
        time.sleep(0.5)


def test_two_ranks_with_our_plugin_give_one_ranks_greedy_tokens(
        one_rank_vllm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)  # the user gave none
    monkeypatch.setenv("TESSERA_MOE_PLUGIN", "1")
    one_rank = one_rank_vllm(plugin=True)
    data_dir = tmp_path / "data"
    settings = EngineSettings(one_rank.checkpoint, cpu=True, extra_args=[
        "--tensor-parallel-size", "2", "--enable-expert-parallel"])
    info = start_engine(settings, data_dir, timeout=600)
    try:
        choice = greedy_completion(data_dir, info.base_url)
        calls = calls_by_process(EnginePaths.under(data_dir).moe_stats, wanted=2)
    finally:
        stop_engine(data_dir)
    worst = max(abs(a - b) for a, b in zip(choice["logprobs"]["token_logprobs"],
                                           one_rank.logprobs, strict=True))
    print(f"\nTP=2 + EP (NUMA nodes: {numa_nodes()}): tokens equal one rank's: "
          f"{choice['token_ids'] == one_rank.token_ids}, max |Δlogprob| {worst:.2e}, "
          f"MoE calls by our kernels per rank {calls}")
    assert choice["token_ids"] == one_rank.token_ids
    assert len(calls) == 2 and min(calls) > 0  # both ranks ran our kernels
