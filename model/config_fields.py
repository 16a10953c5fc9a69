"""The ONE table of config fields: each of our fields' name in `params.json` (Mistral) and in
`config.json` (HF), with the machinery that reads and writes a format through it.

The parsers and writers (model/config_formats.py) go through `TEXT_FIELDS` and `VISION_FIELDS`,
so a field added here is read and written in both formats. Every key read is remembered, so
the ones nobody read can be reported by their path (`params.moe.extra_knob`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from model.config import ConfigError, MoEConfig, RopeConfig, TextConfig

_ABSENT = object()


@dataclass(frozen=True)
class Key:
    """Where a field lives in one format: a dotted path, older spellings read as well, and
    either `required` or a default for this format (else our dataclass default applies)."""

    path: str
    alternatives: tuple[str, ...] = ()
    required: bool = False
    default: Any = _ABSENT


def need(path: str) -> Key:
    return Key(path, required=True)


def opt(path: str, *alternatives: str, default: Any = _ABSENT) -> Key:
    return Key(path, alternatives, default=default)


def _int_or_zero(value: Any) -> int:
    return int(value or 0)  # HF writes null for "no dense layers"


def _first_int(value: Any) -> int:
    return int(value[0] if isinstance(value, list) else value)  # HF allows a list of eos ids


@dataclass(frozen=True)
class Field:
    ours: str  # attribute path in our dataclasses: "hidden_size", "rope.theta", "moe.top_k"
    mistral: Key | None  # in params.json (None: this format does not carry it)
    hf: Key | None  # in config.json
    kind: Callable[[Any], Any] = int


# Text decoder. Mistral paths from the top of params.json; HF paths from the text config
# (`text_config` of a mistral3 wrapper, or the whole file for a bare mistral4).
TEXT_FIELDS = (
    Field("vocab_size", need("vocab_size"), need("vocab_size")),
    Field("hidden_size", need("dim"), need("hidden_size")),
    Field("num_layers", need("n_layers"), need("num_hidden_layers")),
    Field("num_heads", need("n_heads"), need("num_attention_heads")),
    Field("q_lora_rank", need("q_lora_rank"), need("q_lora_rank")),
    Field("kv_lora_rank", need("kv_lora_rank"), need("kv_lora_rank")),
    Field("qk_nope_head_dim", need("qk_nope_head_dim"), need("qk_nope_head_dim")),
    Field("qk_rope_head_dim", need("qk_rope_head_dim"), need("qk_rope_head_dim")),
    Field("v_head_dim", need("v_head_dim"), need("v_head_dim")),
    Field("dense_dim", opt("hidden_dim", default=0), opt("intermediate_size", default=0),
          _int_or_zero),
    Field("norm_eps", opt("norm_eps"), opt("rms_norm_eps"), float),
    Field("max_positions", opt("max_position_embeddings"), opt("max_position_embeddings")),
    Field("tied_embeddings", opt("tied_embeddings"), opt("tie_word_embeddings"), bool),
    Field("bos_id", None, opt("bos_token_id")),
    Field("eos_id", None, opt("eos_token_id"), _first_int),
    Field("pad_id", None, opt("pad_token_id")),
    Field("rope.theta", opt("rope_theta"), opt("rope_parameters.rope_theta", "rope_theta"), float),
    Field("rope.yarn_factor", need("yarn.factor"), need("rope_parameters.factor"), float),
    Field("rope.original_max_positions", opt("yarn.original_max_position_embeddings"),
          need("rope_parameters.original_max_position_embeddings")),
    Field("rope.beta_fast", opt("yarn.beta"), opt("rope_parameters.beta_fast"), float),
    Field("rope.beta_slow", opt("yarn.alpha"), opt("rope_parameters.beta_slow"), float),
    Field("rope.mscale", None, opt("rope_parameters.mscale"), float),
    Field("rope.mscale_all_dim", None, opt("rope_parameters.mscale_all_dim"), float),
    # vLLM's reading: an absent apply_scale means true. config.json cannot say it (plain).
    Field("rope.yarn_apply_scale", opt("yarn.apply_scale", default=True), None, bool),
    Field("rope.llama4_beta", need("llama_4_scaling.beta"),
          need("rope_parameters.llama_4_scaling_beta"), float),
    # HF has one original context for YaRN and Llama-4 scaling: copied after parsing.
    Field("rope.llama4_original_max_positions",
          need("llama_4_scaling.original_max_position_embeddings"), None),
    Field("moe.num_experts", need("moe.num_experts"),
          opt("n_routed_experts", "num_local_experts")),
    Field("moe.top_k", need("moe.num_experts_per_tok"), need("num_experts_per_tok")),
    Field("moe.expert_dim", need("moe.expert_hidden_dim"), need("moe_intermediate_size")),
    Field("moe.num_shared_experts", opt("moe.num_shared_experts"), opt("n_shared_experts")),
    Field("moe.routed_scale", opt("moe.routed_scale"), opt("routed_scaling_factor"), float),
    Field("moe.first_k_dense", opt("moe.first_k_dense_replace"), opt("first_k_dense_replace"),
          _int_or_zero),
)

# Vision tower. Mistral paths from `vision_encoder`; HF paths from the mistral3 wrapper (most
# live in its `vision_config`, the merge size and image token beside it).
VISION_FIELDS = (
    Field("hidden_size", need("hidden_size"), need("vision_config.hidden_size")),
    Field("num_layers", need("num_hidden_layers"), need("vision_config.num_hidden_layers")),
    Field("num_heads", need("num_attention_heads"), need("vision_config.num_attention_heads")),
    Field("intermediate_size", need("intermediate_size"),
          need("vision_config.intermediate_size")),
    Field("patch_size", need("patch_size"), need("vision_config.patch_size")),
    Field("image_size", opt("image_size", "max_image_size"), opt("vision_config.image_size")),
    Field("num_channels", opt("num_channels"), opt("vision_config.num_channels")),
    Field("rope_theta", opt("rope_theta"),
          opt("vision_config.rope_parameters.rope_theta", "vision_config.rope_theta"), float),
    Field("spatial_merge_size", opt("spatial_merge_size", default=1), opt("spatial_merge_size")),
    Field("image_token_id", opt("image_token_id"), opt("image_token_id", "image_token_index")),
    Field("image_break_token_id", opt("image_break_token_id"), None),
    Field("image_end_token_id", opt("image_end_token_id"), None),
)


class Fields:
    """A config dict that remembers which keys were read, so the rest can be reported."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data, self.where, self.seen = dict(data), where, set[str]()
        self.children: dict[str, Fields] = {}

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return self.data.get(key, default)

    def ignore(self, *keys: str) -> None:
        self.seen.update(keys)

    def sub(self, key: str) -> Fields:
        if key not in self.children:
            value = self.get(key) or {}
            if not isinstance(value, dict):
                raise ConfigError(f"{self.where}.{key}: expected an object")
            self.children[key] = Fields(value, f"{self.where}.{key}")
        return self.children[key]

    def lookup(self, path: str) -> Any:
        """The value at a dotted path, or _ABSENT; every section on the way counts as read."""
        *sections, key = path.split(".")
        fields = self
        for section in sections:
            if not isinstance(fields.data.get(section, {}), dict):
                raise ConfigError(f"{fields.where}.{section}: expected an object")
            fields = fields.sub(section)
        return fields.get(key, _ABSENT)

    def unknown(self) -> list[str]:
        own = [f"{self.where}.{k}" for k in self.data if k not in self.seen]
        return own + [name for child in self.children.values() for name in child.unknown()]


