"""GPU MoE benchmark: ``python -m kernels.bench --gpu`` (one H200, under 8 minutes).

The real layer shape — 128 routed experts + the shared expert run as an always-on 129th
(`kernels.with_shared_expert`), top-4, H=4096, I=2048 — at decode batch 1/8/32/64 and prefill
512/4096, in FP8 (W8A8, static per-expert weight scales and per-tensor activation scales, the
checkpoint's format) and BF16. Three implementations on the same weights and routes:

- ours: `kernels.moe` (the Triton kernels);
- grouped_mm: tokens sorted by expert and ``torch._grouped_mm`` (BF16) /
  ``torch._scaled_grouped_mm`` (FP8, row-wise scales) — what a torch-only port would do;
- naive: a loop over the touched experts (FP8 weights dequantised to BF16 per call).

Times are medians of CUDA-event timings: "eager" (Python launches included) and "graph" (one
CUDA-graph replay, how an engine runs decode). The HBM floor is the bytes of the touched
experts over 4.8 TB/s — experts touched at batch B: 128·(1 − (1 − 4/128)^B) + 1 shared — or
the FLOPs over peak when that is larger (prefill). Every output is checked against a float32
loop over the same dequantised weights before it is timed. Results go to
``<out-dir>/gpu_moe.json`` and ``<out-dir>/gpu_moe.md``.

Without a GPU it exits with status 2 and says so. ``--dry-run`` exercises the script on CPU
with a tiny shape under the Triton interpreter (its times mean nothing; written to a temp dir).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

import kernels
from kernels import fp8
from kernels.bench_gpu_impls import grouped_mm_moe, naive_moe, reference_moe

HBM_BYTES_PER_S = 4.8e12
PEAK_FLOPS = {"fp8": 1979e12, "bf16": 989e12}
DEADLINE_S = 7 * 60 + 30


@dataclass(frozen=True)
class Shape:
    experts: int = 128
    hidden: int = 4096
    inter: int = 2048
    top_k: int = 4


@dataclass
class Row:
    dtype: str
    batch: int
    impl: str
    eager_us: float | None = None
    graph_us: float | None = None
    floor_us: float | None = None
    max_rel_err: float | None = None
    error: str | None = None


def experts_touched(batch: int, shape: Shape) -> float:
    return shape.experts * (1 - (1 - shape.top_k / shape.experts) ** batch) + 1


def floor_us(batch: int, dtype: str, shape: Shape) -> float:
    expert_params = 3 * shape.hidden * shape.inter
    bytes_moved = experts_touched(batch, shape) * expert_params * (1 if dtype == "fp8" else 2)
    flops = 2 * batch * (shape.top_k + 1) * expert_params
    return max(bytes_moved / HBM_BYTES_PER_S, flops / PEAK_FLOPS[dtype]) * 1e6


def make_layer(dtype: str, shape: Shape, device: torch.device) -> dict:
    """Routed + shared expert weights (shared appended as the last expert) and scales."""
    e, h, i = shape.experts + 1, shape.hidden, shape.inter
    w13 = torch.empty(e, 2 * i, h, dtype=torch.bfloat16, device=device)
    w2 = torch.empty(e, h, i, dtype=torch.bfloat16, device=device)
    for chunk in range(0, e, 16):  # chunks keep the float32 temporaries small
        n = min(16, e - chunk)
        w13[chunk : chunk + n] = torch.randn(n, 2 * i, h, device=device) / h**0.5
        w2[chunk : chunk + n] = torch.randn(n, h, i, device=device) / i**0.5
    if dtype == "bf16":
        return {"w13": w13, "w2": w2, "scales": {}}
    q13 = torch.empty(w13.shape, dtype=fp8.FP8_DTYPE, device=device)
    q2 = torch.empty(w2.shape, dtype=fp8.FP8_DTYPE, device=device)
    s13 = torch.empty(e, device=device)
    s2 = torch.empty(e, device=device)
    for chunk in range(0, e, 16):
        sl = slice(chunk, min(chunk + 16, e))
        q13[sl], s13[sl] = fp8.quantize_per_expert(w13[sl])
        q2[sl], s2[sl] = fp8.quantize_per_expert(w2[sl])
    del w13, w2
    # Static activation scales, calibrated once on unit-variance inputs.
    scales = {"w13_scale": s13, "w2_scale": s2,
              "a13_scale": torch.tensor(5.0 / fp8.FP8_MAX, device=device),
              "a2_scale": torch.tensor(2.0 / fp8.FP8_MAX, device=device)}
    return {"w13": q13, "w2": q2, "scales": scales}


def make_batch(batch: int, shape: Shape, device: torch.device):
    x = torch.randn(batch, shape.hidden, device=device).to(torch.bfloat16)
    logits = torch.randn(batch, shape.experts, device=device)
    # Inputs are routed by torch so a routing-kernel failure cannot stop the MoE rows.
    weights, ids = kernels.route(logits, shape.top_k, backend="torch")
    return logits, (x, *kernels.add_shared_route(weights, ids, shared_id=shape.experts))


class Timer:
    """CUDA events on a GPU; wall clock in the CPU dry run."""

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def __init__(self, device: torch.device, warmup: int = 3):
        self.cuda = device.type == "cuda"
        self.warmup = warmup

    def median_us(self, fn: Callable[[], object], reps: int) -> float:
        for _ in range(self.warmup):
            fn()
        self.sync()
        times = []
        for _ in range(reps):
            if self.cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(
                    enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end) * 1e3)
            else:
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e6)
        return statistics.median(times)

    def graph_us(self, fn: Callable[[], object], reps: int) -> float | None:
        if not self.cuda:
            return None
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                fn()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        return self.median_us(graph.replay, reps)


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out.float() - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def bench_routing(batch, logits, shape, timer, reps) -> list[Row]:
    """The fused routing kernel beside torch's softmax + topk (same ids expected)."""
    from kernels.routing import route_torch

    rows = []
    expected = route_torch(logits, shape.top_k)
    for name, backend in (("route_triton", "triton"), ("route_torch", "torch")):
        row = Row("fp32", batch, name)
        try:
            weights, ids = kernels.route(logits, shape.top_k, backend=backend)
            row.max_rel_err = rel_err(weights, expected[0])
            if not torch.equal(ids, expected[1]):
                row.error = "routing ids differ from torch.topk"
            row.eager_us = timer.median_us(
                lambda b=backend: kernels.route(logits, shape.top_k, backend=b), reps)
            row.graph_us = timer.graph_us(
                lambda b=backend: kernels.route(logits, shape.top_k, backend=b), reps)
        except Exception as exc:
            row.error = f"{type(exc).__name__}: {exc}"[:300]
        rows.append(row)
        print(json.dumps(asdict(row)), flush=True)
    return rows


