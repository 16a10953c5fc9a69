"""Runs `fp8_vllm_run.py` (vLLM in its own process, our plugin from this checkout) and reads
back its answer and the MoE counter files it left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from model.vllm_plugin.counter import MoeCounts, read_counts

PROMPT = [1, 3, *range(1300, 1320), 4]
MAX_TOKENS = 8


@dataclass
class EngineRun:
    answer: dict
    counts: MoeCounts


def run_engine(checkpoint: Path, ignored: list[str] | None, work: Path,
               **env_extra: str) -> EngineRun:
    """``ignored``: FP8 linear layers stored dequantised; None for an unquantised checkpoint."""
    ignored_arg = "none"
    if ignored is not None:
        ignored_file = work / "ignored.json"
        ignored_file.write_text(json.dumps(ignored))
        ignored_arg = str(ignored_file)
    stats = work / "stats"
    root = str(Path(__file__).resolve().parents[3])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, TESSERA_MOE_PLUGIN="1", TESSERA_MOE_STATS_DIR=str(stats),
               PYTHONPATH=path, **env_extra)
    runner = Path(__file__).with_name("fp8_vllm_run.py")
    done = subprocess.run(
        [sys.executable, str(runner), str(checkpoint), ignored_arg,
         ",".join(map(str, PROMPT)), str(MAX_TOKENS)],
        cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return EngineRun(json.loads(done.stdout.strip().splitlines()[-1]), read_counts(stats))
