"""Reading and writing the two config files: Mistral `params.json` and HF `config.json`.

Both parse into `model.config.ModelConfig`. Every key read is remembered, so the ones nobody read
come back as `ParsedConfig.unknown_fields`, named by their path (`params.moe.extra_knob`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from model.config import (
    ConfigError,
    ModelConfig,
    MoEConfig,
    ParsedConfig,
    RopeConfig,
    TextConfig,
    VisionConfig,
)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data


class _Fields:
    """A config dict that remembers which keys were read, so the rest can be reported."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data, self.where, self.seen = dict(data), where, set[str]()

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return self.data.get(key, default)

    def need(self, key: str) -> Any:
        self.seen.add(key)
        if key not in self.data:
            raise ConfigError(f"{self.where}: required field {key!r} is missing")
        return self.data[key]

    def ignore(self, *keys: str) -> None:
        self.seen.update(keys)

    def sub(self, key: str) -> _Fields:
        value = self.get(key) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"{self.where}.{key}: expected an object")
        return _Fields(value, f"{self.where}.{key}")

    def unknown(self) -> list[str]:
        return [f"{self.where}.{k}" for k in self.data if k not in self.seen]


def _require(condition: bool, field_name: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"unsupported {field_name}: {message}")


def parse_mistral_params(data: dict[str, Any]) -> ParsedConfig:
    top = _Fields(data, "params")
    _require(top.get("tied_embeddings", False) in (False, True), "params.tied_embeddings", "bool")
    _require(top.get("sliding_window") is None, "params.sliding_window", "MLA runs full attention")
    _require(top.get("activation", "silu") == "silu", "params.activation", "only silu")
    heads = int(top.need("n_heads"))
    kv_heads = top.get("n_kv_heads", heads)
    _require(kv_heads == heads, "params.n_kv_heads", "MLA expands every head from the latent")
    top.ignore("head_dim", "model_type", "dtype", "max_seq_len")

    yarn, llama4, moe = top.sub("yarn"), top.sub("llama_4_scaling"), top.sub("moe")
    _require(bool(yarn.data), "params.yarn", "the architecture uses YaRN; section missing")
    _require(bool(llama4.data), "params.llama_4_scaling", "section missing")
    _require(bool(moe.data), "params.moe", "the architecture is MoE; section missing")
    moe.ignore("expert_parallel", "expert_model_parallel")  # parallelism hints, not maths
    _require(moe.get("num_expert_groups", 1) == 1, "params.moe.num_expert_groups", "only 1")
    _require(
        moe.get("num_expert_groups_per_tok", 1) == 1, "params.moe.num_expert_groups_per_tok", "1"
    )
    _require(moe.get("route_every_n", 1) == 1, "params.moe.route_every_n", "only 1")
    _require(not moe.get("use_load_balancing_bias", False), "params.moe.use_load_balancing_bias",
             "no score-correction bias in this architecture")
    _require(moe.get("renorm_strategy", "WEIGHTS") == "WEIGHTS", "params.moe.renorm_strategy",
             "only WEIGHTS (softmax, top-k, renormalise)")
    original_max = int(yarn.get("original_max_position_embeddings", 8192))
    rope = RopeConfig(
        theta=float(top.get("rope_theta", 10000.0)),
        yarn_factor=float(yarn.need("factor")),
        original_max_positions=original_max,
        beta_fast=float(yarn.get("beta", 32.0)),
        beta_slow=float(yarn.get("alpha", 1.0)),
        # vLLM's reading: an absent apply_scale means true.
        yarn_apply_scale=bool(yarn.get("apply_scale", True)),
        llama4_beta=float(llama4.need("beta")),
        llama4_original_max_positions=int(llama4.need("original_max_position_embeddings")),
    )
    moe_config = MoEConfig(
        num_experts=int(moe.need("num_experts")),
        top_k=int(moe.need("num_experts_per_tok")),
        expert_dim=int(moe.need("expert_hidden_dim")),
        num_shared_experts=int(moe.get("num_shared_experts", 1)),
        routed_scale=float(moe.get("routed_scale", 1.0)),
        first_k_dense=int(moe.get("first_k_dense_replace", 0)),
    )
    text = TextConfig(
        vocab_size=int(top.need("vocab_size")),
        hidden_size=int(top.need("dim")),
        num_layers=int(top.need("n_layers")),
        num_heads=heads,
        q_lora_rank=int(top.need("q_lora_rank")),
        kv_lora_rank=int(top.need("kv_lora_rank")),
        qk_nope_head_dim=int(top.need("qk_nope_head_dim")),
        qk_rope_head_dim=int(top.need("qk_rope_head_dim")),
        v_head_dim=int(top.need("v_head_dim")),
        dense_dim=int(top.get("hidden_dim", 0) or 0),
        norm_eps=float(top.get("norm_eps", 1e-6)),
        max_positions=int(top.get("max_position_embeddings", 1048576)),
        tied_embeddings=bool(top.get("tied_embeddings", False)),
        rope=rope,
        moe=moe_config,
    )
    vision_fields = top.sub("vision_encoder") if top.get("vision_encoder") else None
    vision = _mistral_vision(vision_fields) if vision_fields else None
    quantization = top.get("quantization")
    _check_text(text)
    unknown = top.unknown() + yarn.unknown() + llama4.unknown() + moe.unknown()
    if vision_fields:
        unknown += vision_fields.unknown()
    config = ModelConfig(text=text, vision=vision)
    return ParsedConfig(config, "mistral", tuple(unknown), quantization)


