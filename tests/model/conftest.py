from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from model.tiny import write_tiny

REPO = Path(__file__).parents[2]
# 83 tokens, past the tiny models' original context (64), so YaRN and the Llama-4 query scaling
# are exercised; the continuation runs to position 98.
ENGINE_PROMPT = [1, 3, *range(1100, 1180), 4]
ENGINE_MAX_TOKENS = 16


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory):
    """Write tiny checkpoints on demand, once per session: tiny_dirs(fmt, preset, vision, fp8)."""
    made: dict[tuple, Path] = {}

    def make(fmt: str = "hf", preset: str = "small", vision: bool = True,
             fp8: str | None = None, seed: int = 0) -> Path:
        key = (fmt, preset, vision, fp8, seed)
        if key not in made:
            out = tmp_path_factory.mktemp(f"{fmt}-{preset}-{'v' if vision else 't'}-{fp8}")
            write_tiny(out, fmt=fmt, vision=vision, seed=seed, preset=preset, fp8=fp8)
            made[key] = out
        return made[key]

    return make


@dataclass(frozen=True)
class EngineRun:
    """`tessera model check --engine vllm` once: greedy ids and logprobs, with its log."""

    checkpoint: Path
    token_ids: list[int]
    logprobs: list[float]
    log: str
    stats_dir: Path  # TESSERA_MOE_STATS_DIR: our plugin's per-process call counts


def model_check(directory: Path, engine: str, *extra: str, plugin: bool = True,
                stats_dir: Path | None = None) -> tuple[dict, str]:
    """Run `tessera model check` in its own process; (its JSON answer, its stdout + stderr).
    `plugin` sets TESSERA_MOE_PLUGIN: off, vLLM's own MoE runs (the compat shims stay)."""
    env = dict(os.environ, TESSERA_MOE_PLUGIN="1" if plugin else "0")
    if stats_dir is not None:
        env["TESSERA_MOE_STATS_DIR"] = str(stats_dir)
    command = [sys.executable, "-m", "agent", "model", "check", str(directory),
               "--engine", engine, "--prompt-ids", ",".join(map(str, ENGINE_PROMPT)),
               "--max-tokens", str(ENGINE_MAX_TOKENS), "--json", *extra]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stdout + done.stderr


@pytest.fixture(scope="session")
def one_rank_vllm(tmp_path_factory: pytest.TempPathFactory) -> Callable[[bool], EngineRun]:
    """vLLM on one rank (in-process engine, float32) on a tiny checkpoint with the real latent
    widths (kv_lora_rank 256 + rope 64): one_rank_vllm(plugin) runs at most once per session
    for each plugin setting, since each run starts an engine (~20-80 s on 2 cores)."""
    checkpoint = tmp_path_factory.mktemp("vllm-real-latent")
    write_tiny(checkpoint, fmt="mistral", vision=False, seed=3, preset="real-latent")
    runs: dict[bool, EngineRun] = {}

    def run(plugin: bool) -> EngineRun:
        if plugin not in runs:
            stats = tmp_path_factory.mktemp(f"moe-stats-plugin-{'on' if plugin else 'off'}")
            answer, log = model_check(checkpoint, "vllm", plugin=plugin, stats_dir=stats)
            runs[plugin] = EngineRun(checkpoint, answer["token_ids"], answer["logprobs"], log,
                                     stats)
        return runs[plugin]

    return run
