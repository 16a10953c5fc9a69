"""FP8 linear layers on vLLM's CPU platform, for the ``tessera_fp8`` config.

vLLM's `Fp8LinearMethod` does not run on CPU (its weight processing calls a CUDA-only
quantisation op), so a user had to dequantise the checkpoint to bf16 first: twice the memory.
This method creates the same parameters (names, shapes and loaders as vLLM's, so checkpoints
load alike) and keeps them as loaded: FP8 E4M3 weights, each fused shard with its own scale
(expanded to one scale per output row) or 128×128 block scales. `kernels.fp8_linear` widens
them in registers. The static input scale is loaded but not applied (W8A16, see there).
"""

from __future__ import annotations

from typing import Any

import torch
from vllm.model_executor.layers.linear import (
    LinearMethodBase,
    register_weight_loader_v2_supported_method,
)
from vllm.model_executor.layers.quantization.utils.fp8_utils import (
    create_fp8_input_scale,
    create_fp8_scale_parameter,
    create_fp8_weight_parameter,
)
from vllm.model_executor.parameter import BlockQuantScaleParameter, PerTensorScaleParameter
from vllm.model_executor.utils import set_weight_attrs

from kernels.fp8_linear import Fp8Linear


# Its parameters are vLLM's own parameter classes, which load through weight_loader_v2 (as
# vLLM's FP8 linear method does); the old loader cannot place per-shard scales.
@register_weight_loader_v2_supported_method
class TesseraCpuFp8LinearMethod(LinearMethodBase):
    def __init__(self, quant_config: Any) -> None:
        self.quant_config = quant_config
        self.block_size = quant_config.weight_block_size
        self.static_input = quant_config.activation_scheme == "static"

    def create_weights(self, layer: torch.nn.Module, input_size_per_partition: int,
                       output_partition_sizes: list[int], input_size: int, output_size: int,
                       params_dtype: torch.dtype, **extra_weight_attrs: Any) -> None:
        loader = extra_weight_attrs.get("weight_loader")
        layer.logical_widths = output_partition_sizes
        layer.input_size_per_partition = input_size_per_partition
        layer.output_size_per_partition = sum(output_partition_sizes)
        layer.orig_dtype = params_dtype
        layer.weight_block_size = self.block_size
        layer.register_parameter("weight", create_fp8_weight_parameter(
            sum(output_partition_sizes), input_size_per_partition, loader))
        if self.block_size is None:
            layer.register_parameter("weight_scale", create_fp8_scale_parameter(
                PerTensorScaleParameter, output_partition_sizes, input_size_per_partition,
                None, loader))
        else:
            layer.register_parameter("weight_scale_inv", create_fp8_scale_parameter(
                BlockQuantScaleParameter, output_partition_sizes, input_size_per_partition,
                self.block_size, loader))
        if self.static_input:
            scale = create_fp8_input_scale(output_partition_sizes, loader)
            set_weight_attrs(scale, {"scale_type": "input_scale"})
            layer.register_parameter("input_scale", scale)

    def process_weights_after_loading(self, layer: torch.nn.Module) -> None:
        weight = layer.weight.data
        if self.block_size is not None:
            layer.tessera_fp8 = Fp8Linear(weight, block_scale=layer.weight_scale_inv.data)
            return
        shard_scales = layer.weight_scale.data.reshape(-1).float()
        widths = torch.tensor(layer.logical_widths)
        if shard_scales.numel() == 1:
            row_scale = shard_scales.expand(weight.shape[0]).contiguous()
        else:
            row_scale = shard_scales.repeat_interleave(widths)
        layer.tessera_fp8 = Fp8Linear(weight, row_scale=row_scale)
        # The per-row copy replaces the per-shard scales (a few floats).
        layer.register_buffer("weight_row_scale", row_scale, persistent=False)

    def apply(self, layer: torch.nn.Module, x: torch.Tensor,
              bias: torch.Tensor | None = None) -> torch.Tensor:
        out = layer.tessera_fp8(x)
        return out if bias is None else out + bias
