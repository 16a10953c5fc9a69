"""BF16/FP32 checkpoints: vLLM's unquantized MoE method, with our kernels for the target model.

`UnquantizedFusedMoEMethod` is a vLLM CustomOp: registering a subclass out of tree under the
in-tree class name makes every MoE layer of every model get this class. It decides per layer,
at construction, whether our kernels take over (a Mistral Small 4 class model, a SiLU-gated
layer without biases); when they do not, every method defers to vLLM's own unchanged.
Taking over means keeping the weights in vLLM's load layout (w13 [E, 2I, H], w2 [E, H, I]),
skipping the backend's repacking, and answering `apply` with `kernels.moe` — once the
self-check before serving (`serving_check`) has passed; when it fails, vLLM's own path serves.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from vllm.model_executor.layers.fused_moe.fused_moe_method_base import FusedMoEMethodBase
from vllm.model_executor.layers.fused_moe.unquantized_fused_moe_method import (
    UnquantizedFusedMoEMethod,
)

from model.vllm_plugin.experts import backend_for, run_routed_experts
from model.vllm_plugin.serving_check import check_before_serving
from model.vllm_plugin.target import serving_target_model, unsupported_reason

logger = logging.getLogger("vllm.tessera_plugin")


def layer_unsupported_reason(layer: Any) -> str | None:
    """What only the layer (not its config) knows: weights applied before the experts."""
    if getattr(layer, "apply_router_weight_on_input", False):
        return "router weights applied on the input"
    return None


class TesseraUnquantizedMoEMethod(UnquantizedFusedMoEMethod):
    def __init__(self, moe: Any) -> None:
        reason = unsupported_reason(moe) if serving_target_model() else "not the target model"
        super().__init__(moe)
        self.tessera_active = reason is None
        if reason is not None and reason != "not the target model":
            logger.info("tessera MoE plugin: leaving a layer to vLLM (%s)", reason)

    @property
    def is_monolithic(self) -> bool:
        return False if self.tessera_active else super().is_monolithic

    def process_weights_after_loading(self, layer: Any) -> None:
        if self.tessera_active and (reason := layer_unsupported_reason(layer)):
            logger.info("tessera MoE plugin: leaving %s to vLLM (%s)", layer.layer_name, reason)
            self.tessera_active = False
        if self.tessera_active:
            backend = backend_for(layer.w13_weight.device.type)
            self.tessera_active = check_before_serving(layer, backend, fp8=False).ok
        if not self.tessera_active:
            super().process_weights_after_loading(layer)
            return
        FusedMoEMethodBase.process_weights_after_loading(self, layer)

    def apply(
        self,
        layer: Any,
        x: torch.Tensor,
        topk_weights: torch.Tensor,
        topk_ids: torch.Tensor,
        shared_experts: Any,
        shared_experts_input: torch.Tensor | None,
    ) -> torch.Tensor:
        if not self.tessera_active:
            return super().apply(layer, x, topk_weights, topk_ids, shared_experts,
                                 shared_experts_input)
        return run_routed_experts(layer, x, topk_weights, topk_ids, precision=_precision(x))


def _precision(x: torch.Tensor) -> str:
    return {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}.get(
        x.dtype, str(x.dtype))


def register_unquantized() -> bool:
    """Install the class; False when a class is already registered under the in-tree name."""
    from vllm.model_executor.custom_op import op_registry_oot

    existing = op_registry_oot.get("UnquantizedFusedMoEMethod")
    if existing is TesseraUnquantizedMoEMethod:
        return True
    if existing is not None:
        logger.warning("tessera MoE plugin: another plugin already replaced "
                       "UnquantizedFusedMoEMethod (%s); leaving it", existing)
        return False
    UnquantizedFusedMoEMethod.register_oot(TesseraUnquantizedMoEMethod)
    return True
