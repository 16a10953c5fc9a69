"""Pipeline parallel on vLLM's CPU workers (vLLM 0.32), whether the stages share a machine
or not.

A worker that is not the first pipeline stage receives the previous stage's hidden states
into a buffer, `intermediate_tensors`, which vLLM's GPU model runner allocates during the
dummy run of its warm-up. The CPU runner skips that warm-up in eager mode (Tessera serves
CPU eagerly, `--enforce-eager`), so the buffer never exists and the first request kills
the engine (`assert self.intermediate_tensors is not None` in
`sync_and_gather_intermediate_tensors`). `patch_cpu_pipeline_buffers` allocates it right
after the model loads, exactly as the dummy run would: `make_empty_intermediate_tensors`
for `max_num_tokens` tokens, in the model's dtype, on the worker's device. Nothing else
changes, and a runner that already has the buffer is left alone.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

logger = logging.getLogger("vllm.tessera_plugin")


def patch_cpu_pipeline_buffers() -> bool:
    """True when the patch is installed (now or before); False off the CPU platform."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return False
    from vllm.v1.worker.cpu_model_runner import CPUModelRunner

    original = CPUModelRunner.load_model
    if getattr(original, "_tessera_compat", False):
        return True

    @functools.wraps(original)
    def load_model(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        allocate_stage_input(self)
        return result

    load_model._tessera_compat = True  # type: ignore[attr-defined]
    CPUModelRunner.load_model = load_model  # type: ignore[method-assign]
    return True


def allocate_stage_input(runner: Any) -> None:
    """The buffer a later pipeline stage receives its input in (the dummy run's)."""
    from vllm.distributed.parallel_state import get_pp_group

    if get_pp_group().is_first_rank or getattr(runner, "intermediate_tensors", None) is not None:
        return
    runner.intermediate_tensors = runner.model.make_empty_intermediate_tensors(
        batch_size=runner.max_num_tokens, dtype=runner.model_config.dtype, device=runner.device)
    logger.info("tessera plugin: pipeline stage input buffer allocated for %d tokens (the CPU "
                "runner's eager mode skips the warm-up that would)", runner.max_num_tokens)
