"""Build and call the AVX2 kernels in ``cpu_native.c`` (see there for why they exist; FP8
decode with bfloat16 activations uses AVX-512 BF16 where the CPU has it): the
whole routed MoE in native calls (`fused_moe`). It reads vLLM's row-major expert weights in
place: no prepacked copy of the weights, no extra memory beyond a per-thread scratch.

The C file is compiled once with the system ``gcc`` into a cache directory
(``$TESSERA_KERNEL_CACHE``, else ``$XDG_CACHE_HOME/tessera/kernels``), named by a hash of the
source and flags, and loaded with ctypes. It links against the OpenMP runtime torch already
loaded (same ``libgomp.so.1`` soname), so it runs on torch's thread count
(``torch.set_num_threads``). Without gcc or AVX2/FMA, `available()` is False, the reason is
logged once, and the CPU path uses torch only. ``TESSERA_CPU_NATIVE=0`` disables it;
``TESSERA_CPU_BF16_DOT=0`` keeps FP8 on the AVX2 path even where AVX-512 BF16 is there.
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
from kernels.fp8 import FP8_DTYPE, SCALE_BLOCK, ScaleLayout
from kernels.validate import check_ids_range

log = logging.getLogger(__name__)

_SOURCE = Path(__file__).with_name("cpu_native.c")
_HEADERS = [Path(__file__).with_name(name)  # included by the C file
            for name in ("cpu_native_dp.h", "cpu_native_elementwise.h")]
_FLAGS = ["-O3", "-mavx2", "-mfma", "-mf16c", "-fopenmp", "-fPIC", "-shared"]
_WEIGHT_KIND = {torch.float32: 0, torch.bfloat16: 1, torch.float16: 2, FP8_DTYPE: 3}
_ACTIVATION_KIND = {torch.float32: 0, torch.bfloat16: 1, torch.float16: 2}


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


# Set by `disable` (a failed self-check before serving): the torch path serves from then on.
_disabled: dict[str, str] = {}


def disable(reason: str) -> None:
    """Stop using the native kernels in this process (`available()` turns False)."""
    _disabled["reason"] = reason
    _library.cache_clear()


def enable() -> None:
    """Undo `disable` (tests)."""
    _disabled.clear()
    _library.cache_clear()


@cache
def _library() -> ctypes.CDLL | None:
    if "reason" in _disabled:
        log.warning("CPU native kernels disabled (%s); using torch only", _disabled["reason"])
        return None
    if os.environ.get("TESSERA_CPU_NATIVE", "1") == "0":
        log.info("CPU MoE native kernel disabled by TESSERA_CPU_NATIVE=0")
        return None
    if not _cpu_has_avx2():
        log.warning("CPU MoE native kernel needs AVX2/FMA (this CPU: %s); using torch only",
                    torch.backends.cpu.get_cpu_capability())
        return None
    try:
        source = b"".join(path.read_bytes() for path in [_SOURCE, *_HEADERS])
        lib = ctypes.CDLL(str(_build(source)))
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        log.warning("CPU MoE native kernel unavailable (%s); using torch only", exc)
        return None
    ptr, i32, i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_long
    signatures = {
        "tessera_moe": [ptr, i32, ptr, ptr, i32, ptr, ptr, ptr, i32, i32, i32, i32, i32, ptr, i64,
                        ptr, ptr, ptr, ptr, ptr, i32, ptr, i32],
        "tessera_linear": [ptr, i32, ptr, i32, ptr, ptr, ptr, i32, i32, i32, ptr, i64],
        "tessera_stream_read": [ptr, i64],
        "tessera_dp_enable": [i32],
    }
    for name, argtypes in signatures.items():
        fn = getattr(lib, name)
        fn.restype = ctypes.c_long if name == "tessera_stream_read" else ctypes.c_int
        fn.argtypes = argtypes
    if os.environ.get("TESSERA_CPU_BF16_DOT", "1") == "0":  # an escape hatch and an A/B
        lib.tessera_dp_enable(0)
    return lib


def available() -> bool:
    return _library() is not None


def supports(weight: torch.Tensor) -> bool:
    """Whether `fused_moe` takes this ``[E, N, K]`` weight (dtype, layout, K % 8; FP8: whole
    64-byte lines, N % 32 and K % 32)."""
    if weight.dtype == FP8_DTYPE and (weight.shape[-1] % 32 or weight.shape[-2] % 32):
        return False
    return (weight.dtype in _WEIGHT_KIND and weight.device.type == "cpu"
            and weight.is_contiguous() and weight.shape[-1] % 8 == 0 and available())


class WeightScale:
    """An FP8 weight scale as the C kernel reads it (`wscale_t` in cpu_native.c): float32
    values and four longs saying which value scales weight row j, k-block kb of expert e."""

    def __init__(self, scale: torch.Tensor, layout: ScaleLayout, rows: int, k: int) -> None:
        self.values = scale.detach().to(torch.float32).contiguous()
        if layout is ScaleLayout.BLOCK:
            k_blocks = -(-k // SCALE_BLOCK)
            n_blocks = -(-rows // SCALE_BLOCK)
            fields = (n_blocks * k_blocks, SCALE_BLOCK, k_blocks, SCALE_BLOCK)
        elif layout is ScaleLayout.SHARD:
            fields = (2, rows // 2, 1, k)
        elif layout is ScaleLayout.EXPERT:
            fields = (1, 1, 0, k)
        elif layout is ScaleLayout.TENSOR:
            fields = (0, 1, 0, k)
        else:  # per output row (a linear layer's shards expanded): not a MoE layout
            raise ValueError(f"no native scale layout for {layout}")
        self.fields = (ctypes.c_long * 4)(*fields)

    @classmethod
    def per_row(cls, row_scale: torch.Tensor, k: int) -> WeightScale:
        """One scale per output row (``[N]``), for linear layers whose shards differ."""
        scale = cls.__new__(cls)
        scale.values = row_scale.detach().to(torch.float32).contiguous()
        scale.fields = (ctypes.c_long * 4)(0, 1, 1, k)
        return scale

    def pointers(self) -> tuple[int, ctypes.Array]:
        return self.values.data_ptr(), self.fields


def use_bf16_dot(on: bool) -> bool:
    """Let FP8 decode with bfloat16 activations use the AVX-512 BF16 dot products (the
    default where the CPU has them) or keep the AVX2 path. Returns whether they are in use."""
    lib = _library()
    assert lib is not None
    return bool(lib.tessera_dp_enable(1 if on else 0))


def stream_read(buffer: torch.Tensor) -> int:
    """Read a contiguous CPU tensor once on every thread (whole 64-byte lines): the
    memory-bandwidth yardstick of the benchmarks. Returns an OR of its bytes."""
    lib = _library()
    assert lib is not None and buffer.is_contiguous()
    nbytes = buffer.numel() * buffer.element_size() // 64 * 64
    return int(lib.tessera_stream_read(buffer.data_ptr(), nbytes))


def linear(x: torch.Tensor, weight: torch.Tensor, scale: WeightScale | None) -> torch.Tensor:
    """``x @ weight.T`` natively: ``x [rows, K]`` float32/bf16/fp16, ``weight [N, K]`` of the
    same dtype or FP8 E4M3 (widened in registers, never copied) with its `WeightScale`.
    Needs `linear_takes`."""
    lib = _library()
    assert lib is not None
    rows, k = x.shape
    n = weight.shape[0]
    x = x.contiguous()
    out = torch.empty(rows, n, dtype=x.dtype)
    scratch = _scratch_floats(rows * (k + n))
    scale_at, fields = scale.pointers() if scale is not None else (None, None)
    status = lib.tessera_linear(x.data_ptr(), _ACTIVATION_KIND[x.dtype], weight.data_ptr(),
                                _WEIGHT_KIND[weight.dtype], scale_at, fields, out.data_ptr(),
                                rows, n, k, scratch.data_ptr(), scratch.numel())
    if status == -3:
        raise MemoryError("tessera_linear could not allocate its work lists")
    if status != 0:
        raise RuntimeError(f"tessera_linear rejected its arguments (status {status})")
    return out


def linear_takes(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether `linear` runs this call: CPU tensors, 2-D, N % 32 == 0 and K % 32 == 0."""
    return (x.dim() == 2 and x.shape[0] > 0 and x.dtype in _ACTIVATION_KIND and x.is_cpu
            and weight.dim() == 2 and weight.shape[1] == x.shape[1] and weight.is_cpu
            and weight.dtype in (x.dtype, FP8_DTYPE) and weight.is_contiguous()
            and weight.shape[0] % 32 == 0 and weight.shape[1] % 32 == 0 and available())


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
    kind = _ACTIVATION_KIND.get(x.dtype)
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
              ids: torch.Tensor, *, w13_scale: WeightScale | None = None,
              w2_scale: WeightScale | None = None, a13_scale: torch.Tensor | None = None,
              a2_scale: torch.Tensor | None = None) -> torch.Tensor:
    """The whole routed MoE in native calls (grouping, gather, both GEMMs, SiLU·up, routing
    weights and the top-k sum), `FUSED_CHUNK_TOKENS` tokens at a time. Arguments as
    `kernels.moe`, already validated except for the range of ``ids``, which the kernel checks
    (ValueError); ``w13``/``w2`` pass `supports`, ``x`` is float32/bf16/fp16. FP8 weights
    come with their `WeightScale`s and optionally static activation scales (W8A8)."""
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
    kind = _ACTIVATION_KIND[x.dtype]
    w_kind = _WEIGHT_KIND[w13.dtype]
    s13, lay13 = w13_scale.pointers() if w13_scale is not None else (None, None)
    s2, lay2 = w2_scale.pointers() if w2_scale is not None else (None, None)
    a13 = a13_scale.detach().float().contiguous() if a13_scale is not None else None
    a2 = a2_scale.detach().float().contiguous() if a2_scale is not None else None
    # Byte addresses of row 0; a chunk starts `start` rows further.
    x_at, w_at, ids_at, out_at = (x.data_ptr(), weights.data_ptr(), ids32.data_ptr(),
                                  out.data_ptr())
    row_bytes = hidden * x.element_size()  # x and out alike
    for start in range(0, tokens, FUSED_CHUNK_TOKENS):
        count = min(FUSED_CHUNK_TOKENS, tokens - start)
        floats = count * top_k * (2 * hidden + 3 * inter)  # as `moe_scratch` in the C file
        scratch = _scratch_floats(floats)
        status = lib.tessera_moe(
            x_at + start * row_bytes, kind, w13.data_ptr(), w2.data_ptr(), w_kind,
            w_at + start * top_k * 4, ids_at + start * top_k * 4, out_at + start * row_bytes,
            count, top_k, experts, hidden, inter, scratch.data_ptr(), floats,
            s13, lay13, s2, lay2,
            a13.data_ptr() if a13 is not None else None, a13.numel() if a13 is not None else 0,
            a2.data_ptr() if a2 is not None else None, a2.numel() if a2 is not None else 0)
        if status == -2:
            check_ids_range(ids, experts)
        if status == -3:
            raise MemoryError("tessera_moe could not allocate its work lists")
        if status != 0:
            raise RuntimeError(f"tessera_moe rejected its arguments (status {status})")
    return out
