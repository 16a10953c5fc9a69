"""Without bubblewrap: Landlock, seccomp and limits still apply, and the result says so."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.tools.sandbox.conftest import PYTHON, marker, processes_with, without_bwrap
from tools.sandbox.policy import SandboxMode, SandboxPolicy
from tools.sandbox.probe import Layer, SandboxLayers, probe_layers
from tools.sandbox.runner import run_command


def _nothing() -> SandboxLayers:
    off = Layer(False, "disabled for this test", "a fix")
    return SandboxLayers(bwrap=off, seccomp=off, landlock=off, pids_cgroup=off, userns=off,
                         is_root=probe_layers().is_root)  # fmt: skip


requires_landlock = pytest.mark.skipif(
    not probe_layers().landlock.available,
    reason=f"needs Landlock: {probe_layers().landlock.detail}",
)
requires_seccomp = pytest.mark.skipif(
    not probe_layers().seccomp.available, reason=f"needs seccomp: {probe_layers().seccomp.detail}"
)


def _run(command, repo: Path, layers: SandboxLayers, **changes: object):
    policy = SandboxPolicy(timeout_s=20, output_limit=4096).with_(**changes)
    return run_command(command, repo=repo, policy=policy, layers=layers)


def test_fallback_is_reported_as_not_sandboxed(repo: Path) -> None:
    result = _run("echo hi", repo, without_bwrap())
    assert result.output == "hi\n"
    assert result.sandboxed is False
    assert "bwrap" not in result.layers
    assert any("sandbox OFF" in note and "apt-get install bubblewrap" in note
               for note in result.notes)  # fmt: skip


@requires_landlock
def test_landlock_confines_writes_to_repo_and_private_tmp(repo: Path, outside: Path) -> None:
    result = _run(
        f'echo in > inside.txt && echo t > "$TMPDIR/t" && echo ok; echo x > {outside}/created',
        repo, without_bwrap(),
    )  # fmt: skip
    assert "landlock" in result.layers
    assert "ok" in result.output
    assert (repo / "inside.txt").read_text() == "in\n"
    assert not (outside / "created").exists()


@requires_landlock
def test_landlock_read_only_mode(repo: Path) -> None:
    result = _run("echo x > new.txt", repo, without_bwrap(), mode=SandboxMode.READ_ONLY)
    assert result.exit_code != 0
    assert not (repo / "new.txt").exists()


@requires_landlock
def test_fallback_claims_no_git_protection(repo: Path) -> None:
    # Landlock cannot re-protect .git under a writable repo: the layer list must not
    # claim git-readonly on this path (secrets it does hide: see test_masks.py).
    result = _run("true", repo, without_bwrap())
    assert "git-readonly" not in result.layers
    assert "secret-masks" in result.layers


@requires_seccomp
def test_seccomp_still_turns_the_network_off(repo: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
        result = _run([PYTHON, "-c", code], repo, without_bwrap())
        assert result.exit_code != 0
        assert "Operation not permitted" in result.output
        assert "network-off" in result.layers
    finally:
        listener.close()


def test_environment_is_still_rebuilt(repo: Path, monkeypatch) -> None:
    monkeypatch.setenv("TESSERA_TEST_SECRET", "leaked-value")
    result = _run("env", repo, _nothing())
    assert "leaked-value" not in result.output
    assert result.sandboxed is False
    assert result.layers == ["clearenv", "rlimits", "timeout", "output-cap"]
    assert any("sandbox OFF" in note for note in result.notes)


@pytest.mark.skipif(
    not probe_layers().pids_cgroup.available, reason="needs a pids cgroup to catch setsid daemons"
)
def test_daemons_are_cleared_by_the_cgroup_without_a_pid_namespace(repo: Path) -> None:
    tag = marker()
    started = time.monotonic()
    result = _run(f"setsid sleep 300 {tag} & echo started", repo, without_bwrap())
    assert "started" in result.output
    assert time.monotonic() - started < 3
    time.sleep(0.2)
    assert processes_with(tag) == []


def test_full_access_mode_keeps_timeout_and_output_cap(repo: Path) -> None:
    started = time.monotonic()
    timed = _run("sleep 30", repo, probe_layers(), mode=SandboxMode.FULL_ACCESS, timeout_s=1)
    assert timed.timed_out and time.monotonic() - started < 4
    assert timed.sandboxed is False
    assert any("full-access" in note for note in timed.notes)
    flood = _run(["yes"], repo, probe_layers(), mode=SandboxMode.FULL_ACCESS)
    assert flood.truncated and flood.killed_reason and "output cap" in flood.killed_reason


def test_full_access_mode_without_pid_namespace_still_returns_with_daemon(repo: Path) -> None:
    # Without bwrap or a cgroup a setsid daemon survives, but it must not block the call.
    tag = marker()
    started = time.monotonic()
    result = _run(f"setsid sleep 30 {tag} & echo started", repo, _nothing(),
                  mode=SandboxMode.FULL_ACCESS)  # fmt: skip
    try:
        assert result.exit_code == 0 and "started" in result.output
        assert time.monotonic() - started < 3
    finally:
        for pid in processes_with(tag):
            os.kill(pid, signal.SIGKILL)
