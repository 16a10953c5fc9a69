"""`python -m kernels.gpu_check --dry-run`: the GPU session's script exercised on CPU (CI),
without its engine stage (the engine tests cover that path)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_dry_run_passes_every_stage_and_writes_its_report():
    done = subprocess.run([sys.executable, "-m", "kernels.gpu_check", "--dry-run",
                           "--skip-engine"], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for stage in ("compile", "exactness", "benchmark"):
        assert f"## {stage}: ok" in done.stdout
    assert "moe fp8 block W8A8: compiled and ran" in done.stdout
    report = Path(done.stdout.strip().splitlines()[-1].removeprefix("wrote "))
    assert report.name == "gpu_check.md" and report.read_text().startswith("# GPU check")


def test_without_a_gpu_it_says_so_and_measures_nothing():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the no-GPU answer cannot be seen here")
    done = subprocess.run([sys.executable, "-m", "kernels.gpu_check"], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 2 and "needs a CUDA device" in done.stderr