def read_table(fields: Fields, table: tuple[Field, ...], fmt: str) -> dict[str, Any]:
    """{our dotted name: value} for every field this format holds (absent optional fields
    are left out, so our dataclass defaults apply)."""
    values: dict[str, Any] = {}
    for field in table:
        key: Key | None = getattr(field, fmt)
        if key is None:
            continue
        found = [fields.lookup(path) for path in (key.path, *key.alternatives)]
        value = next((v for v in found if v is not _ABSENT), _ABSENT)
        if value is _ABSENT and key.required:
            raise ConfigError(f"{fields.where}: required field {key.path!r} is missing")
        if value is _ABSENT:
            value = key.default
        if value is not _ABSENT:
            values[field.ours] = field.kind(value)
    return values


def _nested(values: dict[str, Any], section: str) -> dict[str, Any]:
    prefix = f"{section}."
    return {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}


def text_config(values: dict[str, Any]) -> TextConfig:
    top = {k: v for k, v in values.items() if "." not in k}
    text = TextConfig(**top, rope=RopeConfig(**_nested(values, "rope")),
                      moe=MoEConfig(**_nested(values, "moe")))
    require(text.qk_rope_head_dim % 2 == 0, "qk_rope_head_dim", "must be even (rotated pairs)")
    require(text.moe.top_k <= text.moe.num_experts, "num_experts_per_tok", "exceeds num_experts")
    require(text.moe.first_k_dense == 0 or text.dense_dim > 0, "intermediate_size",
             "dense layers need a dense FFN width")
    return text


def write_table(config: Any, table: tuple[Field, ...], fmt: str) -> dict[str, Any]:
    """The nested dict holding every field of `config` this format carries."""
    out: dict[str, Any] = {}
    for field in table:
        key: Key | None = getattr(field, fmt)
        if key is None:
            continue
        value = config
        for attribute in field.ours.split("."):
            value = getattr(value, attribute)
        *sections, name = key.path.split(".")
        target = out
        for section in sections:
            target = target.setdefault(section, {})
        target[name] = value
    return out


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = deep_merge(merged[key], value) if both else value
    return merged


def require(condition: bool, field_name: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"unsupported {field_name}: {message}")
