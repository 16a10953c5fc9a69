"""Our reference model under the output grammar vLLM's Mistral parser puts on every chat
request (v11+ tokenizers), so its greedy output can be compared with the served engine's.

vLLM's chat endpoint builds that grammar with mistral-common's `GrammarFactory` from the
tokenizer's chat template and enforces it with llguidance: the model may write text (and
thinking, tool calls) but no stray special token. A random tiny model often prefers a special
token, so on `/chat/completions` the engine and the bare reference differ exactly there. Here
the reference takes the same grammar, built the same way, and llguidance's token mask: the
one thing added to the reference is what vLLM adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from model.reference import Generation, Model


def chat_grammar_matcher(checkpoint: Path) -> object:
    """llguidance's matcher for a chat request without tools, as vLLM 0.32 builds it."""
    import llguidance
    from mistral_common.guidance.grammar_factory import GrammarFactory
    from mistral_common.protocol.instruct.tool_calls import ToolChoiceEnum
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    from model.vllm_plugin.compat import patch_grammar_factory

    patch_grammar_factory()  # as in the engine: vLLM's call lacks force_tool_names
    factory = GrammarFactory(MistralTokenizer.from_file(str(checkpoint / "tekken.json")))
    # The keyword arguments vLLM's Mistral parser passes; a request without tools has
    # tool_choice "none" (vLLM's default), so [TOOL_CALLS] is masked too.
    lark = factory.get_lark_from_jinja(
        template=factory.select_jinja_template(), mode=ToolChoiceEnum.none, tools=None,
        json_schema=None, parallel_tool_calls=True, json_only=False)
    matcher = llguidance.LLMatcher(factory.llg_tokenizer,
                                   llguidance.LLMatcher.grammar_from_lark(lark))
    if matcher.is_error():
        raise ValueError(f"llguidance rejected the chat grammar: {matcher.get_error()}")
    return matcher


def greedy_under_chat_grammar(model: Model, checkpoint: Path, prompt: Sequence[int],
                              max_tokens: int, images: Sequence[torch.Tensor] = ()
                              ) -> Generation:
    """Greedy continuation with the grammar's mask on the logits; logprobs are taken after
    the mask (renormalised over the allowed tokens), as vLLM reports them."""
    import llguidance.torch as llguidance_torch

    matcher = chat_grammar_matcher(checkpoint)
    tokens = list(prompt)
    chosen: list[int] = []
    logprobs: list[float] = []
    with torch.no_grad():
        for _ in range(max_tokens):
            logits = model(torch.tensor(tokens), images)[-1].clone()
            bitmask = llguidance_torch.allocate_token_bitmask(1, logits.shape[-1])
            llguidance_torch.fill_next_token_bitmask(matcher, bitmask, 0)
            llguidance_torch.apply_token_bitmask_inplace(logits, bitmask)
            token = int(logits.argmax())
            if not matcher.consume_token(token):  # type: ignore[attr-defined]
                raise AssertionError(f"the grammar refused its own choice {token}")
            chosen.append(token)
            logprobs.append(float(torch.log_softmax(logits, dim=-1)[token]))
            tokens.append(token)
    return Generation(chosen, logprobs)
