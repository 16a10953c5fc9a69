"""Battery, processes: timeouts, leftovers, fork bombs, output floods and resource limits."""

from __future__ import annotations

import resource
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.tools.sandbox.conftest import PYTHON, marker, processes_with, requires_bwrap
from tools.sandbox.probe import probe_layers

pytestmark = requires_bwrap()


def _requires_process_cap() -> pytest.MarkDecorator:
    layers = probe_layers()
    return pytest.mark.skipif(
        layers.is_root and not layers.pids_cgroup.available,
        reason=f"as root only a pids cgroup caps processes: {layers.pids_cgroup.detail}",
    )


def _wait_gone(tag: str, within_s: float = 3.0) -> list[int]:
    deadline = time.monotonic() + within_s
    while (left := processes_with(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_sleep_past_timeout_returns_at_the_timeout(run) -> None:
    tag = marker()
    started = time.monotonic()
    result = run(f"sleep 100 # {tag}", timeout_s=1)
    elapsed = time.monotonic() - started
    assert result.timed_out
    assert result.exit_code is None
    assert result.killed_reason and "timeout" in result.killed_reason
    assert 0.9 <= elapsed < 4
    assert _wait_gone(tag) == []


def test_loop_ignoring_sigterm_is_killed(run) -> None:
    tag = marker()
    result = run(f"trap '' TERM; while true; do sleep 0.05; done # {tag}", timeout_s=1)
    assert result.timed_out
    assert _wait_gone(tag) == []


def test_daemons_leave_nothing_behind_and_do_not_block(run) -> None:
    tag = marker()
    started = time.monotonic()
    result = run(
        f"setsid sleep 300 {tag} & nohup sleep 301 {tag} > /dev/null 2>&1 & "
        f"(sleep 302 {tag} &) ; echo started"
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 0
    assert "started" in result.output
    assert elapsed < 3
    assert _wait_gone(tag) == []


@_requires_process_cap()
def test_process_count_is_capped(run) -> None:
    # A bounded spawner first: it would stop at 200 even if nothing capped it.
    code = (
        "import subprocess\n"
        "children = []\n"
        "try:\n"
        "    for _ in range(200):\n"
        "        children.append(subprocess.Popen(['sleep', '30']))\n"
        "except OSError:\n"
        "    pass\n"
        "print(len(children))\n"
        "for c in children: c.kill()\n"
    )
    result = run([PYTHON, "-c", code], max_pids=32)
    assert result.exit_code == 0, result.output
    assert int(result.output.split()[-1]) < 32


@_requires_process_cap()
def test_fork_bomb_is_contained_and_host_can_fork(run) -> None:
    tag = marker()
    host_forks: list[int] = []

    def fork_from_host() -> None:
        time.sleep(0.5)  # while the bomb runs
        host_forks.append(subprocess.run(["true"], timeout=10).returncode)

    checker = threading.Thread(target=fork_from_host)
    checker.start()
    started = time.monotonic()
    # The top-level shell sleeps so the bomb runs until the timeout.
    result = run(f"bomb() {{ bomb | bomb & }}; bomb; sleep 30 # {tag}", timeout_s=2, max_pids=32)
    elapsed = time.monotonic() - started
    checker.join()
    assert host_forks == [0]
    assert elapsed < 8
    assert result.timed_out
    assert "Resource temporarily unavailable" in result.output  # the cap is what stopped it
    assert _wait_gone(tag) == []


def test_yes_is_cut_at_the_output_cap_and_killed(run) -> None:
    tag = marker()
    started = time.monotonic()
    result = run(["yes", tag], output_limit=4096)
    assert result.killed_reason and result.killed_reason.startswith("output cap")
    assert result.truncated
    assert result.exit_code is None
    assert len(result.output) < 4096 + 300
    assert time.monotonic() - started < 10
    assert _wait_gone(tag) == []


def test_hundred_megabyte_line_is_truncated(run) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = run("head -c 100000000 /dev/zero | tr '\\0' a", output_limit=4096)
    assert result.truncated
    assert len(result.output) < 4096 + 300
    assert result.output.startswith("aaaa") and result.output.endswith("aaaa")
    assert "bytes omitted" in result.output
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kib < 64 * 1024  # never held the line in memory


def test_huge_allocation_fails_cleanly(run) -> None:
    result = run([PYTHON, "-c", "bytearray(8 * 1024**3)"], memory_bytes=512 * 1024**2)
    assert result.exit_code == 1
    assert "MemoryError" in result.output
    assert not result.timed_out


def test_cpu_spin_past_its_cpu_limit_is_killed(run) -> None:
    started = time.monotonic()
    result = run("while :; do :; done", cpu_seconds=1, timeout_s=30)
    assert not result.timed_out
    assert result.exit_code == 128 + signal.SIGXCPU
    assert result.killed_reason and "CPU" in result.killed_reason
    assert time.monotonic() - started < 20


def test_file_past_the_size_cap_is_stopped(run, repo: Path) -> None:
    result = run("head -c 5000000 /dev/zero > big.bin", file_size_bytes=1024**2)
    assert result.exit_code == 128 + signal.SIGXFSZ
    assert result.killed_reason and "file size" in result.killed_reason
    assert (repo / "big.bin").stat().st_size <= 1024**2


def test_stdin_is_empty(run) -> None:
    started = time.monotonic()
    result = run("cat; read line || echo eof")
    assert result.output == "eof\n"
    assert time.monotonic() - started < 5


def test_exit_code_and_interleaved_output(run) -> None:
    result = run("echo out; echo err >&2; echo out2; exit 7")
    assert result.exit_code == 7
    assert result.output == "out\nerr\nout2\n"
    assert not result.truncated and result.killed_reason is None


def test_sigpipe_is_default_inside(run) -> None:
    started = time.monotonic()
    result = run("yes | head -n 2")
    assert result.output == "y\ny\n"
    assert result.exit_code == 0
    assert time.monotonic() - started < 5


def test_command_that_closes_its_output_is_still_waited_for(run) -> None:
    started = time.monotonic()
    result = run("echo before; exec >&- 2>&-; sleep 1; exit 5")
    assert result.exit_code == 5
    assert result.output == "before\n"
    assert time.monotonic() - started >= 0.9


def test_concurrent_commands_do_not_mix(run) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: run(f"echo job-{i}; exit {i}"), range(6)))
    for i, result in enumerate(results):
        assert result.output == f"job-{i}\n"
        assert result.exit_code == i
