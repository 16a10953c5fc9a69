"""Safetensors checkpoints in both formats, mapped onto our tensor names.

Our names follow Mistral's consolidated names (they are short and one file format already uses
them), except that each layer's routed experts are fused into two 3-D tensors in the layout the
`kernels` package and vLLM use: `experts.w13` [E, 2·I, H] (gate rows then up rows) and
`experts.w2` [E, H, I].

Loading is lazy: shards are opened with `safe_open` (memory-mapped) and read one tensor at a time,
FP8 weights are dequantised as they are read, and every tensor's shape is checked against the
config with an error naming both the file's tensor and ours.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from model.config import CheckpointFormat, ModelConfig, ParsedConfig
from model.config_formats import load_config

if TYPE_CHECKING:
    import torch


class CheckpointError(ValueError):
    """A checkpoint's tensors do not match its config (missing, unexpected, wrong shape)."""


# ---------------------------------------------------------------------------------------------
# Expected shapes


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    t, moe = config.text, config.text.moe
    h = t.hidden_size
    shapes: dict[str, tuple[int, ...]] = {"tok_embeddings.weight": (t.vocab_size, h),
                                          "norm.weight": (h,)}
    if not t.tied_embeddings:
        shapes["output.weight"] = (t.vocab_size, h)
    for n in range(t.num_layers):
        p = f"layers.{n}."
        shapes |= {
            p + "attention_norm.weight": (h,),
            p + "ffn_norm.weight": (h,),
            p + "attention.wq_a.weight": (t.q_lora_rank, h),
            p + "attention.q_a_norm.weight": (t.q_lora_rank,),
            p + "attention.wq_b.weight": (t.num_heads * t.qk_head_dim, t.q_lora_rank),
            p + "attention.wkv_a_with_mqa.weight": (t.latent_cache_width, h),
            p + "attention.kv_a_norm.weight": (t.kv_lora_rank,),
            p + "attention.wkv_b.weight": (
                t.num_heads * (t.qk_nope_head_dim + t.v_head_dim), t.kv_lora_rank),
            p + "attention.wo.weight": (h, t.num_heads * t.v_head_dim),
        }
        if n < moe.first_k_dense:
            shapes |= _mlp_shapes(p + "feed_forward.", h, t.dense_dim)
            continue
        shapes |= {
            p + "gate.weight": (moe.num_experts, h),
            p + "experts.w13": (moe.num_experts, 2 * moe.expert_dim, h),
            p + "experts.w2": (moe.num_experts, h, moe.expert_dim),
        }
        if moe.num_shared_experts:
            shapes |= _mlp_shapes(p + "shared_experts.", h, moe.shared_dim)
    if config.vision is not None:
        v = config.vision
        d = v.hidden_size
        shapes["vision_encoder.patch_conv.weight"] = (d, v.num_channels, v.patch_size, v.patch_size)
        shapes["vision_encoder.ln_pre.weight"] = (d,)
        for n in range(v.num_layers):
            p = f"vision_encoder.transformer.layers.{n}."
            shapes |= {p + "attention_norm.weight": (d,), p + "ffn_norm.weight": (d,)}
            shapes |= {p + f"attention.{w}.weight": (d, d) for w in ("wq", "wk", "wv", "wo")}
            shapes |= _mlp_shapes(p + "feed_forward.", d, v.intermediate_size)
        shapes |= {
            "pre_mm_projector_norm.weight": (d,),
            "patch_merger.merging_layer.weight": (d, d * v.spatial_merge_size**2),
            "vision_language_adapter.w_in.weight": (h, d),
            "vision_language_adapter.w_out.weight": (h, h),
        }
    return shapes


def _mlp_shapes(prefix: str, dim: int, hidden: int) -> dict[str, tuple[int, ...]]:
    return {prefix + "w1.weight": (hidden, dim), prefix + "w2.weight": (dim, hidden),
            prefix + "w3.weight": (hidden, dim)}


