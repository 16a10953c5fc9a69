"""Shared fixtures for the sandbox battery (see docs in /work/shared/reference/sandbox.md).

Every case runs real commands through `run_command` and checks the outcome from the
host side. Repositories, the fake HOME (with fake secrets) and "outside" targets live
under /var/tmp rather than /tmp: the sandbox's /tmp is private, so anything under the
host /tmp would be invisible inside and a secret test there would pass for the wrong
reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.net_policy import NetworkPolicy
from tools.sandbox.netns import NamespaceUnavailable, SessionNetwork
from tools.sandbox.policy import SandboxPolicy
from tools.sandbox.probe import Layer, SandboxLayers, probe_layers
from tools.sandbox.runner import CommandResult, run_command
from tools.sandbox.session import SessionSandbox

PYTHON = sys.executable
SCRATCH_PARENT = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None


def requires_bwrap() -> pytest.MarkDecorator:
    """A missing bwrap skips here and fails in CI, which installs it (tests/support.py); one
    that the kernel refuses (user namespaces off) skips anywhere: no install fixes that."""
    if shutil.which("bwrap") is None:
        return pytest.mark.require_program("bwrap")
    layers = probe_layers()
    return pytest.mark.skipif(
        not layers.bwrap.available, reason=f"needs a usable bubblewrap: {layers.bwrap.detail}"
    )


def requires_session_network() -> list[pytest.MarkDecorator]:
    """bwrap, plus a network namespace this process may make (CAP_SYS_ADMIN: root here and in
    CI). Without the capability nothing installable helps, so that skips anywhere."""
    try:
        SessionNetwork.create().close()
        reason = ""
    except NamespaceUnavailable as exc:
        reason = f"needs a session network namespace: {exc}"
    return [requires_bwrap(), pytest.mark.skipif(bool(reason), reason=reason)]


def without_bwrap() -> SandboxLayers:
    """This machine's layers with bubblewrap taken away: the fallback path."""
    off = Layer(False, "disabled for this test", "apt-get install bubblewrap")
    return dataclasses.replace(probe_layers(), bwrap=off, bwrap_path=None,
                               seccomp_via_bwrap=False)  # fmt: skip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def processes_with(marker: str) -> list[int]:
    """Pids whose command line contains `marker` (our own test process excluded)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry))
    return found


def marker() -> str:
    return f"tessera-marker-{uuid.uuid4().hex[:12]}"


@dataclass
class FakeHome:
    path: Path
    secrets: dict[str, str]  # relative path → the token written in it
    visible_file: Path
    visible_token: str


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tessera-sbx-test-", dir=SCRATCH_PARENT))
    yield path.resolve()
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fake_home(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHome:
    home = scratch / "home"
    secrets = {}
    for relative in (".ssh/id_rsa", ".aws/credentials", ".npmrc", ".netrc", ".config/gh/hosts.yml"):
        token = f"SECRET-{uuid.uuid4().hex}"
        target = home / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"token = {token}\n")
        secrets[relative] = token
    (home / ".bashrc").write_text("# fake bashrc\nexport PS1='$ '\n")
    visible_token = f"VISIBLE-{uuid.uuid4().hex}"
    visible = home / "notes.txt"
    visible.write_text(visible_token + "\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("TESSERA_HOME", str(scratch / "tessera-home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("TESSERA_SANDBOX_MODE", "TESSERA_NETWORK"):
        monkeypatch.delenv(name, raising=False)
    return FakeHome(home, secrets, visible, visible_token)


def git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    )  # fmt: skip


@pytest.fixture
def repo(scratch: Path, fake_home: FakeHome) -> Path:
    path = scratch / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "tracked.txt").write_text("original\n")
    git(path, "add", "tracked.txt")
    git(path, "commit", "-q", "-m", "first commit")
    return path


@pytest.fixture
def outside(scratch: Path) -> Path:
    path = scratch / "outside"
    path.mkdir()
    (path / "outside.txt").write_text("outside content\n")
    return path


@pytest.fixture
def policy() -> SandboxPolicy:
    return SandboxPolicy(
        timeout_s=20, output_limit=4096, max_pids=64, memory_bytes=1024**3, cpu_seconds=20,
        file_size_bytes=64 * 1024**2,
    )  # fmt: skip


# The battery runs in every network mode (docs/sandbox.md): "own" is a lone command's empty
# namespace (no session), "off" and "allow-list" a session's shared namespace (the latter
# with its proxy), "on" the host's network. test_network.py narrows this to the offline ones.
NETWORK_MODES = ("own", "off", "allow-list", "on")


@pytest.fixture(params=NETWORK_MODES)
def network_mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def session_sandbox(repo: Path, policy: SandboxPolicy,
                    network_mode: str) -> Iterator[SessionSandbox | None]:  # fmt: skip
    if network_mode not in ("off", "allow-list"):
        yield None
        return
    listed = ["example.invalid"] if network_mode == "allow-list" else []
    session = SessionSandbox(repo, policy, NetworkPolicy.from_config(network_mode, listed))
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def run(repo: Path, policy: SandboxPolicy, network_mode: str,
        session_sandbox: SessionSandbox | None):  # fmt: skip
    def runner(command: str | list[str], **changes: object) -> CommandResult:
        effective = policy.with_(**changes)
        if network_mode == "on":
            effective = effective.with_(network=True)
        if session_sandbox is not None:
            effective = session_sandbox.command_policy(effective)
        return run_command(command, repo=repo, policy=effective)

    return runner
