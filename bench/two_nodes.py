"""Two "nodes" of one engine on this machine: `tessera serve` twice on loopback, each with a
data directory of its own (as two machines would have) and a CPU of its own.

Shared by the multi-node engine test (tests/model/engine/test_multi_node.py) and the
benchmark (bench/multinode_bench.py), so both run exactly the recipes docs/engine.md gives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from model.engine.command import free_port
from model.engine.state import EngineInfo, EnginePaths, read_api_key
from model.engine.supervisor import descendants, process_alive

ROOT = Path(__file__).resolve().parent.parent


def pipeline_recipe(master_port: int) -> tuple[list[str], list[str]]:
    """Leader's and follower's vLLM options: one engine, one pipeline stage per node."""
    common = ["--pipeline-parallel-size", "2", "--nnodes", "2", "--master-addr", "127.0.0.1",
              "--master-port", str(master_port)]
    return [*common, "--node-rank", "0"], [*common, "--node-rank", "1", "--headless"]


def data_parallel_recipe(rpc_port: int) -> tuple[list[str], list[str]]:
    """Leader's and follower's vLLM options: a data parallel engine on each node, the
    experts split between them (expert parallel)."""
    common = ["--data-parallel-size", "2", "--data-parallel-size-local", "1",
              "--data-parallel-address", "127.0.0.1", "--data-parallel-rpc-port",
              str(rpc_port), "--enable-expert-parallel"]
    return common, [*common, "--headless", "--data-parallel-start-rank", "1"]


@dataclass
class Node:
    data_dir: Path
    process: subprocess.Popen[str]
    log: Path
    exit_code: int | None = None

    @property
    def stats_dir(self) -> Path:
        return EnginePaths.under(self.data_dir).moe_stats


@dataclass
class TwoNodes:
    leader: Node
    follower: Node
    base_url: str
    api_key: str
    ready_s: float
    left_behind: list[int] = field(default_factory=list)  # filled in when they stop

    def complete(self, prompt: list[int], max_tokens: int) -> dict:
        """A greedy completion (token ids and logprobs) from the leader's API."""
        body = {"model": "tessera", "prompt": prompt, "max_tokens": max_tokens,
                "temperature": 0, "logprobs": 1, "return_token_ids": True, "ignore_eos": True}
        request = urllib.request.Request(
            f"{self.base_url}/completions", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {self.api_key}"})
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read())["choices"][0]


def _serve(checkpoint: Path, data_dir: Path, cpu: int, args: list[str],
           plugin: bool) -> Node:
    env = {**os.environ, "TESSERA_HOME": str(data_dir), "VLLM_CPU_OMP_THREADS_BIND": str(cpu),
           "TESSERA_MOE_PLUGIN": "1" if plugin else "0"}
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "agent", "serve", str(checkpoint), *args], env=env,
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
    return Node(data_dir, process, log)


@contextmanager
def two_nodes(checkpoint: Path, workdir: Path, leader_args: list[str],
              follower_args: list[str], *, plugin: bool = True,
              timeout: float = 900.0) -> Iterator[TwoNodes]:
    """Start the follower and the leader, wait until the leader answers, and on leaving
    stop both with SIGTERM (as a service manager would), recording their exit codes and
    any engine process left behind."""
    port = free_port()
    begun = time.monotonic()
    follower = _serve(checkpoint, workdir / "node1", 1, follower_args, plugin)
    leader = _serve(checkpoint, workdir / "node0", 0, ["--port", str(port), *leader_args],
                    plugin)
    nodes = None
    try:
        paths = EnginePaths.under(leader.data_dir)
        while True:
            for node in (leader, follower):
                if node.process.poll() is not None:
                    raise RuntimeError(f"{node.data_dir.name} exited with "
                                       f"{node.process.returncode}:\n{_tail(node.log)}")
            info = EngineInfo.read(paths)
            if info is not None and _answers(info):
                break
            if time.monotonic() - begun > timeout:
                raise TimeoutError(f"no answer within {timeout:.0f} s:\n{_tail(leader.log)}")
            time.sleep(1)
        key = read_api_key(paths) or ""
        nodes = TwoNodes(leader, follower, info.base_url, key, time.monotonic() - begun)
        yield nodes
    finally:
        tree = set()
        for node in (leader, follower):
            tree |= descendants([node.process.pid], session=node.process.pid)
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in (leader, follower):
            try:
                node.exit_code = node.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(node.process.pid, signal.SIGKILL)
                node.exit_code = node.process.wait()
        deadline = time.monotonic() + 10
        while any(process_alive(pid) for pid in tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        if nodes is not None:
            nodes.left_behind = sorted(pid for pid in tree if process_alive(pid))


def _answers(info: EngineInfo) -> bool:
    try:
        with urllib.request.urlopen(f"http://{info.host}:{info.port}/health",
                                    timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def moe_calls(stats_dir: Path) -> list[int]:
    """Each engine process's count of MoE calls our kernels served on that node."""
    return [json.loads(p.read_text())["calls"] for p in stats_dir.glob("moe-calls-*.json")]
