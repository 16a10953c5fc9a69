import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from kernels.fp8 import FP8_DTYPE, dequantize, quantize_blocks
from model.checkpoint import CheckpointError, load_weights, scale_names


@pytest.mark.parametrize("preset", ["small", "odd", "real-latent"])
def test_both_formats_load_to_the_same_tensors(tiny_dirs, preset) -> None:
    mistral = load_weights(tiny_dirs("mistral", preset, vision=True))
    hf = load_weights(tiny_dirs("hf", preset, vision=True))
    assert mistral.format == "mistral" and hf.format == "hf"
    assert mistral.tensors.keys() == hf.tensors.keys()
    for name, tensor in mistral.tensors.items():
        assert torch.equal(tensor, hf.tensors[name]), name


def test_experts_are_fused_in_the_kernel_layout(tiny_dirs) -> None:
    directory = tiny_dirs("mistral", "small", vision=False)
    weights = load_weights(directory)
    config = weights.config.text
    w13 = weights.tensors["layers.1.experts.w13"]
    assert w13.shape == (config.moe.num_experts, 2 * config.moe.expert_dim, config.hidden_size)
    shard = sorted(directory.glob("consolidated-*.safetensors"))
    raw = {}
    for path in shard:
        with safe_open(str(path), framework="pt") as handle:
            raw |= {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    inter = config.moe.expert_dim
    assert torch.equal(w13[3, :inter], raw["layers.1.experts.3.w1.weight"])
    assert torch.equal(w13[3, inter:], raw["layers.1.experts.3.w3.weight"])
    w2 = weights.tensors["layers.1.experts.w2"]
    assert torch.equal(w2[3], raw["layers.1.experts.3.w2.weight"])


def test_shape_mismatch_names_the_tensor(tiny_dirs, tmp_path) -> None:
    source = tiny_dirs("mistral", "small", vision=False)
    for path in source.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    params = json.loads((tmp_path / "params.json").read_text())
    params["q_lora_rank"] += 1
    (tmp_path / "params.json").write_text(json.dumps(params))
    with pytest.raises(CheckpointError, match=r"layers\.\d\.attention\.(wq_a|q_a_norm|wq_b)"):
        load_weights(tmp_path)


def test_missing_and_unexpected_tensors_are_named(tiny_dirs, tmp_path) -> None:
    source = tiny_dirs("hf", "small", vision=False)
    for path in source.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    extra = {"model.layers.0.mystery.weight": torch.zeros(2)}
    save_file(extra, str(tmp_path / "extra.safetensors"))
    with pytest.raises(CheckpointError, match=r"model\.layers\.0\.mystery\.weight"):
        load_weights(tmp_path)
    (tmp_path / "extra.safetensors").unlink()
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing tensors"):
        load_weights(tmp_path)


def _raw(directory):
    tensors = {}
    for path in directory.glob("*.safetensors"):
        with safe_open(str(path), framework="pt") as handle:
            tensors |= {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    return tensors


@pytest.mark.parametrize(
    ("fmt", "mode"), [("mistral", "tensor"), ("hf", "tensor"), ("hf", "block")])
def test_fp8_dequantised_equals_fp8_times_scale_exactly(tiny_dirs, fmt, mode) -> None:
    directory = tiny_dirs(fmt, "odd", vision=False, fp8=mode)
    raw = _raw(directory)
    weights = load_weights(directory)
    fp8_names = [name for name, tensor in raw.items() if tensor.dtype == FP8_DTYPE]
    assert fp8_names, "the tiny writer should have quantised the linear weights"
    if fmt == "mistral":
        name = "layers.1.attention.wkv_b.weight"
        expected = raw[name].float() * raw[scale_names(fmt, name)[0]].float()
        assert torch.equal(weights.tensors[name], expected)
        gate = "layers.1.experts.2.w1.weight"
        expected_gate = raw[gate].float() * raw[scale_names(fmt, gate)[0]].float()
        assert torch.equal(weights.tensors["layers.1.experts.w13"][2, :19], expected_gate)
        return
    name = "model.layers.1.self_attn.kv_b_proj.weight"
    scale = raw[scale_names(fmt, name)[0]].float()
    if mode == "block":
        assert scale.shape == (1, 1)  # 2-D block grid, ceil(39/128) × ceil(23/128)
    expected = raw[name].float() * scale  # one block: broadcasting is the exact product
    assert torch.equal(weights.tensors["layers.1.attention.wkv_b.weight"], expected)
    experts = "model.layers.1.mlp.experts.gate_up_proj"
    expert_scale = raw[scale_names(fmt, experts)[0]].float()
    for e in range(raw[experts].shape[0]):
        per_expert = expert_scale[e] if mode == "block" else expert_scale[e, 0, 0]
        expected_expert = raw[experts][e].float() * per_expert
        assert torch.equal(weights.tensors["layers.1.experts.w13"][e], expected_expert)


def test_block_scales_cover_partial_blocks_exactly() -> None:
    weight = torch.randn(300, 130)
    quantised, scale = quantize_blocks(weight)
    assert scale.shape == (3, 2)
    restored = dequantize(quantised, scale, dtype=torch.float32)
    for i in range(3):
        for j in range(2):
            rows, cols = slice(128 * i, 128 * (i + 1)), slice(128 * j, 128 * (j + 1))
            assert torch.equal(restored[rows, cols], quantised[rows, cols].float() * scale[i, j])
    assert (restored - weight).abs().max() < 0.07 * weight.abs().max()


def test_dequantised_copy_for_engines_without_fp8(tiny_dirs, tmp_path) -> None:
    from model.vllm_check import dequantised_copy

    source = tiny_dirs("mistral", "odd", vision=True, fp8="tensor")
    copy = dequantised_copy(source, tmp_path / "copy")
    original, plain = load_weights(source), load_weights(copy)
    assert plain.parsed.quantization is None and set(plain.source_dtypes) == {"F32"}
    for name, tensor in original.tensors.items():
        assert torch.equal(tensor, plain.tensors[name]), name
