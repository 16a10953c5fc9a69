"""`tessera serve`'s supervisor (model/engine/supervisor.py) over a stand-in engine whose
tree has a worker in its group and a process that left it; the real engine is stopped the
same way in test_serve_live.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model.engine.supervisor import KILLED_AFTER_GRACE, process_alive

FAKE = Path(__file__).with_name("fake_engine.py")
ROOT = Path(__file__).resolve().parents[3]


def supervise(tmp_path: Path, mode: str, grace: float = 5.0) -> tuple[subprocess.Popen, list[int]]:
    """Tessera's side in a process of its own (it installs signal handlers and becomes a
    subreaper); returns it and the engine's pids once they all run."""
    pids = tmp_path / "pids"
    code = ("import os, sys; from model.engine.supervisor import Supervisor; "
            f"outcome = Supervisor({[sys.executable, str(FAKE), str(pids), mode]!r}, "
            f"dict(os.environ), grace={grace}, say=print).run(); "
            "print(outcome.reason, flush=True); sys.exit(outcome.status)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not (pids.exists() and len(pids.read_text().split()) == 3):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read()
        time.sleep(0.05)
    return proc, [int(p) for p in pids.read_text().split()]


def wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while any(process_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if process_alive(pid)]


def cleanup(pids: list[int]) -> None:
    for pid in pids:
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_whole_tree_and_exits_0(tmp_path: Path, signum: int) -> None:
    proc, pids = supervise(tmp_path, "obey")
    try:
        stray_session = os.getsid(pids[2])
        assert stray_session != os.getsid(pids[0]) == pids[0]  # the engine has its own session
        proc.send_signal(signum)
        assert proc.wait(timeout=10) == 0, proc.stdout.read()
        assert wait_gone(pids, 1) == []
        assert f"{signal.Signals(signum).name}: the engine stopped" in proc.stdout.read()
    finally:
        cleanup(pids)


def test_processes_that_ignore_the_signal_are_killed_after_the_grace_period(
        tmp_path: Path) -> None:
    proc, pids = supervise(tmp_path, "ignore", grace=1.0)
    try:
        begun = time.monotonic()
        proc.terminate()
        assert proc.wait(timeout=10) == KILLED_AFTER_GRACE
        waited = time.monotonic() - begun
        assert 1.0 <= waited < 5.0, waited
        assert wait_gone(pids, 1) == []
        assert "did not stop within 1 s" in proc.stdout.read()
    finally:
        cleanup(pids)


def test_an_engine_that_crashes_ends_serve_non_zero_and_its_orphans_with_it(
        tmp_path: Path) -> None:
    proc, pids = supervise(tmp_path, "crash")
    try:
        assert proc.wait(timeout=15) == 3  # the engine's own exit code
        assert wait_gone(pids, 1) == []  # its worker and the stray did not outlive it
        assert "exited with code 3 by itself" in proc.stdout.read()
    finally:
        cleanup(pids)


def test_an_engine_killed_by_a_signal_exits_128_plus_it(tmp_path: Path) -> None:
    proc, pids = supervise(tmp_path, "obey")
    try:
        os.kill(pids[0], signal.SIGKILL)
        assert proc.wait(timeout=15) == 128 + signal.SIGKILL
        assert wait_gone(pids, 1) == []
    finally:
        cleanup(pids)


def test_a_killed_supervisor_takes_the_engines_main_process_with_it(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: the kernel sends the engine SIGTERM when tessera dies by SIGKILL.
    The kernel gives that setting to the engine's main process only, not to its children."""
    proc, pids = supervise(tmp_path, "obey")
    try:
        proc.kill()
        proc.wait(timeout=5)
        assert wait_gone(pids[:1], 5) == []
        assert all(process_alive(pid) for pid in pids[1:])  # what a real engine must stop itself
    finally:
        cleanup(pids)
