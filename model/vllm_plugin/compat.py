"""Version glue between vLLM 0.32 and the installed mistral-common (not part of the MoE path).

vLLM 0.32's Mistral chat parser calls `GrammarFactory.get_lark_from_jinja` without
`force_tool_names`, which mistral-common 1.13 made a required argument: every chat request
of a v11+ tokenizer then fails with a TypeError. The wrapper supplies mistral-common's own
choice for the enum tool-choice modes vLLM uses there (False: tool names are not pinned,
strict tools still get their argument schema enforced). It is installed only when the
installed signature needs it, and never twice.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any


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
