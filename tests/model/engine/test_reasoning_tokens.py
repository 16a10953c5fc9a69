"""The plugin's thinking-budget fix (no engine start): vLLM reads `[THINK]` as text with a
Mistral tokenizer; the plugin gives its ReasoningConfig the special-token ids instead.
The engine side (a budget of 0 forcing `[/THINK]` at once) is in
tests/agent/backends/test_engine_budget.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.tiny import write_tiny
from model.tokenizer import load_tokenizer, special_id
from model.vllm_plugin.reasoning_tokens import patch_reasoning_token_ids, special_reasoning_ids

pytestmark = [pytest.mark.require_module("vllm")]


def test_the_special_ids_replace_vllms_text_encoding(tmp_path: Path) -> None:
    from vllm.config.reasoning import ReasoningConfig
    from vllm.reasoning import ReasoningParserManager
    from vllm.tokenizers.mistral import MistralTokenizer

    write_tiny(tmp_path, context=512)
    served = MistralTokenizer.from_pretrained(str(tmp_path))
    parser = ReasoningParserManager.get_reasoning_parser("mistral")(served)
    start, end = parser.reasoning_start_str, parser.reasoning_end_str
    # What vLLM itself does with these strings: several ordinary tokens each.
    assert len(served.encode(start, add_special_tokens=False)) > 1
    ours = load_tokenizer(tmp_path)
    assert special_reasoning_ids(served, start, end) == (special_id(ours, "[THINK]"),
                                                          special_id(ours, "[/THINK]"))
    assert special_reasoning_ids(served, "<think>", "</think>") is None  # not ours to fix
    assert patch_reasoning_token_ids() and patch_reasoning_token_ids()  # installs once
    assert getattr(ReasoningConfig.initialize_token_ids, "_tessera_special_tokens", False)
