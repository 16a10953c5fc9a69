"""FP8 checkpoints: a quantization config that is vLLM's FP8 except for the routed experts.

`Fp8MoEMethod` is not a CustomOp, so it cannot be swapped by name; instead this config is
registered as ``tessera_fp8`` and claims FP8 checkpoints of the target model through
`override_quantization_method` (or explicitly with ``--quantization tessera_fp8``). Linear
layers get `fp8_linear.TesseraCpuFp8LinearMethod` on CPU, where vLLM's FP8 linear does not run,
and vLLM's own elsewhere; KV cache and skipped layers get exactly what `Fp8Config` gives them;
routed experts get `TesseraFp8MoEMethod`, which creates the same parameters as vLLM's FP8 MoE method
and keeps them as loaded: FP8 E4M3 weights, per-expert (w13: per gate/up shard) or 128×128 block
weight scales and static per-expert activation scales, which `kernels.moe` takes as they are
(no requantising of w1/w3 to one shared scale, no max over the experts' activation scales).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from vllm.model_executor.layers.fused_moe.fused_moe_method_base import FusedMoEMethodBase
from vllm.model_executor.layers.fused_moe.routed_experts import RoutedExperts
from vllm.model_executor.layers.quantization import register_quantization_config
from vllm.model_executor.layers.quantization.fp8 import Fp8Config, Fp8MoEMethod

from model.vllm_plugin.experts import backend_for, run_routed_experts
from model.vllm_plugin.serving_check import check_before_serving
from model.vllm_plugin.target import hf_config_is_target, unsupported_reason
from model.vllm_plugin.unquantized import layer_unsupported_reason

QUANTIZATION_NAME = "tessera_fp8"
logger = logging.getLogger("vllm.tessera_plugin")


class TesseraFp8MoEMethod(FusedMoEMethodBase):
    supports_pre_processed_weights = False

    def __init__(self, quant_config: Fp8Config, layer: RoutedExperts) -> None:
        super().__init__(layer.moe_config)
        self.quant_config = quant_config
        self.weight_block_size = quant_config.weight_block_size
        self.block_quant = self.weight_block_size is not None
        self.weight_scale_name = "weight_scale_inv" if self.block_quant else "weight_scale"
        self.moe_block_shape = self.weight_block_size
        self.weight_scale_refine = None
        # vLLM's own FP8 MoE method, when the self-check before serving failed on a GPU.
        self.builtin: Fp8MoEMethod | None = None

    # Same parameters, names and loaders as vLLM's FP8 MoE method, so checkpoints load alike.
    create_weights = Fp8MoEMethod.create_weights

    @property
    def is_monolithic(self) -> bool:
        return False

    @property
    def supports_eplb(self) -> bool:
        return True

    def get_fused_moe_quant_config(self, layer: Any) -> Any:
        from vllm.model_executor.layers.fused_moe.config import FusedMoEQuantConfig

        return FusedMoEQuantConfig.make()

    def _scales(self, layer: Any) -> dict[str, torch.Tensor | None]:
        return {"w13_scale": getattr(layer, f"w13_{self.weight_scale_name}"),
                "w2_scale": getattr(layer, f"w2_{self.weight_scale_name}"),
                "a13_scale": layer.w13_input_scale, "a2_scale": layer.w2_input_scale}

    def process_weights_after_loading(self, layer: Any) -> None:
        if reason := layer_unsupported_reason(layer):
            raise RuntimeError(
                f"tessera MoE plugin cannot run {layer.layer_name} ({reason}); "
                "serve this model with TESSERA_MOE_PLUGIN=0")
        device = layer.w13_weight.device
        check = check_before_serving(layer, backend_for(device.type), fp8=True,
                                     scales=self._scales(layer))
        # On CPU the failed check has switched our native kernels off (the torch path
        # serves); on a GPU vLLM's own FP8 MoE takes this layer over.
        if not check.ok and device.type != "cpu":
            self.builtin = Fp8MoEMethod(self.quant_config, layer)
            self.builtin.process_weights_after_loading(layer)

    def apply(
        self,
        layer: Any,
        x: torch.Tensor,
        topk_weights: torch.Tensor,
        topk_ids: torch.Tensor,
        shared_experts: Any,
        shared_experts_input: torch.Tensor | None,
    ) -> torch.Tensor:
        if self.builtin is not None:
            return self.builtin.apply(layer, x, topk_weights, topk_ids, shared_experts,
                                      shared_experts_input)
        return run_routed_experts(layer, x, topk_weights, topk_ids, precision="fp8",
                                  **self._scales(layer))


class TesseraFp8Config(Fp8Config):
    @classmethod
    def get_name(cls) -> Any:
        return QUANTIZATION_NAME

    @classmethod
    def get_supported_act_dtypes(cls) -> list[torch.dtype]:
        # Our kernels also take float32 activations (the CPU tests run in float32); vLLM's FP8
        # linear layers decide for themselves whether they can.
        return [torch.bfloat16, torch.float16, torch.float32]

    @classmethod
    def override_quantization_method(
        cls, hf_quant_cfg: dict[str, Any], user_quant: str | None, hf_config: Any = None
    ) -> Any:
        if user_quant not in (None, "fp8", QUANTIZATION_NAME):
            return None
        if hf_quant_cfg.get("quant_method") != "fp8" or not hf_config_is_target(hf_config):
            return None
        return QUANTIZATION_NAME

    def get_quant_method(self, layer: Any, prefix: str) -> Any:
        if _cpu_fp8_linear(self, layer, prefix):
            from model.vllm_plugin.fp8_linear import TesseraCpuFp8LinearMethod

            return TesseraCpuFp8LinearMethod(self)
        method = super().get_quant_method(layer, prefix)
        if isinstance(layer, RoutedExperts) and isinstance(method, Fp8MoEMethod):
            reason = unsupported_reason(layer.moe_config)
            if reason is None:
                return TesseraFp8MoEMethod(self, layer)
            logger.info("tessera MoE plugin: leaving %s to vLLM (%s)", prefix, reason)
        return method


def _cpu_fp8_linear(config: Fp8Config, layer: Any, prefix: str) -> bool:
    """An FP8 linear layer on vLLM's CPU platform, where vLLM's own FP8 linear cannot run."""
    from vllm.model_executor.layers.linear import LinearBase
    from vllm.model_executor.layers.quantization.utils.quant_utils import is_layer_skipped
    from vllm.platforms import current_platform

    return (current_platform.is_cpu() and isinstance(layer, LinearBase)
            and not is_layer_skipped(prefix=prefix, ignored_layers=config.ignored_layers,
                                     fused_mapping=config.packed_modules_mapping,
                                     match_mode=config.ignored_layers_match_mode))


def register_fp8() -> None:
    from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS

    if QUANTIZATION_NAME not in QUANTIZATION_METHODS:
        register_quantization_config(QUANTIZATION_NAME)(TesseraFp8Config)
