"""Timing for the kernel benchmarks (kernels.bench, kernels.bench_fp8): interleaved runs,
medians in milliseconds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved_medians(fns: dict[str, Callable], reps: int, budget_s: float) -> dict:
    for fn in fns.values():
        fn()  # warm up (allocator, oneDNN primitive caches)
    times: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    names = list(fns)
    for rep in range(reps):
        # Rotate who goes first: the one that runs right after another reads the same
        # weights would otherwise always find them warmer in the shared L3.
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
        if rep >= 2 and time.perf_counter() - start > budget_s:
            break
    return {name: statistics.median(ts) * 1e3 for name, ts in times.items()}
