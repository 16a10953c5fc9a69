"""Start-up progress read from the engine log: phase, bytes of weights loaded, ETA."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# tqdm's line while vLLM reads the checkpoint: "… shards:  50% Completed | 1/2 [00:03<00:03, …"
_SHARDS = re.compile(
    r"Loading safetensors checkpoint shards:\s+(\d+)% Completed \|\s*(\d+)/(\d+)"
    r"\s*\[([\d:]+)<([\d:?]+)"
)
_PHASES = (
    ("Application startup complete", "serving"),
    ("init engine", "allocating the KV cache"),
    ("KV cache", "allocating the KV cache"),
    ("Loading weights took", "weights loaded"),
    ("Model loading took", "weights loaded"),
    ("Starting to load model", "loading weights"),
)


def checkpoint_bytes(model_dir: Path) -> int:
    return sum(p.stat().st_size for p in Path(model_dir).glob("*.safetensors"))


@dataclass
class StartProgress:
    phase: str = "starting vLLM"
    fraction: float | None = None  # of the weights read, while loading
    eta: str | None = None

    def describe(self, total_bytes: int) -> str:
        if self.fraction is None:
            return self.phase
        loaded = int(total_bytes * self.fraction)
        eta = f", ETA {self.eta}" if self.eta and "?" not in self.eta else ""
        return (f"{self.phase}: {_size(loaded)} of {_size(total_bytes)} "
                f"({self.fraction:.0%}){eta}")


def read_progress(log_text: str) -> StartProgress:
    """The latest state the log shows (the log is tail-read; tqdm lines end in \\r)."""
    progress = StartProgress()
    for line in re.split(r"[\r\n]+", log_text):
        if match := _SHARDS.search(line):
            done, total = int(match.group(2)), int(match.group(3))
            progress = StartProgress("loading weights", done / total if total else None,
                                     match.group(5))
            continue
        for marker, phase in _PHASES:
            if marker in line:
                progress = StartProgress(phase)
                break
    return progress


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
