"""The self-check before serving: our kernels against a trusted MoE on the model's own weights.

The first MoE layer whose weights finish loading in an engine process runs
`kernels.self_check.check_moe` on a slice of its experts (real widths, FP8 or bf16 as
loaded), before the engine reports ready. Its verdict holds for every layer of the process:

- passed: our kernels serve;
- failed (a compile error, an exception, a mismatch): bf16/fp32 layers go to vLLM's built-in
  fused MoE; FP8 layers to vLLM's built-in FP8 MoE on GPUs, and on CPU — where vLLM has no FP8
  MoE — to our torch path with the native kernels switched off (`cpu_native.disable`, which
  the FP8 linear layers follow too).

The verdict and the path serving are logged and written with the MoE counter
(`counter.COUNTER.set_serving`), which `tessera engine status` reads.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from kernels.self_check import Check, ExpertWeights, check_moe, reference_name
from model.vllm_plugin.counter import COUNTER, MoeServing

logger = logging.getLogger("vllm.tessera_plugin")
_verdict: dict[str, Check] = {}


def check_before_serving(layer: Any, backend: str, *, fp8: bool,
                         scales: dict[str, torch.Tensor | None] | None = None) -> Check:
    """The process's verdict (checked at the first call, on this layer's experts)."""
    if "check" in _verdict:
        return _verdict["check"]
    config = layer.moe_config
    experts = ExpertWeights(layer.w13_weight.data, layer.w2_weight.data,
                            config.experts_per_token, config.in_dtype, **(scales or {}))
    device = layer.w13_weight.device
    check = check_moe(experts, backend)
    _verdict["check"] = check
    if check.ok:
        serving, label = f"tessera kernels ({backend})", f"tessera {backend}"
        logger.info("tessera MoE plugin: self-check against %s passed (%s); serving with %s",
                    reference_name(device), check.details, serving)
    else:
        serving, label = fallback_name(device, fp8), fallback_label(device, fp8)
        if device.type == "cpu":
            from kernels import cpu_native

            cpu_native.disable(f"self-check failed: {check.reason}")
        logger.warning("tessera MoE plugin: self-check FAILED (%s); this engine serves with %s",
                       check.reason, serving)
    COUNTER.set_serving(MoeServing(serving, label,
                                   "passed" if check.ok else f"failed: {check.reason}"))
    return check


def fallback_name(device: torch.device, fp8: bool) -> str:
    if not fp8:
        return "vLLM's built-in fused MoE"
    if device.type == "cpu":
        return "tessera torch path, native kernels off (vLLM has no FP8 MoE on CPU)"
    return "vLLM's built-in FP8 MoE"


def fallback_label(device: torch.device, fp8: bool) -> str:
    """`fallback_name` in a few words, for a status line."""
    return "torch path" if fp8 and device.type == "cpu" else "vLLM built-in"


def reset_for_tests() -> None:
    _verdict.clear()
