"""Launch-config data, the GPU benchmark's floors, and its refusal to run without a GPU."""

from __future__ import annotations

import json

import pytest
import torch

from kernels.bench_gpu import Shape, experts_touched, floor_us
from kernels.configs import CONFIG_DIR, LaunchConfig, default_config, load_configs, pick_config


def test_shipped_config_files_parse_and_cover_decode_and_prefill():
    files = sorted(CONFIG_DIR.glob("E=*.json"))
    assert files, "kernels/configs should ship the real shape's launch configs"
    for path in files:
        raw = json.loads(path.read_text())
        assert isinstance(raw["tuned"], bool)
        table = load_configs(path.name)
        assert table is not None and {1, 4096} <= set(table)
        assert pick_config(table, 1).path == "direct"
        assert pick_config(table, 4096).path == "sorted"


def test_nearest_batch_size_is_picked():
    small, large = default_config(1, 4, True), default_config(512, 4, True)
    table = {1: small, 512: large}
    assert pick_config(table, 3) is small
    assert pick_config(table, 400) is large


def test_bad_config_path_is_a_clear_error():
    with pytest.raises(ValueError, match="launch config path is 'fast'"):
        LaunchConfig.from_json({"path": "fast", "gate_up": {}, "down": {}})


def test_floors_match_the_numbers_in_engine_md():
    shape = Shape()
    assert experts_touched(1, shape) == pytest.approx(5)
    assert experts_touched(8, shape) == pytest.approx(29.7, abs=0.1)
    assert floor_us(1, "fp8", shape) == pytest.approx(26, rel=0.03)
    assert floor_us(1, "bf16", shape) == pytest.approx(52, rel=0.03)
    assert floor_us(8, "fp8", shape) == pytest.approx(156, rel=0.03)
    assert floor_us(64, "fp8", shape) == pytest.approx(589, rel=0.03)
    assert floor_us(4096, "fp8", shape) == pytest.approx(680, rel=0.03)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal")
def test_gpu_benchmark_fails_loudly_without_a_gpu(capsys):
    from kernels.bench import main

    assert main(["--gpu"]) == 2
    assert "no GPU figures were measured" in capsys.readouterr().err
