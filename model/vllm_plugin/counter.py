"""How many MoE calls our kernels served, readable from outside the engine process.

Each engine process that runs our MoE method writes `moe-calls-<pid>.json` into the
directory named by ``TESSERA_MOE_STATS_DIR`` (when set): a background thread rewrites it at
most twice a second while the count changes, and once more at exit. `read_counts` sums the
files of a directory, so `tessera engine status` and the tests read one figure however many
worker processes vLLM runs. The first call is also logged, so the engine log proves it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tools.atomic import write_atomically

STATS_DIR_ENV = "TESSERA_MOE_STATS_DIR"
_FLUSH_SECONDS = 0.5

# A child of "vllm" so the line lands in the engine log with vLLM's own format and level.
logger = logging.getLogger("vllm.tessera_plugin")


@dataclass(frozen=True)
class MoeServing:
    """What serves an engine process's MoE layers after the self-check before serving."""

    path: str  # in words: "tessera kernels (triton)", "vLLM's built-in fused MoE", ...
    label: str  # the same in a few words, for a status line: "tessera triton", "vLLM built-in"
    self_check: str  # "passed", "failed: REASON", or "not run"

    @property
    def fell_back(self) -> bool:
        return self.self_check.startswith("failed")

    def line(self) -> str:
        return f"{self.path} (self-check {self.self_check})"


@dataclass
class MoeCounts:
    calls: int = 0
    tokens: int = 0
    by_path: dict[str, int] = field(default_factory=dict)  # "bf16/torch", "fp8/triton", ...
    # One entry per distinct answer across processes.
    verdicts: list[MoeServing] = field(default_factory=list)

    @property
    def serving(self) -> list[str]:
        """The verdicts as `tessera engine status` prints them."""
        return [verdict.line() for verdict in self.verdicts]


class MoeCallCounter:
    """Counts calls in this process and mirrors them to a file without slowing the forward."""

    def __init__(self) -> None:
        self.counts = MoeCounts()
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._writer: threading.Thread | None = None
        self.serving: MoeServing | None = None

    def record(self, tokens: int, path: str) -> None:
        with self._lock:
            first = self.counts.calls == 0
            self.counts.calls += 1
            self.counts.tokens += tokens
            self.counts.by_path[path] = self.counts.by_path.get(path, 0) + 1
        if first:
            logger.info("tessera MoE plugin: first MoE call served by tessera kernels (%s)",
                           path)
            self._start_writer()
        self._dirty.set()

    def set_serving(self, serving: MoeServing) -> None:
        """Record which path serves (after the self-check) and write it out at once."""
        with self._lock:
            self.serving = serving
        self.flush()

    def _start_writer(self) -> None:
        if os.environ.get(STATS_DIR_ENV) and self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, daemon=True,
                                            name="tessera-moe-counter")
            self._writer.start()
            atexit.register(self.flush)

    def _write_loop(self) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            self.flush()
            time.sleep(_FLUSH_SECONDS)

    def flush(self) -> None:
        directory = os.environ.get(STATS_DIR_ENV)
        if not directory:
            return
        with self._lock:
            payload = {"pid": os.getpid(), "calls": self.counts.calls,
                       "tokens": self.counts.tokens, "by_path": dict(self.counts.by_path)}
            if self.serving is not None:
                payload["serving"] = self.serving.path
                payload["serving_label"] = self.serving.label
                payload["self_check"] = self.serving.self_check
        target = Path(directory) / f"moe-calls-{os.getpid()}.json"
        try:
            write_atomically(target, json.dumps(payload).encode(), durable=False)
        except OSError as exc:  # a full disk must not take the engine down
            logger.warning("tessera MoE plugin: cannot write %s: %s", target, exc)


COUNTER = MoeCallCounter()


def read_counts(directory: str | Path) -> MoeCounts:
    """The sum over every engine process that wrote into `directory` (zero when none did)."""
    total = MoeCounts()
    for path in sorted(Path(directory).glob("moe-calls-*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a file being replaced this instant; the next read sees it
        total.calls += int(data.get("calls", 0))
        total.tokens += int(data.get("tokens", 0))
        for name, count in data.get("by_path", {}).items():
            total.by_path[name] = total.by_path.get(name, 0) + int(count)
        if "serving" in data:
            path = str(data["serving"])
            verdict = MoeServing(path, str(data.get("serving_label") or path),
                                 str(data.get("self_check", "not run")))
            if verdict not in total.verdicts:
                total.verdicts.append(verdict)
    return total
