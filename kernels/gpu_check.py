"""The first GPU session's one unattended script: ``python -m kernels.gpu_check``.

Under 8 minutes on one H100/H200, each stage with its own time budget, a failing stage
recorded and the next one run (nothing here can stop the rest):

1. compile: every Triton kernel (`kernels.moe` in BF16, FP16 and FP8 with per-tensor,
   per-expert, gate/up and 128×128 block scales, W8A8 and W8A16; the routing kernel), each
   once, its compile-and-run time recorded;
2. exactness: the self-check the engine runs before serving (`kernels.self_check`) at the real
   widths (H=4096, I=2048, a slice of the experts) against vLLM's fused MoE, FP8 and BF16;
3. benchmark: `kernels.bench_gpu` (decode 1/8/32/64, prefill 512/4096 against the HBM roofline
   and torch's grouped GEMM) plus ours against vLLM's `fused_experts_op` at decode 1/8/64 and
   prefill 4096, BF16 and FP8;
4. engine: the tiny model end to end in vLLM with our plugin on and off
   (`model.vllm_plugin.engine_check` in a subprocess each): same greedy tokens, and the
   path each served with.

Writes ``<out-dir>/gpu_check.md`` and ``gpu_check.json`` (and bench_gpu's ``gpu_moe.*``);
exit status 1 when a stage failed. ``--dry-run`` runs the same stages on CPU with tiny shapes
under the Triton interpreter (no figures; CI runs it) into a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

BUDGET_S = {"compile": 90, "exactness": 60, "benchmark": 240, "engine": 180}


@dataclass
class Stage:
    name: str
    ok: bool = True
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list)


def _stage(name: str, body: Callable[[Stage], None]) -> Stage:
    stage = Stage(name)
    started = time.monotonic()
    try:
        body(stage)
    except Exception as exc:  # a failing stage is a result, not the end of the run
        stage.ok = False
        stage.lines.append(f"stage raised {type(exc).__name__}: {exc}")
        stage.lines.append(traceback.format_exc(limit=3).strip().splitlines()[-1])
    stage.seconds = time.monotonic() - started
    if stage.seconds > BUDGET_S[name]:
        stage.lines.append(f"over its {BUDGET_S[name]} s budget")
    print(f"[{name}] {'ok' if stage.ok else 'FAILED'} in {stage.seconds:.0f} s", flush=True)
    return stage


def compile_kernels(stage: Stage, device, tiny: bool) -> None:
    import torch

    import kernels
    from kernels import fp8

    experts, hidden, inter = (8, 128, 64) if tiny else (8, 4096, 2048)
    w13 = torch.randn(experts, 2 * inter, hidden, device=device) / hidden**0.5
    w2 = torch.randn(experts, hidden, inter, device=device) / inter**0.5
    x = torch.randn(4, hidden, device=device)
    weights, ids = kernels.route(torch.randn(4, experts, device=device), 2, backend="torch")
    cases: dict[str, Callable[[], object]] = {
        "routing": lambda: kernels.route(torch.randn(4, experts, device=device), 2,
                                         backend="triton"),
    }
    for dtype in (torch.bfloat16, torch.float16):
        cases[f"moe {dtype}"] = lambda d=dtype: kernels.moe(
            x.to(d), w13.to(d), w2.to(d), weights, ids, backend="triton")
    for layout in fp8.ScaleLayout:
        q13, s13 = fp8.quantize(w13, layout)
        q2, s2 = fp8.quantize(w2, fp8.ScaleLayout.EXPERT if layout is fp8.ScaleLayout.SHARD
                              else layout)
        for w8a8 in (False, True):
            acts = ({"a13_scale": fp8.activation_scale(x), "a2_scale": torch.tensor(
                0.01, device=device)} if w8a8 else {})
            cases[f"moe fp8 {layout.value} {'W8A8' if w8a8 else 'W8A16'}"] = (
                lambda q13=q13, q2=q2, s13=s13, s2=s2, acts=acts: kernels.moe(
                    x.to(torch.bfloat16), q13, q2, weights, ids, w13_scale=s13, w2_scale=s2,
                    backend="triton", **acts))
    for name, run in cases.items():
        started = time.monotonic()
        try:
            run()
            if device.type == "cuda":
                torch.cuda.synchronize()
            stage.lines.append(f"{name}: compiled and ran in {time.monotonic() - started:.1f} s")
        except Exception as exc:
            stage.ok = False
            stage.lines.append(f"{name}: FAILED {type(exc).__name__}: {str(exc)[:300]}")


def exactness(stage: Stage, device, tiny: bool) -> None:
    import torch

    from kernels import fp8
    from kernels.self_check import ExpertWeights, check_moe

    experts, hidden, inter = (8, 128, 64) if tiny else (8, 4096, 2048)
    w13 = torch.randn(experts, 2 * inter, hidden, device=device) / hidden**0.5
    w2 = torch.randn(experts, hidden, inter, device=device) / inter**0.5
    cases = {"bf16": ExpertWeights(w13.bfloat16(), w2.bfloat16(), 4, torch.bfloat16)}
    for layout in (fp8.ScaleLayout.EXPERT, fp8.ScaleLayout.SHARD, fp8.ScaleLayout.BLOCK):
        q13, s13 = fp8.quantize(w13, layout)
        q2, s2 = fp8.quantize(w2, fp8.ScaleLayout.EXPERT if layout is fp8.ScaleLayout.SHARD
                              else layout)
        cases[f"fp8 {layout.value}"] = ExpertWeights(q13, q2, 4, torch.bfloat16, s13, s2)
    for name, weights in cases.items():
        check = check_moe(weights, backend="triton")
        stage.ok &= check.ok
        verdict = "within tolerance" if check.ok else f"FAILED {check.reason}"
        stage.lines.append(f"{name}: {verdict} ({check.details})")


def vllm_timings(stage: Stage, device, tiny: bool) -> None:
    """Ours against vLLM's fused_experts_op on the same weights (GPU only)."""
    import torch

    from kernels.bench_gpu import Shape, Timer, make_batch, make_layer

    if device.type != "cuda":
        stage.lines.append("ours vs vLLM fused_experts_op: skipped (needs CUDA)")
        return
    from vllm.model_executor.layers.fused_moe.fused_moe import fused_experts_op

    shape, timer = Shape(), Timer(device)
    stage.lines.append("| dtype | tokens | ours µs | vLLM µs | vLLM/ours |")
    stage.lines.append("|---|---|---|---|---|")
    for dtype in ("bf16", "fp8"):
        layer = make_layer(dtype, shape, device)
        for batch in (1, 8, 64, 4096):
            _, (x, weights, ids) = make_batch(batch, shape, device)
            ours, theirs = _time_pair(timer, fused_experts_op, layer, x, weights, ids,
                                      dtype == "fp8")
            stage.lines.append(f"| {dtype} | {batch} | {ours:.1f} | {theirs:.1f} | "
                               f"{theirs / ours:.2f} |")
        del layer
        torch.cuda.empty_cache()