# ---------------------------------------------------------------------------------------------
# HF names: one table, used in both directions. `{T}` is the text prefix, `{V}` the vision
# tower's, `{M}` the projector's; `{L}` a layer number.

_HF_NAMES: tuple[tuple[str, str], ...] = (
    ("tok_embeddings.weight", "{T}embed_tokens.weight"),
    ("norm.weight", "{T}norm.weight"),
    ("output.weight", "lm_head.weight"),
    ("layers.{L}.attention_norm.weight", "{T}layers.{L}.input_layernorm.weight"),
    ("layers.{L}.ffn_norm.weight", "{T}layers.{L}.post_attention_layernorm.weight"),
    ("layers.{L}.attention.wq_a.weight", "{T}layers.{L}.self_attn.q_a_proj.weight"),
    ("layers.{L}.attention.q_a_norm.weight", "{T}layers.{L}.self_attn.q_a_layernorm.weight"),
    ("layers.{L}.attention.wq_b.weight", "{T}layers.{L}.self_attn.q_b_proj.weight"),
    ("layers.{L}.attention.wkv_a_with_mqa.weight",
     "{T}layers.{L}.self_attn.kv_a_proj_with_mqa.weight"),
    ("layers.{L}.attention.kv_a_norm.weight", "{T}layers.{L}.self_attn.kv_a_layernorm.weight"),
    ("layers.{L}.attention.wkv_b.weight", "{T}layers.{L}.self_attn.kv_b_proj.weight"),
    ("layers.{L}.attention.wo.weight", "{T}layers.{L}.self_attn.o_proj.weight"),
    ("layers.{L}.gate.weight", "{T}layers.{L}.mlp.gate.weight"),
    ("layers.{L}.experts.w13", "{T}layers.{L}.mlp.experts.gate_up_proj"),
    ("layers.{L}.experts.w2", "{T}layers.{L}.mlp.experts.down_proj"),
    ("layers.{L}.shared_experts.w1.weight", "{T}layers.{L}.mlp.shared_experts.gate_proj.weight"),
    ("layers.{L}.shared_experts.w2.weight", "{T}layers.{L}.mlp.shared_experts.down_proj.weight"),
    ("layers.{L}.shared_experts.w3.weight", "{T}layers.{L}.mlp.shared_experts.up_proj.weight"),
    ("layers.{L}.feed_forward.w1.weight", "{T}layers.{L}.mlp.gate_proj.weight"),
    ("layers.{L}.feed_forward.w2.weight", "{T}layers.{L}.mlp.down_proj.weight"),
    ("layers.{L}.feed_forward.w3.weight", "{T}layers.{L}.mlp.up_proj.weight"),
    ("vision_encoder.patch_conv.weight", "{V}patch_conv.weight"),
    ("vision_encoder.ln_pre.weight", "{V}ln_pre.weight"),
    ("vision_encoder.transformer.layers.{L}.attention_norm.weight",
     "{V}transformer.layers.{L}.attention_norm.weight"),
    ("vision_encoder.transformer.layers.{L}.ffn_norm.weight",
     "{V}transformer.layers.{L}.ffn_norm.weight"),
    *(
        (f"vision_encoder.transformer.layers.{{L}}.attention.w{x}.weight",
         f"{{V}}transformer.layers.{{L}}.attention.{x}_proj.weight")
        for x in "qkvo"
    ),
    *(
        (f"vision_encoder.transformer.layers.{{L}}.feed_forward.{ours}.weight",
         f"{{V}}transformer.layers.{{L}}.feed_forward.{theirs}.weight")
        for ours, theirs in (("w1", "gate_proj"), ("w2", "down_proj"), ("w3", "up_proj"))
    ),
    ("pre_mm_projector_norm.weight", "{M}norm.weight"),
    ("patch_merger.merging_layer.weight", "{M}patch_merger.merging_layer.weight"),
    ("vision_language_adapter.w_in.weight", "{M}linear_1.weight"),
    ("vision_language_adapter.w_out.weight", "{M}linear_2.weight"),
)

