"""Tune the Triton MoE launch configurations on a GPU: ``python -m kernels.tune``.

For each dtype and batch size it times candidate tiles on the real layer shape (by default
128 routed experts + the shared expert as a 129th, top-4 + shared, H=4096, I=2048) with CUDA
graphs, after checking each candidate's output against the float32 checker, and writes the
fastest per batch to ``kernels/configs/E=…,H=…,I=…,dtype=…,device=….json`` (see
`kernels.configs`). Search: one tile for both GEMMs first, then the down tile with the best
gate/up tile fixed, then the gate/up tile with that down tile fixed. Compiled kernels are
reused across batch sizes, so the cost is mostly compilation: expect ~20–40 minutes for both
dtypes with the full candidate lists, a few minutes with ``--quick``.

``--write-defaults`` writes the default heuristic in the same format, marked
``"tuned": false`` (what the repository ships until a GPU run replaces it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from kernels.configs import CONFIG_DIR, LaunchConfig, Tile, config_file_name, default_config

BATCHES = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024, 2048, 4096]
DTYPE_TAGS = {"fp8": "fp8_w8a8", "bf16": "bf16"}
SMEM_BYTES = 200 * 1024


def direct_candidates(quick: bool) -> list[Tile]:
    block_n = [16, 32] if quick else [16, 32, 64]
    block_k = [256, 512] if quick else [128, 256, 512]
    warps = [4] if quick else [2, 4, 8]
    return [Tile(1, n, k, w, 2) for n, k, w in itertools.product(block_n, block_k, warps)]


def sorted_candidates(quick: bool, fp8: bool) -> list[Tile]:
    block_m = [16, 64] if quick else [16, 32, 64, 128]
    block_n = [64, 128] if quick else [32, 64, 128]
    block_k = ([128] if quick else [64, 128, 256]) if fp8 else ([64] if quick else [32, 64, 128])
    warps = [4, 8]
    stages = [3] if quick else [2, 3, 4]
    elem = 1 if fp8 else 2
    tiles = []
    for m, n, k, w, s in itertools.product(block_m, block_n, block_k, warps, stages):
        # gate/up kernel: one activation tile and two weight tiles per stage
        if s * (m * k + 2 * k * n) * elem <= SMEM_BYTES:
            tiles.append(Tile(m, n, k, w, s))
    return tiles


def _time_config(run, config: LaunchConfig, ref, timer, reps: int) -> float | None:
    from kernels.bench_gpu import rel_err

    try:
        out = run(config.to_json())
        if rel_err(out, ref) > 3e-2:
            return None
        return timer.graph_us(lambda: run(config.to_json()), reps)
    except Exception as exc:  # a tile that does not compile or fit is skipped
        print(f"  skip {config.to_json()}: {type(exc).__name__}: {str(exc)[:120]}",
              file=sys.stderr)
        return None


def tune_batch(batch, dtype, layer, shape, timer, quick) -> tuple[LaunchConfig, float]:
    import kernels
    from kernels.bench_gpu import make_batch
    from kernels.bench_gpu_impls import reference_moe

    _, (x, weights, ids) = make_batch(batch, shape, torch.device("cuda"))
    args = (x, layer["w13"], layer["w2"], weights, ids)
    ref = reference_moe(*args, **layer["scales"])

    def run(config):
        return kernels.moe(*args, **layer["scales"], backend="triton", config=config)

    reps = 10 if batch >= 512 else 30
    pairs = batch * (shape.top_k + 1)
    found: dict[LaunchConfig, float] = {}

    def measure(configs):
        for config in configs:
            if config not in found:
                us = _time_config(run, config, ref, timer, reps)
                if us is not None:
                    found[config] = us
        return min(found, key=found.get) if found else None

    if pairs <= 128:
        measure(LaunchConfig("direct", t, t) for t in direct_candidates(quick))
    tiles = sorted_candidates(quick, dtype == "fp8")
    best = measure(LaunchConfig("sorted", t, t) for t in tiles)
    if best is not None and best.path == "sorted":
        best = measure(LaunchConfig("sorted", best.gate_up, t) for t in tiles)
        best = measure(LaunchConfig("sorted", t, best.down) for t in tiles)
    if best is None:
        raise RuntimeError(f"no candidate ran correctly for {dtype} batch {batch}")
    return best, found[best]


def write_table(path: Path, table: dict, meta: dict) -> None:
    payload = {**meta, "configs": {str(b): v for b, v in sorted(table.items())}}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernels.tune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtypes", nargs="+", default=["fp8", "bf16"], choices=["fp8", "bf16"])
    parser.add_argument("--batches", type=int, nargs="+", default=BATCHES)
    parser.add_argument("--experts", type=int, default=128, help="routed experts (+1 shared)")
    parser.add_argument("--quick", action="store_true", help="small candidate lists")
    parser.add_argument("--out-dir", type=Path, default=CONFIG_DIR)
    parser.add_argument("--write-defaults", action="store_true",
                        help="write the default heuristic as untuned JSON (no GPU needed)")
    parser.add_argument("--device-name", default="NVIDIA H200",
                        help="with --write-defaults: the device the files are named for")
    args = parser.parse_args(argv)

    from kernels.bench_gpu import Shape, Timer, make_layer

    shape = Shape(experts=args.experts)
    experts = shape.experts + 1  # the shared expert rides along as the last expert
    if args.write_defaults:
        for dtype in args.dtypes:
            name = config_file_name(experts, shape.hidden, shape.inter, DTYPE_TAGS[dtype],
                                    args.device_name)
            table = {b: default_config(b, shape.top_k + 1, dtype == "fp8").to_json()
                     for b in args.batches}
            write_table(args.out_dir / name, table, {
                "tuned": False,
                "source": "kernels.configs.default_config written by `python -m kernels.tune "
                          "--write-defaults`; not measured on a GPU yet",
                "shape": {**asdict(shape), "experts": experts, "top_k": shape.top_k + 1},
            })
        return 0
    if not torch.cuda.is_available():
        print("error: tuning needs a CUDA device; torch.cuda.is_available() is False",
              file=sys.stderr)
        return 2
    import triton

    device_name = torch.cuda.get_device_name()
    timer = Timer(torch.device("cuda"))
    for dtype in args.dtypes:
        layer = make_layer(dtype, shape, torch.device("cuda"))
        name = config_file_name(experts, shape.hidden, shape.inter, DTYPE_TAGS[dtype],
                                device_name)
        table = {}
        for batch in args.batches:
            started = time.monotonic()
            config, us = tune_batch(batch, dtype, layer, shape, timer, args.quick)
            table[batch] = {**config.to_json(), "us": round(us, 2)}
            print(f"{dtype} batch {batch}: {us:.1f} µs with {config.to_json()} "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
            write_table(args.out_dir / name, table, {
                "tuned": True, "device": device_name, "torch": torch.__version__,
                "triton": triton.__version__,
                "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "shape": {**asdict(shape), "experts": experts, "top_k": shape.top_k + 1},
            })
        del layer
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
