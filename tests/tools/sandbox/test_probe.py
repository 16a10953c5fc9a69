"""The probe: each layer is detected by trying it, and what it says matches what runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.tools.sandbox.conftest import requires_bwrap
from tools.sandbox import probe
from tools.sandbox.policy import SandboxPolicy
from tools.sandbox.probe import FIX_INSTALL_BWRAP, LAYER_NAMES, detect_layers, probe_layers
from tools.sandbox.runner import run_command


def test_probe_is_cached_per_process() -> None:
    assert probe_layers() is probe_layers()


def test_every_layer_has_a_detail_and_unavailable_ones_a_fix() -> None:
    layers = probe_layers()
    for name, layer in layers.as_dict().items():
        assert layer["detail"], name
        if not layer["available"]:
            assert layer["fix"], f"{name} is unavailable but has no fix hint"
    assert set(layers.as_dict()) == set(LAYER_NAMES)


def test_missing_bwrap_is_reported_with_install_hint() -> None:
    layers = detect_layers(bwrap_path="/nonexistent/bwrap")
    assert not layers.bwrap.available
    assert not layers.isolated
    assert layers.bwrap.fix == FIX_INSTALL_BWRAP
    assert "apt-get install bubblewrap" in layers.bwrap.fix
    assert layers.bwrap_path is None


def test_failing_bwrap_is_reported_with_its_message(scratch: Path) -> None:
    fake = scratch / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    layers = detect_layers(bwrap_path=str(fake))
    assert not layers.bwrap.available
    assert "uid map" in layers.bwrap.detail
    assert "user namespaces" in layers.bwrap.fix


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: only root keeps capabilities")
def test_bwrap_that_keeps_capabilities_is_rejected(scratch: Path) -> None:
    # A wrapper that ignores every option and just runs the command, as root: the
    # capabilities it leaves are exactly what makes bwrap-without-cap-drop escapable.
    fake = scratch / "bwrap"
    fake.write_text('#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n')
    fake.chmod(0o755)
    layers = detect_layers(bwrap_path=str(fake))
    assert not layers.bwrap.available
    assert "capabilities survive" in layers.bwrap.detail


@requires_bwrap()
def test_available_bwrap_means_commands_run_isolated(scratch: Path) -> None:
    result = run_command("grep CapEff /proc/self/status; echo $$", repo=scratch,
                         policy=SandboxPolicy(timeout_s=20))  # fmt: skip
    assert result.sandboxed
    assert "bwrap" in result.layers
    assert result.output.split()[1] == "0" * 16
    assert int(result.output.split()[2]) < 10  # a fresh pid namespace


def test_seccomp_layer_matches_what_runs(scratch: Path) -> None:
    layers = probe_layers()
    result = run_command("grep '^Seccomp:' /proc/self/status", repo=scratch,
                         policy=SandboxPolicy(timeout_s=20))  # fmt: skip
    assert ("seccomp" in result.layers) == layers.seccomp.available
    if layers.seccomp.available:
        assert result.output.split() == ["Seccomp:", "2"]


def test_landlock_abi_matches_layer() -> None:
    layers = probe_layers()
    assert layers.landlock.available == (layers.landlock_abi >= 1)


def test_pids_cgroup_layer_matches_what_runs(scratch: Path) -> None:
    layers = probe_layers()

    def ours() -> set[str]:  # (a session earlier in this process may hold one of its own)
        assert layers.cgroup_parent is not None
        return {p.name for p in layers.cgroup_parent.iterdir()
                if p.name.startswith(f"tessera-{os.getpid()}-")}  # fmt: skip

    before = ours() if layers.pids_cgroup.available else set()
    result = run_command("true", repo=scratch, policy=SandboxPolicy(timeout_s=20))
    assert ("pids-cgroup" in result.layers) == layers.pids_cgroup.available
    if layers.pids_cgroup.available:
        assert ours() - before == set()  # the per-command cgroup is removed afterwards


def test_describe_names_every_layer_and_the_verdict() -> None:
    layers = probe_layers()
    lines = layers.describe()
    assert [line.split()[0] for line in lines[: len(LAYER_NAMES)]] == list(LAYER_NAMES)
    if layers.isolated:
        assert "isolated" in lines[-1]
    else:
        assert "SANDBOX OFF" in lines[-1]


def test_describe_says_off_and_gives_fixes_without_bwrap() -> None:
    lines = detect_layers(bwrap_path="/nonexistent/bwrap").describe()
    assert "SANDBOX OFF" in lines[-1]
    assert "fix: apt-get install bubblewrap" in lines[0]


def test_a_crashing_probe_marks_its_layer_unavailable(monkeypatch) -> None:
    def broken() -> None:
        raise RuntimeError("simulated")

    monkeypatch.setattr(probe, "_probe_landlock", broken)
    layers = detect_layers()
    assert not layers.landlock.available
    assert "simulated" in layers.landlock.detail
    assert layers.landlock_abi == 0