def bench_one(dtype, batch, layer, shape, device, timer, reps) -> list[Row]:
    logits, (x, weights, ids) = make_batch(batch, shape, device)
    args = (x, layer["w13"], layer["w2"], weights, ids)
    scales = layer["scales"]
    ref = reference_moe(*args, **scales)
    rows = bench_routing(batch, logits, shape, timer, reps) if dtype == "fp8" else []
    impls: dict[str, Callable[[], torch.Tensor]] = {
        "ours": lambda: kernels.moe(*args, **scales, backend="triton"),
        "grouped_mm": lambda: grouped_mm_moe(*args, **scales),
        "naive": lambda: naive_moe(*args, **scales),
    }
    for name, fn in impls.items():
        row = Row(dtype, batch, name, floor_us=floor_us(batch, dtype, shape))
        try:
            row.max_rel_err = rel_err(fn(), ref)
            row.eager_us = timer.median_us(fn, reps)
            if name != "naive":  # the naive loop reads ids on the host: not capturable
                row.graph_us = timer.graph_us(fn, reps)
        except Exception as exc:  # one failing implementation must not hide the others
            row.error = f"{type(exc).__name__}: {exc}"[:300]
        rows.append(row)
        print(json.dumps(asdict(row)), flush=True)
    return rows


def targets(by_key: dict, best: Callable) -> list[str]:
    """The issue's targets, each marked met / MISSED / not measured."""
    out = []
    for batch, limit in ((1, 1.25), (64, 1.2), (4096, 1.3)):
        impls = by_key.get(("fp8", batch), {})
        ours = best(impls.get("ours"))
        if ours is None:
            out.append(f"fp8 batch {batch} ≤ {limit}× floor: not measured")
            continue
        ratio = ours / impls["ours"].floor_us
        verdict = "met" if ratio <= limit else "MISSED"
        out.append(f"fp8 batch {batch} ≤ {limit}× floor: {ratio:.2f}× — {verdict}")
    for (dtype, batch), impls in by_key.items():
        if batch > 64:
            continue
        ours, grouped = best(impls.get("ours")), best(impls.get("grouped_mm"))
        if ours is None or grouped is None:
            out.append(f"{dtype} batch {batch} ≥ 1.5× grouped_mm: not measured")
            continue
        verdict = "met" if grouped / ours >= 1.5 else "MISSED"
        out.append(f"{dtype} batch {batch} ≥ 1.5× grouped_mm: {grouped / ours:.2f}× — {verdict}")
    return out


