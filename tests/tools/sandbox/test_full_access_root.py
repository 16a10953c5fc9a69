"""full-access as root: what a root command can still do, and that none of it undoes a mask.

full-access keeps Docker's default capabilities less CAP_MKNOD (bwrap.FULL_ACCESS_CAPS), so
`chown`, a privilege drop as `apt-get` does it, and `apt-get` itself work; umount, mount,
unshare, raw disks, `/proc/PID/root` and open_by_handle_at must still find the masks.
Without root there are no capabilities to keep; these cases skip.
"""

from __future__ import annotations

import ctypes
import os
import struct
import subprocess
from pathlib import Path

import pytest

from agent.config import load_config
from tests.tools.sandbox.conftest import PYTHON, requires_bwrap
from tools.sandbox.policy import SandboxMode, SandboxPolicy
from tools.sandbox.runner import run_command

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="capabilities are kept for root only")
pytestmark = [requires_bwrap(), ROOT_ONLY]

# Bits of /proc/PID/status CapEff (linux/capability.h).
CAP_BITS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
            "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
            "CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
            "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
            "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21, "CAP_MKNOD": 27, "CAP_AUDIT_WRITE": 29,
            "CAP_SETFCAP": 31, "CAP_BPF": 39}  # fmt: skip
KEPT = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_SETFCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
        "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE"}  # fmt: skip
# Opens argv[2] (a file handle, hex, of type argv[1]) relative to "/" and prints the file.
OPEN_BY_HANDLE = (
    "import ctypes, os, struct, sys\n"
    "raw = bytes.fromhex(sys.argv[2])\n"
    "handle = ctypes.create_string_buffer(struct.pack('Ii', len(raw), int(sys.argv[1])) + raw)\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "fd = libc.open_by_handle_at(os.open('/', os.O_RDONLY), handle, os.O_RDONLY)\n"
    "print(os.read(fd, 4096).decode() if fd >= 0 else os.strerror(ctypes.get_errno()))\n"
)


def full_access(repo: Path) -> SandboxPolicy:
    return load_config(repo).sandbox_policy().with_(mode=SandboxMode.FULL_ACCESS, timeout_s=60)


def file_handle(path: Path) -> tuple[int, str]:
    """(handle type, handle bytes as hex) of `path`, taken on the host."""
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(struct.pack("Ii", 128, 0) + bytes(128))
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(-100, str(path).encode(), buffer, ctypes.byref(mount_id), 0) != 0:
        pytest.skip(f"no file handles here: {os.strerror(ctypes.get_errno())}")
    size, handle_type = struct.unpack_from("Ii", buffer.raw)
    return handle_type, buffer.raw[8 : 8 + size].hex()


def test_only_the_docker_like_capabilities_are_kept(repo, fake_home) -> None:
    result = run_command("grep CapEff /proc/self/status", repo=repo, policy=full_access(repo))
    effective = int(result.output.split()[-1], 16)
    held = {name for name, bit in CAP_BITS.items() if effective >> bit & 1}
    assert held == KEPT
    assert effective & ~sum(1 << CAP_BITS[name] for name in KEPT) == 0  # nothing unnamed


@pytest.mark.require_program("setpriv")
def test_root_can_chown_and_drop_privileges_as_apt_does(repo, fake_home) -> None:
    command = ("touch owned && chown nobody owned && "
               "setpriv --reuid=65534 --regid=65534 --clear-groups id -u")  # fmt: skip
    result = run_command(command, repo=repo, policy=full_access(repo))
    assert result.exit_code == 0, result.output
    assert result.output.split()[-1] == "65534"
    assert (repo / "owned").stat().st_uid == 65534  # on the host: the host is bound writable


@pytest.mark.require_program("apt-get")
def test_apt_get_runs_as_root_and_drops_to_apt(repo, fake_home, scratch) -> None:
    """`apt-get update` from a local, empty repository: its `file` method runs as `_apt`
    (setgroups, setresuid), which fails without CAP_SETGID/CAP_SETUID. Lists and cache go to
    scratch, not the host's."""
    apt = scratch / "apt"
    for directory in ("repo", "lists/partial", "cache/archives/partial"):
        (apt / directory).mkdir(parents=True)
    (apt / "repo" / "Packages").write_text("")
    (apt / "sources.list").write_text(f"deb [trusted=yes] file:{apt / 'repo'} ./\n")
    scratch.chmod(0o755)  # `_apt` must reach the repository, or apt stays root for it
    options = (f"-o Dir::Etc::SourceList={apt / 'sources.list'} "
               f"-o Dir::Etc::SourceParts={apt / 'none'} -o Dir::State::Lists={apt / 'lists'} "
               f"-o Dir::Cache={apt / 'cache'}")  # fmt: skip
    result = run_command(f"apt-get check && apt-get update {options}", repo=repo,
                         policy=full_access(repo))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "unsandboxed" not in result.output  # the download did run as `_apt`


def test_kept_capabilities_do_not_undo_a_mask(repo, fake_home) -> None:
    aws = fake_home.path / ".aws"
    secret = fake_home.secrets[".aws/credentials"]
    command = (f"umount {aws}; umount -l {aws}; mount -t tmpfs none {aws}; "
               f"mount --bind {repo} {aws}; mount -o remount,rw {aws}; "
               f"unshare -m sh -c 'umount {aws}; cat {aws}/credentials'; "
               f"unshare -Urm sh -c 'umount {aws}; cat {aws}/credentials'; "
               f"cat /proc/1/root{aws}/credentials; "
               f"mknod disk b 8 0 && echo MADE-DISK; "
               f"test -w /proc/sys/kernel/core_pattern && echo SYSCTL-WRITABLE; "
               f"cat {aws}/credentials; ls -A {aws} | sed s/^/entry:/")  # fmt: skip
    result = run_command(command, repo=repo, policy=full_access(repo))
    assert secret not in result.output
    assert "MADE-DISK" not in result.output and not (repo / "disk").exists()
    assert "SYSCTL-WRITABLE" not in result.output
    assert "entry:" not in result.output  # no mount replaced the empty mask
    assert (aws / "credentials").read_text().strip().endswith(secret)  # the host's is intact


def test_open_by_handle_does_not_reach_under_a_mask(repo, fake_home) -> None:
    secret_file = fake_home.path / ".aws" / "credentials"
    handle_type, handle = file_handle(secret_file)
    script = [PYTHON, "-c", OPEN_BY_HANDLE, str(handle_type), handle]
    on_host = subprocess.run(script, capture_output=True, text=True, check=True).stdout
    assert fake_home.secrets[".aws/credentials"] in on_host  # the handle reads it, given the cap
    result = run_command(script, repo=repo, policy=full_access(repo))
    assert fake_home.secrets[".aws/credentials"] not in result.output
    assert "Operation not permitted" in result.output
