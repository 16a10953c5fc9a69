"""Thinking budgets for Mistral-tokenizer models: `[THINK]`/`[/THINK]` as special tokens.

vLLM 0.32 ends a request's thinking when its `thinking_token_budget` is spent by forcing
the reasoning parser's end string, and it finds where thinking starts by the start
string. It turns both strings into token ids with `tokenizer.encode(text,
add_special_tokens=False)` (`ReasoningConfig.initialize_token_ids`). A Mistral (tekken)
tokenizer never reads control tokens from text, so `[THINK]` becomes seven ordinary
byte tokens that the model never emits: the budget is never applied, and if it were, the
engine would force the *text* "[/THINK]" instead of the control token.

`patch_reasoning_token_ids` wraps `initialize_token_ids`: after vLLM's own work, when the
tokenizer is a Mistral tokenizer that has these strings as special tokens, the ids become
those special tokens. Anything else is left as vLLM made it.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

logger = logging.getLogger("vllm.tessera_plugin")


def _special_id(tokenizer: Any, text: str) -> int | None:
    inner = getattr(tokenizer, "tokenizer", None)  # vLLM's MistralTokenizer → mistral-common's
    get = getattr(inner, "get_special_token", None)
    if not text or get is None:
        return None
    try:
        return int(get(text))
    except (ValueError, KeyError):
        return None


def special_reasoning_ids(tokenizer: Any, start: str, end: str) -> tuple[int, int] | None:
    """(start id, end id) when both strings are single special tokens of `tokenizer`."""
    start_id, end_id = _special_id(tokenizer, start), _special_id(tokenizer, end)
    if start_id is None or end_id is None:
        return None
    return start_id, end_id


def patch_reasoning_token_ids() -> bool:
    """Install the wrapper once; False when this vLLM has no such config."""
    try:
        from vllm.config.reasoning import ReasoningConfig
    except ImportError:
        return False
    original = ReasoningConfig.initialize_token_ids
    if getattr(original, "_tessera_special_tokens", False):
        return True

    @functools.wraps(original)
    def initialize_token_ids(self: Any, model_config: Any) -> None:
        original(self, model_config)
        if not self.enabled or model_config is None:
            return
        from vllm.reasoning import ReasoningParserManager
        from vllm.tokenizers import cached_tokenizer_from_config

        tokenizer = cached_tokenizer_from_config(model_config=model_config)
        start, end = self.reasoning_start_str, self.reasoning_end_str
        if self.reasoning_parser and not (start and end):
            parser = ReasoningParserManager.get_reasoning_parser(self.reasoning_parser)(tokenizer)
            start = start or parser.reasoning_start_str or ""
            end = end or parser.reasoning_end_str or ""
        ids = special_reasoning_ids(tokenizer, start, end)
        if ids is None:
            return
        self._reasoning_start_token_ids = [ids[0]]
        self._reasoning_end_token_ids = [ids[1]]
        self._natural_reasoning_end_token_ids = [ids[1]]
        logger.info("tessera: thinking budgets use the special tokens %s=%d and %s=%d",
                    start, ids[0], end, ids[1])

    initialize_token_ids._tessera_special_tokens = True  # type: ignore[attr-defined]
    ReasoningConfig.initialize_token_ids = initialize_token_ids  # type: ignore[method-assign]
    return True