def markdown(rows: list[Row], meta: dict) -> str:
    def us(value):
        return "—" if value is None else f"{value:,.1f}"

    lines = [
        "# GPU MoE benchmark",
        "",
        f"{meta['device']} · torch {meta['torch']} · triton {meta['triton']} · {meta['when']}",
        f"Shape: E={meta['shape']['experts']}+1 shared, H={meta['shape']['hidden']}, "
        f"I={meta['shape']['inter']}, top-{meta['shape']['top_k']}. Times in µs, medians; "
        "best of eager and CUDA-graph replay; floor = HBM (or FLOP) floor.",
        "",
        "| dtype | batch | ours | grouped_mm | naive | floor | ours/floor | grouped/ours "
        "| ours err |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_key: dict[tuple, dict[str, Row]] = {}
    routing = [row for row in rows if row.impl.startswith("route_")]
    for row in rows:
        if not row.impl.startswith("route_"):
            by_key.setdefault((row.dtype, row.batch), {})[row.impl] = row

    def best(row: Row | None) -> float | None:
        if row is None or row.error:
            return None
        times = [t for t in (row.eager_us, row.graph_us) if t is not None]
        return min(times) if times else None

    for (dtype, batch), impls in by_key.items():
        ours, grouped, naive = (best(impls.get(k)) for k in ("ours", "grouped_mm", "naive"))
        floor = impls["ours"].floor_us
        ratio = f"{ours / floor:.2f}×" if ours and floor else "—"
        speedup = f"{grouped / ours:.2f}×" if ours and grouped else "—"
        err = impls["ours"].max_rel_err
        lines.append(f"| {dtype} | {batch} | {us(ours)} | {us(grouped)} | {us(naive)} | "
                     f"{us(floor)} | {ratio} | {speedup} | "
                     f"{'—' if err is None else f'{err:.1e}'} |")
    lines += ["", "Targets (issue 5):", ""] + [f"- {line}" for line in targets(by_key, best)]
    if routing:
        lines += ["", "Routing (softmax top-4 of 128, renormalised), µs, best of eager/graph:", ""]
        lines += [f"- batch {r.batch} {r.impl}: {us(best(r))}" for r in routing]
    errors = [r for r in rows if r.error]
    if errors:
        lines += ["", "Errors:", ""]
        lines += [f"- {r.dtype} batch {r.batch} {r.impl}: {r.error}" for r in errors]
    return "\n".join(lines) + "\n"


def run_gpu(args: argparse.Namespace) -> int:
    dry_run = getattr(args, "dry_run", False)
    if dry_run:
        # Before anything imports triton: the kernels run under the interpreter.
        os.environ["TRITON_INTERPRET"] = "1"
        device = torch.device("cpu")
        shape = Shape(experts=8, hidden=128, inter=64, top_k=2)
        batches, out_dir = [1, 8, 40], Path(tempfile.mkdtemp(prefix="moe-bench-dry-"))
    else:
        if not torch.cuda.is_available():
            print("error: --gpu needs a CUDA device and torch.cuda.is_available() is False; "
                  "no GPU figures were measured", file=sys.stderr)
            return 2
        device = torch.device("cuda")
        shape = Shape()
        batches, out_dir = [1, 8, 32, 64, 512, 4096], Path(args.out_dir)
    import triton

    started = time.monotonic()
    timer = Timer(device, warmup=1 if dry_run else 3)
    meta = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu (dry run)",
        "torch": torch.__version__, "triton": triton.__version__,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "shape": asdict(shape),
        "dry_run": dry_run,
    }
    rows: list[Row] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for dtype in ("fp8", "bf16"):
        layer = make_layer(dtype, shape, device)
        for batch in batches:
            if time.monotonic() - started > DEADLINE_S:
                print(f"deadline reached; skipping {dtype} batch {batch}", file=sys.stderr)
                continue
            reps = 1 if dry_run else 10 if batch >= 512 else 50
            rows += bench_one(dtype, batch, layer, shape, device, timer, reps)
        del layer
        if device.type == "cuda":
            torch.cuda.empty_cache()
    (out_dir / "gpu_moe.json").write_text(
        json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    table = markdown(rows, meta)
    (out_dir / "gpu_moe.md").write_text(table)
    print(table)
    print(f"wrote {out_dir / 'gpu_moe.json'} and {out_dir / 'gpu_moe.md'} "
          f"in {time.monotonic() - started:.0f} s")
    failed = [r for r in rows if r.impl == "ours" and (r.error or (r.max_rel_err or 0) > 3e-2)]
    if failed:
        print(f"error: our kernel failed or was inexact in {len(failed)} rows", file=sys.stderr)
        return 1
    return 0

