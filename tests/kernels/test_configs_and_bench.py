"""Launch-config data, the GPU benchmark's floors and its refusal to run without a GPU, and
the CPU benchmark against vLLM's op."""

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


def test_cpu_benchmark_runs_and_agrees_with_vllms_op():
    # In a subprocess: importing vLLM's ops pulls in state this test process should not get.
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "kernels.bench", "--tokens", "1", "5", "--experts", "4",
         "--hidden", "64", "--inter", "32", "--reps", "2", "--budget", "1", "--threads", "1"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines()
            if line.split()[:1] in (["bfloat16"], ["float32"])]
    assert [(row[0], row[1]) for row in rows] == [
        ("bfloat16", "1"), ("bfloat16", "5"), ("float32", "1"), ("float32", "5")]
    for dtype, _, ours, vllm, naive, ratio, _, err in rows:
        assert min(float(ours), float(vllm), float(naive), float(ratio)) > 0
        # Same weights and routes through vLLM's own CPU op: the outputs agree.
        assert float(err) < (2e-2 if dtype == "bfloat16" else 1e-5), (dtype, err)
