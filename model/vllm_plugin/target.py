"""Which models and MoE layers our kernels take over; everything else stays vLLM's own."""

from __future__ import annotations

import os
from typing import Any

PLUGIN_ENV = "TESSERA_MOE_PLUGIN"

# vLLM maps a Mistral-format Mistral Small 4 checkpoint (params.json with a shared-expert MoE
# and Llama-4 query scaling) to this DeepSeek-V3-derived class, wrapped by Pixtral with vision.
TARGET_ARCHITECTURES = frozenset({"MistralLarge3ForCausalLM"})


def plugin_enabled() -> bool:
    """`TESSERA_MOE_PLUGIN=0` (or off/false/no) turns the plugin off for A/B runs."""
    return os.environ.get(PLUGIN_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def _architectures(config: Any) -> set[str]:
    found = set(getattr(config, "architectures", None) or ())
    for attribute in ("text_config", "language_config"):
        inner = getattr(config, attribute, None)
        if inner is not None and inner is not config:
            found |= set(getattr(inner, "architectures", None) or ())
    return found


def serving_target_model() -> bool:
    """True while vLLM builds a model of the Mistral Small 4 class."""
    from vllm.config import get_current_vllm_config_or_none

    vllm_config = get_current_vllm_config_or_none()
    model_config = getattr(vllm_config, "model_config", None)
    if model_config is None:
        return False
    return bool(_architectures(model_config.hf_config) & TARGET_ARCHITECTURES)


def hf_config_is_target(hf_config: Any) -> bool:
    return hf_config is not None and bool(_architectures(hf_config) & TARGET_ARCHITECTURES)


def unsupported_reason(moe: Any) -> str | None:
    """Why our kernels cannot run this layer (None when they can): SiLU-gated, no biases."""
    from vllm.model_executor.layers.fused_moe.activation import MoEActivation

    if moe.activation != MoEActivation.SILU or not moe.is_act_and_mul:
        return f"activation {moe.activation.value} (ours is SiLU-gated)"
    if moe.has_bias:
        return "expert biases"
    if any(getattr(moe, name, None) is not None
           for name in ("swiglu_limit", "swiglu_alpha", "swiglu_beta")):
        return "clamped SwiGLU"
    return None