def _time_pair(timer, vllm_op, layer: dict, x, weights, ids, fp8: bool) -> tuple[float, float]:
    import kernels

    s = layer["scales"]
    ours = timer.median_us(lambda: kernels.moe(x, layer["w13"], layer["w2"], weights, ids, **s),
                           20)
    vllm_kwargs = ({"use_fp8_w8a8": True, "w1_scale": s["w13_scale"], "w2_scale": s["w2_scale"],
                    "a1_scale": s["a13_scale"], "a2_scale": s["a2_scale"]} if fp8 else {})
    theirs = timer.median_us(lambda: vllm_op(x, layer["w13"], layer["w2"], weights, ids,
                                             **vllm_kwargs), 20)
    return ours, theirs


def benchmark(stage: Stage, args: argparse.Namespace, out_dir: Path) -> None:
    from kernels.bench_gpu import run_gpu

    status = run_gpu(argparse.Namespace(dry_run=args.dry_run, out_dir=str(out_dir)))
    stage.ok = status == 0
    stage.lines.append(f"kernels.bench_gpu exit status {status}; table in "
                       f"{'a temporary directory (dry run)' if args.dry_run else out_dir}")


def engine(stage: Stage, work: Path, dry_run: bool) -> None:
    results = {}
    for plugin in ("1", "0"):
        out = work / f"engine-plugin-{plugin}.json"
        env = dict(os.environ, TESSERA_MOE_PLUGIN=plugin, TESSERA_MOE_STATS_DIR=str(work / plugin))
        env.pop("TRITON_INTERPRET", None)  # the engine runs its own way
        done = subprocess.run(
            [sys.executable, "-m", "model.vllm_plugin.engine_check", str(out), str(work),
             *(["--cpu"] if dry_run else [])],
            env=env, capture_output=True, text=True, timeout=BUDGET_S["engine"])
        if done.returncode != 0:
            stage.ok = False
            stage.lines.append(f"plugin {plugin}: engine failed: {done.stderr.strip()[-800:]}")
            return
        results[plugin] = json.loads(out.read_text())
        stage.lines.append(f"plugin {plugin}: tokens {results[plugin]['token_ids']}, "
                           f"served by {results[plugin]['serving'] or 'vLLM (plugin off)'}")
    same = results["1"]["token_ids"] == results["0"]["token_ids"]
    stage.ok &= same
    stage.lines.append("greedy tokens equal with the plugin on and off" if same
                       else "FAILED: greedy tokens differ with the plugin on and off")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernels.gpu_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true",
                        help="on CPU, tiny shapes, Triton interpreter, into a temp dir")
    parser.add_argument("--skip-engine", action="store_true", help="leave out stage 4")
    parser.add_argument("--out-dir", default="docs/perf")
    args = parser.parse_args(argv)
    if args.dry_run:
        os.environ["TRITON_INTERPRET"] = "1"  # before anything imports triton
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        print("error: gpu_check needs a CUDA device (or --dry-run); nothing was measured",
              file=sys.stderr)
        return 2
    device = torch.device("cpu" if args.dry_run else "cuda")
    out_dir = Path(tempfile.mkdtemp(prefix="gpu-check-dry-")) if args.dry_run else Path(
        args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-work-"))
    tiny = args.dry_run
    stages = [
        _stage("compile", lambda s: compile_kernels(s, device, tiny)),
        _stage("exactness", lambda s: exactness(s, device, tiny)),
        _stage("benchmark", lambda s: (benchmark(s, args, out_dir),
                                        vllm_timings(s, device, tiny))),
    ]
    if not args.skip_engine:
        stages.append(_stage("engine", lambda s: engine(s, work, args.dry_run)))
    device_name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu (dry run)"
    report = {"device": device_name, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "dry_run": args.dry_run, "stages": [asdict(s) for s in stages]}
    (out_dir / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# GPU check: {device_name}", "", f"`python -m kernels.gpu_check` at "
             f"{report['when']}{' (DRY RUN: no figures)' if args.dry_run else ''}.", ""]
    for s in stages:
        lines += [f"## {s.name}: {'ok' if s.ok else 'FAILED'} ({s.seconds:.0f} s)", "",
                  *[line if line.startswith("|") else f"- {line}" for line in s.lines], ""]
    (out_dir / "gpu_check.md").write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {out_dir / 'gpu_check.md'}")
    return 0 if all(s.ok for s in stages) else 1


if __name__ == "__main__":
    raise SystemExit(main())
