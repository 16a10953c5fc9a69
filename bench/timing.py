"""Shared helpers for benchmarks: interleaved runs and medians (machines here are noisy)."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable


def time_call(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(cases: dict[str, Callable[[], object]], runs: int, warmup: int = 2) -> dict:
    """Run each case `runs` times, alternating between cases so drift hits all alike."""
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            samples[name].append(time_call(fn))
    return samples


def run_quiet(argv: list[str]) -> Callable[[], object]:
    def call() -> object:
        quiet = subprocess.DEVNULL
        return subprocess.run(argv, stdout=quiet, stderr=quiet, check=True)

    return call


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return f"median {statistics.median(ms):8.1f} ms   min {ms[0]:8.1f}   max {ms[-1]:8.1f}"