# transformers < 5 saved Mistral3 checkpoints under these prefixes.
_LEGACY_HF_PREFIXES = (
    ("language_model.model.", "model.language_model."),
    ("language_model.lm_head.", "lm_head."),
    ("vision_tower.", "model.vision_tower."),
    ("multi_modal_projector.", "model.multi_modal_projector."),
)


def _hf_prefixes(has_vision: bool) -> dict[str, str]:
    return {
        "T": "model.language_model." if has_vision else "model.",
        "V": "model.vision_tower.",
        "M": "model.multi_modal_projector.",
    }


def hf_name(ours: str, has_vision: bool) -> str:
    """Our tensor name → the name a transformers 5 checkpoint stores it under."""
    for our_pattern, hf_pattern in _HF_NAMES:
        match = re.fullmatch(re.escape(our_pattern).replace(r"\{L\}", r"(?P<L>\d+)"), ours)
        if match:
            return hf_pattern.format(L=match.groupdict().get("L", ""), **_hf_prefixes(has_vision))
    raise KeyError(f"no HF name for {ours!r}")


def our_name_from_hf(name: str, has_vision: bool) -> str | None:
    for old, new in _LEGACY_HF_PREFIXES:
        if name.startswith(old):
            name = new + name[len(old):]
            break
    prefixes = _hf_prefixes(has_vision)
    for our_pattern, hf_pattern in _HF_NAMES:
        regex = re.escape(hf_pattern.format(L="{L}", **prefixes)).replace(r"\{L\}", r"(?P<L>\d+)")
        match = re.fullmatch(regex, name)
        if match:
            return our_pattern.format(L=match.groupdict().get("L", ""))
    return None


# Pixtral's 2-D RoPE rotates interleaved pairs in Mistral's layout; transformers permutes the
# rows of wq and wk so it can rotate halves instead. Our vision code uses Mistral's layout.
def permute_rope_rows_to_halves(weight: torch.Tensor, num_heads: int) -> torch.Tensor:
    rows, cols = weight.shape
    return weight.view(num_heads, rows // num_heads // 2, 2, cols).transpose(1, 2).reshape(
        rows, cols)


def permute_rope_rows_to_pairs(weight: torch.Tensor, num_heads: int) -> torch.Tensor:
    rows, cols = weight.shape
    return weight.view(num_heads, 2, rows // num_heads // 2, cols).transpose(1, 2).reshape(
        rows, cols)


def _is_vision_rope_weight(ours: str) -> bool:
    return ours.startswith("vision_encoder.") and ours.endswith(
        (".attention.wq.weight", ".attention.wk.weight"))


# ---------------------------------------------------------------------------------------------
# Files


class CheckpointFiles:
    """Every tensor in a directory's safetensors shards, opened lazily and memory-mapped."""

    def __init__(self, directory: str | Path) -> None:
        from safetensors import safe_open

        self.directory = Path(directory)
        self._handles: dict[Path, object] = {}
        self._where: dict[str, Path] = {}
        shards = sorted(self.directory.glob("*.safetensors"))
        if not shards:
            raise CheckpointError(f"{self.directory}: no *.safetensors files")
        for shard in shards:
            handle = safe_open(str(shard), framework="pt")
            self._handles[shard] = handle
            for name in handle.keys():  # noqa: SIM118 (a safe_open handle, not a dict)
                if name in self._where:
                    raise CheckpointError(
                        f"tensor {name} is in both {self._where[name].name} and {shard.name}")
                self._where[name] = shard

    def names(self) -> list[str]:
        return list(self._where)

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._handles[self._where[name]].get_slice(name).get_shape())

    def dtype_name(self, name: str) -> str:
        return str(self._handles[self._where[name]].get_slice(name).get_dtype())

    def get(self, name: str) -> torch.Tensor:
        if name not in self._where:
            raise CheckpointError(f"tensor {name} is missing from {self.directory}")
        return self._handles[self._where[name]].get_tensor(name)