def _mistral_vision(v: _Fields) -> VisionConfig:
    _require(v.get("mm_projector_id", "patch_merge") == "patch_merge",
             "params.vision_encoder.mm_projector_id", "only patch_merge")
    _require(v.get("add_pre_mm_projector_layer_norm", True) is True,
             "params.vision_encoder.add_pre_mm_projector_layer_norm", "only true")
    _require(not v.get("adapter_bias", False), "params.vision_encoder.adapter_bias", "no biases")
    hidden, heads = int(v.need("hidden_size")), int(v.need("num_attention_heads"))
    _require(v.get("head_dim", hidden // heads) == hidden // heads,
             "params.vision_encoder.head_dim", "must be hidden_size / num_attention_heads")
    v.ignore("max_image_size")
    return VisionConfig(
        hidden_size=hidden,
        num_layers=int(v.need("num_hidden_layers")),
        num_heads=heads,
        intermediate_size=int(v.need("intermediate_size")),
        patch_size=int(v.need("patch_size")),
        image_size=int(v.get("image_size", v.get("max_image_size", 1540))),
        num_channels=int(v.get("num_channels", 3)),
        rope_theta=float(v.get("rope_theta", 10000.0)),
        spatial_merge_size=int(v.get("spatial_merge_size", 1)),
        image_token_id=int(v.get("image_token_id", 10)),
        image_break_token_id=int(v.get("image_break_token_id", 12)),
        image_end_token_id=int(v.get("image_end_token_id", 13)),
    )


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
    top = _Fields(data, "config")
    top.ignore(*_HF_GENERIC)
    model_type = top.get("model_type")
    if model_type == "mistral4":
        text, unknown = _hf_text(top)
        quant = top.get("quantization_config")
        return ParsedConfig(ModelConfig(text=text, vision=None), "hf", tuple(unknown), quant)
    _require(model_type == "mistral3", "config.model_type",
             f"expected mistral3 or mistral4, got {model_type!r}")
    text_fields, vision_fields = top.sub("text_config"), top.sub("vision_config")
    text_fields.ignore(*_HF_GENERIC)
    vision_fields.ignore(*_HF_GENERIC)
    _require(text_fields.get("model_type") == "mistral4", "config.text_config.model_type",
             "expected mistral4")
    _require(vision_fields.get("model_type") == "pixtral", "config.vision_config.model_type",
             "expected pixtral")
    _require(top.get("projector_hidden_act", "gelu") == "gelu", "config.projector_hidden_act",
             "only gelu")
    _require(not top.get("multimodal_projector_bias", False), "config.multimodal_projector_bias",
             "no biases")
    _require(top.get("vision_feature_layer", -1) == -1, "config.vision_feature_layer", "only -1")
    top.ignore("tie_word_embeddings", "image_token_index")
    text, unknown = _hf_text(text_fields)
    vision = _hf_vision(
        vision_fields,
        spatial_merge=int(top.get("spatial_merge_size", 2)),
        image_token_id=int(top.get("image_token_id", top.get("image_token_index", 10))),
        projector_norm_eps=text.norm_eps,
    )
    unknown = top.unknown() + unknown + vision_fields.unknown()
    quant = top.get("quantization_config")
    return ParsedConfig(ModelConfig(text=text, vision=vision), "hf", tuple(unknown), quant)


def _hf_text(t: _Fields) -> tuple[TextConfig, list[str]]:
    t.ignore(*_HF_GENERIC)
    _require(t.get("hidden_act", "silu") == "silu", f"{t.where}.hidden_act", "only silu")
    _require(not t.get("attention_bias", False), f"{t.where}.attention_bias", "no biases")
    _require(t.get("rope_interleave", True) is True, f"{t.where}.rope_interleave", "only true")
    _require(t.get("n_group", 1) in (1, None), f"{t.where}.n_group", "only 1")
    _require(t.get("topk_group", 1) in (1, None), f"{t.where}.topk_group", "only 1")
    _require(t.get("norm_topk_prob", True) is True, f"{t.where}.norm_topk_prob", "only true")
    _require(t.get("q_lora_rank") is not None, f"{t.where}.q_lora_rank", "must be set")
    heads = int(t.need("num_attention_heads"))
    _require(t.get("num_key_value_heads", heads) in (heads, None),
             f"{t.where}.num_key_value_heads", "MLA expands every head from the latent")
    t.ignore("sliding_window")
    _require(t.data.get("sliding_window") is None, f"{t.where}.sliding_window", "must be null")
    rope_fields = t.sub("rope_parameters") if t.get("rope_parameters") else t.sub("rope_scaling")
    rope_fields.ignore("partial_rotary_factor", "max_position_embeddings")
    rope_type = rope_fields.get("rope_type", rope_fields.get("type"))
    _require(rope_type == "yarn", f"{rope_fields.where}.rope_type", f"only yarn, got {rope_type!r}")
    original_max = int(rope_fields.need("original_max_position_embeddings"))
    rope = RopeConfig(
        theta=float(rope_fields.get("rope_theta", t.get("rope_theta", 10000.0))),
        yarn_factor=float(rope_fields.need("factor")),
        original_max_positions=original_max,
        beta_fast=float(rope_fields.get("beta_fast", 32.0)),
        beta_slow=float(rope_fields.get("beta_slow", 1.0)),
        mscale=float(rope_fields.get("mscale", 1.0)),
        mscale_all_dim=float(rope_fields.get("mscale_all_dim", 1.0)),
        llama4_beta=float(rope_fields.need("llama_4_scaling_beta")),
        llama4_original_max_positions=original_max,
    )
    _require(rope.mscale == rope.mscale_all_dim, f"{rope_fields.where}.mscale",
             "mscale must equal mscale_all_dim (the YaRN cos/sin factor is then 1)")
    moe = MoEConfig(
        num_experts=int(t.get("n_routed_experts", t.get("num_local_experts", 128))),
        top_k=int(t.need("num_experts_per_tok")),
        expert_dim=int(t.need("moe_intermediate_size")),
        num_shared_experts=int(t.get("n_shared_experts", 1)),
        routed_scale=float(t.get("routed_scaling_factor", 1.0)),
        first_k_dense=int(t.get("first_k_dense_replace", 0) or 0),
    )
    text = TextConfig(
        vocab_size=int(t.need("vocab_size")),
        hidden_size=int(t.need("hidden_size")),
        num_layers=int(t.need("num_hidden_layers")),
        num_heads=heads,
        q_lora_rank=int(t.need("q_lora_rank")),
        kv_lora_rank=int(t.need("kv_lora_rank")),
        qk_nope_head_dim=int(t.need("qk_nope_head_dim")),
        qk_rope_head_dim=int(t.need("qk_rope_head_dim")),
        v_head_dim=int(t.need("v_head_dim")),
        dense_dim=int(t.get("intermediate_size", 0) or 0),
        norm_eps=float(t.get("rms_norm_eps", 1e-6)),
        max_positions=int(t.get("max_position_embeddings", 1048576)),
        tied_embeddings=bool(t.get("tie_word_embeddings", False)),
        bos_id=int(t.get("bos_token_id", 1)),
        eos_id=int(_first(t.get("eos_token_id", 2))),
        pad_id=int(t.get("pad_token_id", 11)),
        rope=rope,
        moe=moe,
    )
    _check_text(text)
    return text, t.unknown() + rope_fields.unknown()


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def _hf_vision(v: _Fields, spatial_merge: int, image_token_id: int,
               projector_norm_eps: float) -> VisionConfig:
    _require(v.get("hidden_act", "silu") in ("silu", "gelu"), f"{v.where}.hidden_act",
             "Pixtral's gated FFN uses silu")
    hidden, heads = int(v.need("hidden_size")), int(v.need("num_attention_heads"))
    _require(v.get("head_dim", hidden // heads) == hidden // heads, f"{v.where}.head_dim",
             "must be hidden_size / num_attention_heads")
    rope = v.get("rope_parameters") or {}
    theta = float(rope.get("rope_theta", v.get("rope_theta", 10000.0)))
    v.ignore("rope_type")
    return VisionConfig(
        hidden_size=hidden,
        num_layers=int(v.need("num_hidden_layers")),
        num_heads=heads,
        intermediate_size=int(v.need("intermediate_size")),
        patch_size=int(v.need("patch_size")),
        image_size=int(v.get("image_size", 1540)),
        num_channels=int(v.get("num_channels", 3)),
        rope_theta=theta,
        spatial_merge_size=spatial_merge,
        image_token_id=image_token_id,
        projector_norm_eps=projector_norm_eps,
    )


def _check_text(text: TextConfig) -> None:
    _require(text.qk_rope_head_dim % 2 == 0, "qk_rope_head_dim", "must be even (rotated pairs)")
    _require(text.moe.top_k <= text.moe.num_experts, "num_experts_per_tok", "exceeds num_experts")
    _require(text.moe.first_k_dense == 0 or text.dense_dim > 0, "intermediate_size",
             "dense layers need a dense FFN width")


# ---------------------------------------------------------------------------------------------
# Writing (used by the tiny-checkpoint writer and the real-config data file)


def to_mistral_params(config: ModelConfig) -> dict[str, Any]:
    t = config.text
    params: dict[str, Any] = {
        "dim": t.hidden_size,
        "n_layers": t.num_layers,
        "head_dim": t.qk_head_dim,
        "hidden_dim": t.dense_dim,
        "n_heads": t.num_heads,
        "n_kv_heads": t.num_heads,
        "rope_theta": t.rope.theta,
        "norm_eps": t.norm_eps,
        "vocab_size": t.vocab_size,
        "tied_embeddings": t.tied_embeddings,
        "max_position_embeddings": t.max_positions,
        "q_lora_rank": t.q_lora_rank,
        "kv_lora_rank": t.kv_lora_rank,
        "qk_nope_head_dim": t.qk_nope_head_dim,
        "qk_rope_head_dim": t.qk_rope_head_dim,
        "v_head_dim": t.v_head_dim,
        "yarn": {
            "original_max_position_embeddings": t.rope.original_max_positions,
            "factor": t.rope.yarn_factor,
            "apply_scale": t.rope.yarn_apply_scale,
            "beta": t.rope.beta_fast,
            "alpha": t.rope.beta_slow,
        },
        "llama_4_scaling": {
            "original_max_position_embeddings": t.rope.llama4_original_max_positions,
            "beta": t.rope.llama4_beta,
        },
        "moe": {
            "expert_parallel": 1,
            "expert_model_parallel": 1,
            "route_every_n": 1,
            "first_k_dense_replace": t.moe.first_k_dense,
            "num_experts": t.moe.num_experts,
            "num_experts_per_tok": t.moe.top_k,
            "num_expert_groups": 1,
            "num_expert_groups_per_tok": 1,
            "routed_scale": t.moe.routed_scale,
            "expert_hidden_dim": t.moe.expert_dim,
            "num_shared_experts": t.moe.num_shared_experts,
        },
    }
    if config.vision is not None:
        v = config.vision
        params["vision_encoder"] = {
            "image_token_id": v.image_token_id,
            "image_break_token_id": v.image_break_token_id,
            "image_end_token_id": v.image_end_token_id,
            "intermediate_size": v.intermediate_size,
            "num_hidden_layers": v.num_layers,
            "num_attention_heads": v.num_heads,
            "mm_projector_id": "patch_merge",
            "spatial_merge_size": v.spatial_merge_size,
            "hidden_size": v.hidden_size,
            "num_channels": v.num_channels,
            "image_size": v.image_size,
            "max_image_size": v.image_size,
            "patch_size": v.patch_size,
            "rope_theta": v.rope_theta,
            "add_pre_mm_projector_layer_norm": True,
            "adapter_bias": False,
        }
    return params


def to_hf_config(config: ModelConfig) -> dict[str, Any]:
    t = config.text
    text: dict[str, Any] = {
        "model_type": "mistral4",
        "vocab_size": t.vocab_size,
        "hidden_size": t.hidden_size,
        "intermediate_size": t.dense_dim,
        "moe_intermediate_size": t.moe.expert_dim,
        "num_hidden_layers": t.num_layers,
        "num_attention_heads": t.num_heads,
        "num_key_value_heads": t.num_heads,
        "n_shared_experts": t.moe.num_shared_experts,
        "n_routed_experts": t.moe.num_experts,
        "routed_scaling_factor": t.moe.routed_scale,
        "kv_lora_rank": t.kv_lora_rank,
        "q_lora_rank": t.q_lora_rank,
        "qk_rope_head_dim": t.qk_rope_head_dim,
        "v_head_dim": t.v_head_dim,
        "qk_nope_head_dim": t.qk_nope_head_dim,
        "n_group": 1,
        "topk_group": 1,
        "num_experts_per_tok": t.moe.top_k,
        "first_k_dense_replace": t.moe.first_k_dense,
        "norm_topk_prob": True,
        "hidden_act": "silu",
        "max_position_embeddings": t.max_positions,
        "rms_norm_eps": t.norm_eps,
        "bos_token_id": t.bos_id,
        "eos_token_id": t.eos_id,
        "pad_token_id": t.pad_id,
        "tie_word_embeddings": t.tied_embeddings,
        "rope_interleave": True,
        "attention_bias": False,
        "rope_parameters": {
            "rope_type": "yarn",
            "rope_theta": t.rope.theta,
            "factor": t.rope.yarn_factor,
            "original_max_position_embeddings": t.rope.original_max_positions,
            "beta_fast": t.rope.beta_fast,
            "beta_slow": t.rope.beta_slow,
            "mscale": t.rope.mscale,
            "mscale_all_dim": t.rope.mscale_all_dim,
            "llama_4_scaling_beta": t.rope.llama4_beta,
            "partial_rotary_factor": t.qk_rope_head_dim / t.qk_head_dim,
        },
    }
    if config.vision is None:
        return {"architectures": ["Mistral4ForCausalLM"], **text}
    v = config.vision
    return {
        "architectures": ["Mistral3ForConditionalGeneration"],
        "model_type": "mistral3",
        "image_token_id": v.image_token_id,
        "projector_hidden_act": "gelu",
        "multimodal_projector_bias": False,
        "spatial_merge_size": v.spatial_merge_size,
        "vision_feature_layer": -1,
        "tie_word_embeddings": t.tied_embeddings,
        "text_config": text,
        "vision_config": {
            "model_type": "pixtral",
            "hidden_size": v.hidden_size,
            "intermediate_size": v.intermediate_size,
            "num_hidden_layers": v.num_layers,
            "num_attention_heads": v.num_heads,
            "num_channels": v.num_channels,
            "image_size": v.image_size,
            "patch_size": v.patch_size,
            "hidden_act": "silu",
            "head_dim": v.head_dim,
            "rope_parameters": {"rope_type": "default", "rope_theta": v.rope_theta},
        },
    }
