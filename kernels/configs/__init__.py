"""Launch configurations for the Triton MoE kernels, kept as JSON data beside this file.

A file is named ``E={E},H={H},I={I},dtype={tag},device={device}.json`` (device with spaces as
underscores, e.g. ``NVIDIA_H200``; tag ``bf16``, ``fp16``, ``fp32``, ``fp8_w8a8``,
``fp8_w8a16`` or ``fp8_block``) and maps a token count to the tiles for that batch size::

    {"tuned": false, "source": "...", "configs": {"1": {"path": "direct", ...}, ...}}

The entry whose token count is nearest the call's is used (as vLLM does). `kernels.tune`
writes these files on a GPU; when no file matches, `default_config` applies.

The default, by design rather than measurement:
- up to 32 (token, expert) pairs (decode batch ≤ 8 at top-4) take the **direct** path: one
  program per pair and 16 output columns, 256-wide K steps — GEMV-shaped, no sort (16×256
  keeps the gate and up tiles in registers);
- larger batches take the **sorted** path with 16-row blocks up to 64 tokens (each expert
  then sees one or two rows), then 64-row blocks with 128×64 (fp16/bf16) or 128×128 (fp8)
  tiles for prefill.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

CONFIG_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Tile:
    block_m: int
    block_n: int
    block_k: int
    num_warps: int = 4
    num_stages: int = 3


@dataclass(frozen=True)
class LaunchConfig:
    path: str  # "direct" or "sorted"
    gate_up: Tile
    down: Tile

    def to_json(self) -> dict:
        return {"path": self.path, "gate_up": asdict(self.gate_up), "down": asdict(self.down)}

    @classmethod
    def from_json(cls, data: dict) -> LaunchConfig:
        path = data.get("path")
        if path not in ("direct", "sorted"):
            raise ValueError(f"launch config path is {path!r}; expected 'direct' or 'sorted'")
        return cls(path, Tile(**data["gate_up"]), Tile(**data["down"]))


def config_file_name(experts: int, hidden: int, inter: int, dtype_tag: str, device: str) -> str:
    device_tag = device.replace(" ", "_")
    return f"E={experts},H={hidden},I={inter},dtype={dtype_tag},device={device_tag}.json"


def default_config(tokens: int, top_k: int, fp8: bool) -> LaunchConfig:
    if tokens * top_k <= 32:
        gemv = Tile(block_m=1, block_n=16, block_k=256, num_warps=4, num_stages=2)
        return LaunchConfig("direct", gemv, gemv)
    block_k = 128 if fp8 else 64
    if tokens <= 64:
        tile = Tile(block_m=16, block_n=64, block_k=block_k, num_warps=4, num_stages=4)
        return LaunchConfig("sorted", tile, tile)
    tile = Tile(block_m=64, block_n=128, block_k=block_k, num_warps=8, num_stages=3)
    return LaunchConfig("sorted", tile, tile)


_loaded: dict[str, dict[int, LaunchConfig] | None] = {}


def load_configs(name: str) -> dict[int, LaunchConfig] | None:
    """The token-count → config table from file ``name`` in this folder, or None if absent."""
    if name not in _loaded:
        path = CONFIG_DIR / name
        if path.is_file():
            raw = json.loads(path.read_text())
            _loaded[name] = {int(k): LaunchConfig.from_json(v) for k, v in raw["configs"].items()}
        else:
            _loaded[name] = None
    return _loaded[name]


def pick_config(table: dict[int, LaunchConfig], tokens: int) -> LaunchConfig:
    nearest = min(table, key=lambda count: (abs(count - tokens), count))
    return table[nearest]