# ---------------------------------------------------------------------------------------------
# Loading

_MISTRAL_EXPERT = re.compile(r"layers\.(\d+)\.experts\.(\d+)\.(w[123])\.weight")
_SCALE_ENDINGS = {
    "mistral": (".qscale_weight", ".qscale_act"),
    "hf": ("_scale_inv", ".activation_scale", "_activation_scale"),
}


def scale_names(fmt: CheckpointFormat, name: str) -> tuple[str, str]:
    """(weight scale, activation scale) names stored beside an FP8 tensor `name`."""
    if fmt == "mistral":
        base = name.removesuffix(".weight")
        return base + ".qscale_weight", base + ".qscale_act"
    if name.endswith(".weight"):
        return name + "_scale_inv", name.removesuffix(".weight") + ".activation_scale"
    return name + "_scale_inv", name + "_activation_scale"  # fused experts: gate_up_proj, ...


@dataclass
class LoadedWeights:
    config: ModelConfig
    format: CheckpointFormat
    tensors: dict[str, torch.Tensor]
    source_dtypes: dict[str, int] = field(default_factory=dict)  # dtype name → tensor count
    parsed: ParsedConfig | None = None


def load_weights(directory: str | Path, dtype: torch.dtype | None = None) -> LoadedWeights:
    """Read, map, dequantise and shape-check every tensor; cast to `dtype` (default float32)."""
    import torch

    dtype = dtype or torch.float32
    parsed = load_config(directory)
    files = CheckpointFiles(directory)
    expected = expected_shapes(parsed.config)
    reader = _MistralReader(files, parsed) if parsed.format == "mistral" else _HFReader(
        files, parsed)
    tensors: dict[str, torch.Tensor] = {}
    for ours, source, tensor in reader.tensors():
        if ours not in expected:
            raise CheckpointError(f"unexpected tensor {source} (ours: {ours}) for this config")
        if tuple(tensor.shape) != expected[ours]:
            raise CheckpointError(
                f"tensor {source} (ours: {ours}) has shape {tuple(tensor.shape)}, "
                f"the config says {expected[ours]}")
        tensors[ours] = tensor.to(dtype)
    missing = [name for name in expected if name not in tensors]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        shown = ", ".join(missing[:5]) + more
        raise CheckpointError(f"{directory}: missing tensors (our names): {shown}")
    leftovers = reader.unconsumed()
    if leftovers:
        raise CheckpointError(f"{directory}: tensors not used by this config: "
                              + ", ".join(sorted(leftovers)[:5]))
    counts: dict[str, int] = {}
    for name in files.names():
        counts[files.dtype_name(name)] = counts.get(files.dtype_name(name), 0) + 1
    return LoadedWeights(parsed.config, parsed.format, tensors, counts, parsed)


class _Reader:
    def __init__(self, files: CheckpointFiles, parsed: ParsedConfig) -> None:
        self.files, self.parsed, self.config = files, parsed, parsed.config
        self.consumed: set[str] = set()

    def is_scale(self, name: str) -> bool:
        return name.endswith(_SCALE_ENDINGS[self.parsed.format])

    def read(self, name: str) -> torch.Tensor:
        """A tensor, dequantised when the file holds it in FP8 with a scale beside it."""
        import torch

        tensor = self.files.get(name)
        self.consumed.add(name)
        scale_name, activation_scale = scale_names(self.parsed.format, name)
        if activation_scale in self.files:
            self.consumed.add(activation_scale)  # drives W8A8 kernels, not the maths here
        if tensor.dtype != torch.float8_e4m3fn:
            if scale_name in self.files:
                raise CheckpointError(f"tensor {name} has a scale but is {tensor.dtype}, not FP8")
            return tensor
        self.consumed.add(scale_name)
        if scale_name not in self.files:
            raise CheckpointError(f"tensor {name} is FP8 but {scale_name} is missing")
        # The one FP8 module lives in kernels (the lowest layer). Decoding the file format is
        # all it does here: the kernels' fast paths apply scales in their own code, and
        # tests/model/test_checkpoint.py checks this against fp8 × scale computed by hand.
        from kernels.fp8 import dequantize

        return dequantize(tensor, self.files.get(scale_name), name, dtype=torch.float32)

    def unconsumed(self) -> set[str]:
        return set(self.files.names()) - self.consumed


