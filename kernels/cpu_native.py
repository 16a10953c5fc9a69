"""Build and call the AVX2 kernels in ``cpu_native.c`` (see there for why they exist): the
whole routed MoE in native calls (`fused_moe`). It reads vLLM's row-major expert weights in
place: no prepacked copy of the weights, no extra memory beyond a per-thread scratch.

The C file is compiled once with the system ``gcc`` into a cache directory
(``$TESSERA_KERNEL_CACHE``, else ``$XDG_CACHE_HOME/tessera/kernels``), named by a hash of the
source and flags, and loaded with ctypes. It links against the OpenMP runtime torch already
loaded (same ``libgomp.so.1`` soname), so it runs on torch's thread count
(``torch.set_num_threads``). Without gcc or AVX2/FMA, `available()` is False, the reason is
logged once, and the CPU path uses torch only. ``TESSERA_CPU_NATIVE=0`` disables it.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from functools import cache
from pathlib import Path

import torch

from kernels import buffers
from kernels.validate import check_ids_range

log = logging.getLogger(__name__)

_SOURCE = Path(__file__).with_name("cpu_native.c")
_FLAGS = ["-O3", "-mavx2", "-mfma", "-mf16c", "-fopenmp", "-fPIC", "-shared"]
_WEIGHT_KIND = {torch.float32: 0, torch.bfloat16: 1, torch.float16: 2}


def _cache_dir() -> Path:
    explicit = os.environ.get("TESSERA_KERNEL_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tessera" / "kernels"


def _cpu_has_avx2() -> bool:
    return torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def _build(source: bytes) -> Path:
    digest = hashlib.sha256(source + " ".join(_FLAGS).encode()).hexdigest()[:16]
    target = _cache_dir() / f"cpu_native-{digest}.so"
    if target.exists():
        return target
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise RuntimeError("no C compiler (gcc/cc) on PATH")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Compile beside the target and rename: concurrent processes never load a partial file.
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        result = subprocess.run([compiler, *_FLAGS, "-o", tmp, str(_SOURCE)],
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{compiler} failed: {result.stderr.strip()[:2000]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


@cache
def _library() -> ctypes.CDLL | None:
    if os.environ.get("TESSERA_CPU_NATIVE", "1") == "0":
        log.info("CPU MoE native kernel disabled by TESSERA_CPU_NATIVE=0")
        return None
    if not _cpu_has_avx2():
        log.warning("CPU MoE native kernel needs AVX2/FMA (this CPU: %s); using torch only",
                    torch.backends.cpu.get_cpu_capability())
        return None
    try:
        lib = ctypes.CDLL(str(_build(_SOURCE.read_bytes())))
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        log.warning("CPU MoE native kernel unavailable (%s); using torch only", exc)
        return None
    ptr, i32, i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_long
    signatures = {
        "tessera_moe": [ptr, i32, ptr, ptr, i32, ptr, ptr, ptr, i32, i32, i32, i32, i32, ptr, i64],
    }
    for name, argtypes in signatures.items():
        fn = getattr(lib, name)
        fn.restype = ctypes.c_int
        fn.argtypes = argtypes
    return lib


def available() -> bool:
    return _library() is not None


def supports(weight: torch.Tensor) -> bool:
    """Whether `fused_moe` takes this ``[E, N, K]`` weight (dtype, layout, K % 8)."""
    return (weight.dtype in _WEIGHT_KIND and weight.device.type == "cpu"
            and weight.is_contiguous() and weight.shape[-1] % 8 == 0 and available())


# `fused_moe` runs at most this many tokens per native call, which bounds its scratch
# (pairs × (2·hidden + 3·inter) floats: 57 MB for 1024 tokens of the benchmark shape).
FUSED_CHUNK_TOKENS = 1024
# Per-thread scratch kept between calls: a fresh buffer per call would be page-faulted in
# each time (measured: 40–60 ms of a 2,048-token call). Grows to the largest chunk seen.
_scratch = threading.local()


def _scratch_floats(floats: int) -> torch.Tensor:
    buffer = getattr(_scratch, "buffer", None)
    if buffer is None or buffer.numel() < floats:
        buffer = torch.empty(floats, dtype=torch.float32)
        _scratch.buffer = buffer
    return buffer


def fused_moe_if_plain(x: torch.Tensor, w13: torch.Tensor, w2: torch.Tensor,
                       weights: torch.Tensor, ids: torch.Tensor) -> torch.Tensor | None:
    """`fused_moe` when the arguments are a plain native case, after only the checks that make
    the call safe; None otherwise (the caller then validates fully, which also gives the
    precise error for bad arguments).

    Why a second, shorter check: with the caches cold — as between layers in a real forward
    pass, or after another implementation in the benchmark — each of the ~40 tensor
    attributes the full check reads costs microseconds, and the full check plus dispatch took
    ~200 µs before the kernel started (measured: 1.35 ms against 1.16 ms for a 1-token,
    24 MB float32 call)."""
    tensor = torch.Tensor
    if not (isinstance(x, tensor) and isinstance(w13, tensor) and isinstance(w2, tensor)
            and isinstance(weights, tensor) and isinstance(ids, tensor)):
        return None
    kind = _WEIGHT_KIND.get(x.dtype)
    if kind is None or w13.dtype != x.dtype or w2.dtype != x.dtype or _library() is None:
        return None
    x_shape, w13_shape, ids_shape = x.shape, w13.shape, ids.shape
    if len(x_shape) != 2 or len(w13_shape) != 3 or len(ids_shape) != 2:
        return None
    tokens, hidden = x_shape
    experts, two_inter, k = w13_shape
    inter = two_inter // 2
    if (tokens == 0 or k != hidden or two_inter % 2 or hidden % 8 or inter % 8
            or w2.shape != (experts, hidden, inter) or ids_shape[0] != tokens
            or ids_shape[1] < 1 or weights.shape != ids_shape
            or ids.dtype not in (torch.int32, torch.int64) or not weights.is_floating_point()
            or not (x.is_cpu and w13.is_cpu and w2.is_cpu and weights.is_cpu and ids.is_cpu)
            or not (w13.is_contiguous() and w2.is_contiguous())):
        return None
    return fused_moe(x, w13, w2, weights, ids)


def fused_moe(x: torch.Tensor, w13: torch.Tensor, w2: torch.Tensor, weights: torch.Tensor,
              ids: torch.Tensor) -> torch.Tensor:
    """The whole routed MoE in native calls (grouping, gather, both GEMMs, SiLU·up, routing
    weights and the top-k sum), `FUSED_CHUNK_TOKENS` tokens at a time. Arguments as
    `kernels.moe`, already validated except for the range of ``ids``, which the kernel checks
    (ValueError); ``w13``/``w2`` pass `supports`, ``x`` is float32/bf16/fp16."""
    lib = _library()
    assert lib is not None
    tokens, hidden = x.shape
    experts, two_inter, _ = w13.shape
    inter = two_inter // 2
    # Conversions only when needed: this runs on every MoE layer of every decode step.
    x = x.contiguous()
    ids32 = (ids if ids.dtype == torch.int32 else ids.to(torch.int32)).contiguous()
    weights = (weights if weights.dtype == torch.float32 else weights.float()).contiguous()
    out = buffers.empty(tokens, hidden, dtype=x.dtype, device=x.device)
    top_k = ids.shape[1]
    kind = _WEIGHT_KIND[x.dtype]
    # Byte addresses of row 0; a chunk starts `start` rows further.
    x_at, w_at, ids_at, out_at = (x.data_ptr(), weights.data_ptr(), ids32.data_ptr(),
                                  out.data_ptr())
    row_bytes = hidden * x.element_size()  # x and out alike
    for start in range(0, tokens, FUSED_CHUNK_TOKENS):
        count = min(FUSED_CHUNK_TOKENS, tokens - start)
        floats = count * top_k * (2 * hidden + 3 * inter)  # as `moe_scratch` in the C file
        scratch = _scratch_floats(floats)
        status = lib.tessera_moe(
            x_at + start * row_bytes, kind, w13.data_ptr(), w2.data_ptr(), kind,
            w_at + start * top_k * 4, ids_at + start * top_k * 4, out_at + start * row_bytes,
            count, top_k, experts, hidden, inter, scratch.data_ptr(), floats)
        if status == -2:
            check_ids_range(ids, experts)
        if status == -3:
            raise MemoryError("tessera_moe could not allocate its work lists")
        if status != 0:
            raise RuntimeError(f"tessera_moe rejected its arguments (status {status})")
    return out
