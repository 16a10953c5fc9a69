import json
from dataclasses import replace
from pathlib import Path

import pytest

from model.config import ConfigError, ModelConfig, softmax_scale
from model.config_formats import (
    load_config,
    parse_hf_config,
    parse_mistral_params,
    to_hf_config,
    to_mistral_params,
)
from model.sizes import COMMON_SETTINGS, estimate_memory, kv_bytes_per_token, param_counts

REAL = Path(__file__).parents[2] / "model" / "configs" / "mistral_small_4.params.json"


def real_config() -> ModelConfig:
    return parse_mistral_params(json.loads(REAL.read_text())).config


def test_real_config_file_parses_without_unknown_fields() -> None:
    parsed = parse_mistral_params(json.loads(REAL.read_text()))
    assert parsed.unknown_fields == ()
    text = parsed.config.text
    assert (text.hidden_size, text.num_layers, text.num_heads) == (4096, 36, 32)
    assert text.latent_cache_width == 320
    assert parsed.config.vision is not None


def test_real_parameter_counts() -> None:
    total, active = param_counts(real_config())
    assert 119.0e9 <= total <= 119.5e9, total
    assert 6.45e9 <= active <= 6.6e9, active


def test_both_formats_describe_the_same_model() -> None:
    config = real_config()
    from_hf = parse_hf_config(to_hf_config(config)).config
    # The one deliberate difference: each format's engine uses its own projector-norm eps.
    assert from_hf.vision.projector_norm_eps == config.text.norm_eps
    assert from_hf == replace(config, vision=replace(config.vision, projector_norm_eps=1e-6))
    assert parse_mistral_params(to_mistral_params(config)).config == config


def test_text_only_hf_config() -> None:
    config = ModelConfig(vision=None)
    parsed = parse_hf_config(to_hf_config(config))
    assert parsed.config == config and parsed.format == "hf"


def test_unknown_fields_are_named() -> None:
    params = to_mistral_params(real_config())
    params["frobnicate"] = 1
    params["moe"]["extra_knob"] = True
    parsed = parse_mistral_params(params)
    assert parsed.unknown_fields == ("params.frobnicate", "params.moe.extra_knob")
    hf = to_hf_config(real_config())
    hf["text_config"]["mystery"] = 3
    assert parse_hf_config(hf).unknown_fields == ("config.text_config.mystery",)


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (("moe", "num_expert_groups"), 8, "num_expert_groups"),
        (("activation",), "gelu", "activation"),
        (("n_kv_heads",), 8, "n_kv_heads"),
    ],
)
def test_unsupported_values_raise_naming_the_field(path, value, needle) -> None:
    params = to_mistral_params(real_config())
    target = params
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=needle):
        parse_mistral_params(params)


def test_missing_required_field_is_named() -> None:
    params = to_mistral_params(real_config())
    del params["kv_lora_rank"]
    with pytest.raises(ConfigError, match="kv_lora_rank"):
        parse_mistral_params(params)


def test_load_config_prefers_params_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(to_hf_config(real_config())))
    assert load_config(tmp_path).format == "hf"
    (tmp_path / "params.json").write_text(json.dumps(to_mistral_params(real_config())))
    assert load_config(tmp_path).format == "mistral"


def test_softmax_scale_switch() -> None:
    text = real_config().text
    assert softmax_scale(text) == pytest.approx(128**-0.5)
    assert softmax_scale(text, "mscale") == pytest.approx(0.19497, abs=1e-5)
    params = to_mistral_params(real_config())
    del params["yarn"]["apply_scale"]  # vLLM reads an absent apply_scale as true
    defaulted = parse_mistral_params(params).config.text
    assert softmax_scale(defaulted) == pytest.approx(0.19497, abs=1e-5)


def test_memory_estimates() -> None:
    config = real_config()
    assert kv_bytes_per_token(config.text, "bf16") == 36 * 320 * 2
    fp8_two_gpus = estimate_memory(config, COMMON_SETTINGS[0])
    assert fp8_two_gpus.fits
    # ~121 GB of FP8+BF16 weights split over two GPUs, 6.04 GB latent cache per 256K sequence.
    assert 59e9 < fp8_two_gpus.weights_per_gpu < 62e9
    assert fp8_two_gpus.kv_per_sequence == 36 * 320 * 2 * 262144


def test_one_table_names_every_field_in_both_formats() -> None:
    """Each of our config fields is in the table (read and written through it)."""
    from dataclasses import fields

    from model.config import MoEConfig, RopeConfig, TextConfig, VisionConfig
    from model.config_fields import TEXT_FIELDS, VISION_FIELDS

    ours = {f.name for f in fields(TextConfig)} - {"rope", "moe"}
    ours |= {f"rope.{f.name}" for f in fields(RopeConfig)}
    ours |= {f"moe.{f.name}" for f in fields(MoEConfig)}
    assert {f.ours for f in TEXT_FIELDS} == ours
    # Neither file carries the tower's norm eps (1e-5 in both engines); the projector's is
    # each engine's own choice.
    assert {f.ours for f in VISION_FIELDS} == {f.name for f in fields(VisionConfig)} - {
        "norm_eps", "projector_norm_eps"}
    assert all(f.mistral or f.hf for f in (*TEXT_FIELDS, *VISION_FIELDS))


def test_hf_older_spellings_are_read() -> None:
    config = ModelConfig(vision=None)
    hf = to_hf_config(config)
    hf["rope_scaling"] = hf.pop("rope_parameters")
    hf["num_local_experts"] = hf.pop("n_routed_experts")
    hf["eos_token_id"] = [2, 7]
    hf["quantization_config"] = {"quant_method": "fp8"}
    parsed = parse_hf_config(hf)
    assert parsed.config == config and parsed.unknown_fields == ()
    assert parsed.quantization == {"quant_method": "fp8"}


def test_the_config_dataclasses_import_no_parser() -> None:
    """model/config.py ⇄ model/config_formats.py was an import circle."""
    import ast

    source = (Path(__file__).parents[2] / "model" / "config.py").read_text()
    imported = {node.module for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in imported if name and name.startswith("model")}
