"""Reading and writing the two config files: Mistral `params.json` and HF `config.json`.

Both parse into `model.config.ModelConfig` through the one field table (model/config_fields.py);
this module adds what a table cannot say: values we refuse (`require`), keys every file of a
format carries as constants, and HF's optional mistral3 wrapper. `load_config` reads a
checkpoint directory. Unknown keys come back as `ParsedConfig.unknown_fields`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from model.config import ConfigError, ModelConfig, ParsedConfig, TextConfig, VisionConfig
from model.config_fields import (
    TEXT_FIELDS,
    VISION_FIELDS,
    Fields,
    deep_merge,
    read_table,
    require,
    text_config,
    write_table,
)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data


def load_config(directory: str | Path) -> ParsedConfig:
    """Read `params.json` (Mistral format, preferred when both exist) or `config.json` (HF)."""
    directory = Path(directory)
    params, hf = directory / "params.json", directory / "config.json"
    if params.is_file():
        return parse_mistral_params(read_json(params))
    if hf.is_file():
        return parse_hf_config(read_json(hf))
    raise ConfigError(f"{directory}: neither params.json (Mistral format) nor config.json (HF)")


# ---------------------------------------------------------------------------------------------
# Mistral params.json


def parse_mistral_params(data: dict[str, Any]) -> ParsedConfig:
    top = Fields(data, "params")
    require(top.get("tied_embeddings", False) in (False, True), "params.tied_embeddings", "bool")
    require(top.get("sliding_window") is None, "params.sliding_window", "MLA runs full attention")
    require(top.get("activation", "silu") == "silu", "params.activation", "only silu")
    top.ignore("head_dim", "model_type", "dtype", "max_seq_len")
    yarn, llama4, moe = top.sub("yarn"), top.sub("llama_4_scaling"), top.sub("moe")
    require(bool(yarn.data), "params.yarn", "the architecture uses YaRN; section missing")
    require(bool(llama4.data), "params.llama_4_scaling", "section missing")
    require(bool(moe.data), "params.moe", "the architecture is MoE; section missing")
    moe.ignore("expert_parallel", "expert_model_parallel")  # parallelism hints, not maths
    require(moe.get("num_expert_groups", 1) == 1, "params.moe.num_expert_groups", "only 1")
    require(
        moe.get("num_expert_groups_per_tok", 1) == 1, "params.moe.num_expert_groups_per_tok", "1"
    )
    require(moe.get("route_every_n", 1) == 1, "params.moe.route_every_n", "only 1")
    require(not moe.get("use_load_balancing_bias", False), "params.moe.use_load_balancing_bias",
            "no score-correction bias in this architecture")
    require(moe.get("renorm_strategy", "WEIGHTS") == "WEIGHTS", "params.moe.renorm_strategy",
            "only WEIGHTS (softmax, top-k, renormalise)")
    text = text_config(read_table(top, TEXT_FIELDS, "mistral"))
    require(top.get("n_kv_heads", text.num_heads) == text.num_heads, "params.n_kv_heads",
            "MLA expands every head from the latent")
    vision = _mistral_vision(top.sub("vision_encoder")) if top.get("vision_encoder") else None
    quantization = top.get("quantization")
    return ParsedConfig(ModelConfig(text=text, vision=vision), "mistral", tuple(top.unknown()),
                        quantization)


def _mistral_vision(v: Fields) -> VisionConfig:
    require(v.get("mm_projector_id", "patch_merge") == "patch_merge",
            "params.vision_encoder.mm_projector_id", "only patch_merge")
    require(v.get("add_pre_mm_projector_layer_norm", True) is True,
            "params.vision_encoder.add_pre_mm_projector_layer_norm", "only true")
    require(not v.get("adapter_bias", False), "params.vision_encoder.adapter_bias", "no biases")
    vision = VisionConfig(**read_table(v, VISION_FIELDS, "mistral"))
    require(v.get("head_dim", vision.head_dim) == vision.head_dim,
            "params.vision_encoder.head_dim", "must be hidden_size / num_attention_heads")
    return vision


def to_mistral_params(config: ModelConfig) -> dict[str, Any]:
    t = config.text
    params = deep_merge(write_table(t, TEXT_FIELDS, "mistral"), {
        "head_dim": t.qk_head_dim,
        "n_kv_heads": t.num_heads,
        "moe": {"expert_parallel": 1, "expert_model_parallel": 1, "route_every_n": 1,
                "num_expert_groups": 1, "num_expert_groups_per_tok": 1},
    })
    if config.vision is not None:
        params["vision_encoder"] = {
            **write_table(config.vision, VISION_FIELDS, "mistral"),
            "max_image_size": config.vision.image_size,
            "mm_projector_id": "patch_merge",
            "add_pre_mm_projector_layer_norm": True,
            "adapter_bias": False,
        }
    return params


# ---------------------------------------------------------------------------------------------
# HF config.json

# Generic keys every HF PretrainedConfig may carry; none changes the computation.
_HF_GENERIC = (
    "architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "_name_or_path",
    "use_cache", "initializer_range", "attention_dropout", "pretraining_tp", "output_attentions",
    "output_hidden_states", "return_dict", "is_encoder_decoder", "chunk_size_feed_forward",
    "id2label", "label2id", "problem_type", "tokenizer_class", "prefix", "sep_token_id",
    "decoder_start_token_id", "task_specific_params", "tie_encoder_decoder", "is_decoder",
    "add_cross_attention", "cross_attention_hidden_size", "finetuning_task", "pruned_heads",
    "torchscript", "use_bfloat16", "tf_legacy_loss", "_attn_implementation_autoset",
    "generation_config", "head_dim", "qk_head_dim",
)


def parse_hf_config(data: dict[str, Any]) -> ParsedConfig:
    top = Fields(data, "config")
    top.ignore(*_HF_GENERIC)
    model_type = top.get("model_type")
    if model_type == "mistral4":
        text = _hf_text(top)
        quantization = top.get("quantization_config")
        return ParsedConfig(ModelConfig(text=text, vision=None), "hf", tuple(top.unknown()),
                            quantization)
    require(model_type == "mistral3", "config.model_type",
            f"expected mistral3 or mistral4, got {model_type!r}")
    text_fields, vision_fields = top.sub("text_config"), top.sub("vision_config")
    vision_fields.ignore(*_HF_GENERIC)
    require(text_fields.get("model_type") == "mistral4", "config.text_config.model_type",
            "expected mistral4")
    require(vision_fields.get("model_type") == "pixtral", "config.vision_config.model_type",
            "expected pixtral")
    require(top.get("projector_hidden_act", "gelu") == "gelu", "config.projector_hidden_act",
            "only gelu")
    require(not top.get("multimodal_projector_bias", False), "config.multimodal_projector_bias",
            "no biases")
    require(top.get("vision_feature_layer", -1) == -1, "config.vision_feature_layer", "only -1")
    top.ignore("tie_word_embeddings")  # the text config's own says the same
    text = _hf_text(text_fields)
    require(vision_fields.get("hidden_act", "silu") in ("silu", "gelu"),
            "config.vision_config.hidden_act", "Pixtral's gated FFN uses silu")
    vision_fields.ignore("rope_type")
    vision_fields.sub("rope_parameters").ignore("rope_type")
    vision = VisionConfig(**read_table(top, VISION_FIELDS, "hf"),
                          projector_norm_eps=text.norm_eps)
    require(vision_fields.get("head_dim", vision.head_dim) == vision.head_dim,
            "config.vision_config.head_dim", "must be hidden_size / num_attention_heads")
    quantization = top.get("quantization_config")
    return ParsedConfig(ModelConfig(text=text, vision=vision), "hf", tuple(top.unknown()),
                        quantization)


def _hf_text(t: Fields) -> TextConfig:
    t.ignore(*_HF_GENERIC)
    require(t.get("hidden_act", "silu") == "silu", f"{t.where}.hidden_act", "only silu")
    require(not t.get("attention_bias", False), f"{t.where}.attention_bias", "no biases")
    require(t.get("rope_interleave", True) is True, f"{t.where}.rope_interleave", "only true")
    require(t.get("n_group", 1) in (1, None), f"{t.where}.n_group", "only 1")
    require(t.get("topk_group", 1) in (1, None), f"{t.where}.topk_group", "only 1")
    require(t.get("norm_topk_prob", True) is True, f"{t.where}.norm_topk_prob", "only true")
    require(t.get("q_lora_rank") is not None, f"{t.where}.q_lora_rank", "must be set")
    require(t.get("sliding_window") is None, f"{t.where}.sliding_window", "must be null")
    if not t.data.get("rope_parameters") and "rope_scaling" in t.data:  # the older name
        t.data["rope_parameters"] = t.data.pop("rope_scaling")
    rope = t.sub("rope_parameters")
    rope.ignore("partial_rotary_factor", "max_position_embeddings")
    rope_type = rope.get("rope_type", rope.get("type"))
    require(rope_type == "yarn", f"{rope.where}.rope_type", f"only yarn, got {rope_type!r}")
    values = read_table(t, TEXT_FIELDS, "hf")
    # One original context for both YaRN and the Llama-4 query scaling in this format.
    values["rope.llama4_original_max_positions"] = values["rope.original_max_positions"]
    text = text_config(values)
    require(t.get("num_key_value_heads", text.num_heads) in (text.num_heads, None),
            f"{t.where}.num_key_value_heads", "MLA expands every head from the latent")
    require(text.rope.mscale == text.rope.mscale_all_dim, f"{rope.where}.mscale",
            "mscale must equal mscale_all_dim (the YaRN cos/sin factor is then 1)")
    return text


def to_hf_config(config: ModelConfig) -> dict[str, Any]:
    t = config.text
    text = deep_merge(write_table(t, TEXT_FIELDS, "hf"), {
        "model_type": "mistral4",
        "num_key_value_heads": t.num_heads,
        "n_group": 1,
        "topk_group": 1,
        "norm_topk_prob": True,
        "hidden_act": "silu",
        "rope_interleave": True,
        "attention_bias": False,
        "rope_parameters": {"rope_type": "yarn",
                            "partial_rotary_factor": t.qk_rope_head_dim / t.qk_head_dim},
    })
    if config.vision is None:
        return {"architectures": ["Mistral4ForCausalLM"], **text}
    v = config.vision
    return deep_merge(write_table(v, VISION_FIELDS, "hf"), {
        "architectures": ["Mistral3ForConditionalGeneration"],
        "model_type": "mistral3",
        "projector_hidden_act": "gelu",
        "multimodal_projector_bias": False,
        "vision_feature_layer": -1,
        "tie_word_embeddings": t.tied_embeddings,
        "text_config": text,
        "vision_config": {"model_type": "pixtral", "hidden_act": "silu", "head_dim": v.head_dim,
                          "rope_parameters": {"rope_type": "default"}},
    })