class _MistralReader(_Reader):
    def tensors(self) -> Iterator[tuple[str, str, torch.Tensor]]:
        import torch

        experts: dict[int, dict[str, dict[int, torch.Tensor]]] = {}
        for name in self.files.names():
            if self.is_scale(name):
                continue
            match = _MISTRAL_EXPERT.fullmatch(name)
            if match:
                layer, expert, which = int(match[1]), int(match[2]), match[3]
                tensor = self.read(name)
                experts.setdefault(layer, {}).setdefault(which, {})[expert] = tensor
                continue
            yield name, name, self.read(name)
        moe = self.config.text.moe
        for layer, parts in sorted(experts.items()):
            source = f"layers.{layer}.experts.*"
            for which in ("w1", "w2", "w3"):
                found = sorted(parts.get(which, {}))
                if found != list(range(moe.num_experts)):
                    raise CheckpointError(
                        f"{source}.{which}: found experts {found[:8]}..., the config says "
                        f"{moe.num_experts}")
            gate_up = [torch.cat([parts["w1"][e], parts["w3"][e]]) for e in range(moe.num_experts)]
            yield f"layers.{layer}.experts.w13", f"{source}.w1/w3", _stack(gate_up, source)
            down = [parts["w2"][e] for e in range(moe.num_experts)]
            yield f"layers.{layer}.experts.w2", f"{source}.w2", _stack(down, source)


def _stack(tensors: list[torch.Tensor], source: str) -> torch.Tensor:
    import torch

    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise CheckpointError(f"{source}: experts disagree in shape: {sorted(shapes)}")
    return torch.stack(tensors)


class _HFReader(_Reader):
    def tensors(self) -> Iterator[tuple[str, str, torch.Tensor]]:
        has_vision = self.config.vision is not None
        for name in self.files.names():
            if self.is_scale(name):
                continue
            ours = our_name_from_hf(name, has_vision)
            if ours is None:
                raise CheckpointError(f"tensor {name} has no counterpart in this architecture")
            tensor = self.read(name)
            if _is_vision_rope_weight(ours):
                tensor = permute_rope_rows_to_pairs(tensor, self.config.vision.num_heads)
            yield ours, name, tensor


# ---------------------------------------------------------------------------------------------
# Writing (tiny checkpoints and format conversion)


def to_mistral_tensors(tensors: dict[str, torch.Tensor], config: ModelConfig
                       ) -> dict[str, torch.Tensor]:
    """Our names → consolidated names: identity except that fused experts are split again."""
    out: dict[str, torch.Tensor] = {}
    inter = config.text.moe.expert_dim
    for name, tensor in tensors.items():
        if name.endswith(".experts.w13"):
            base = name.removesuffix("w13")
            for e in range(tensor.shape[0]):
                out[f"{base}{e}.w1.weight"] = tensor[e, :inter].contiguous()
                out[f"{base}{e}.w3.weight"] = tensor[e, inter:].contiguous()
        elif name.endswith(".experts.w2"):
            base = name.removesuffix("w2")
            for e in range(tensor.shape[0]):
                out[f"{base}{e}.w2.weight"] = tensor[e].contiguous()
        else:
            out[name] = tensor.contiguous()
    return out


def to_hf_tensors(tensors: dict[str, torch.Tensor], config: ModelConfig
                  ) -> dict[str, torch.Tensor]:
    has_vision = config.vision is not None
    out: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if _is_vision_rope_weight(name):
            tensor = permute_rope_rows_to_halves(tensor, config.vision.num_heads)
        out[hf_name(name, has_vision)] = tensor.contiguous()
    return out
