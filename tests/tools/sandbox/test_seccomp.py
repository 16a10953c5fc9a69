"""The BPF program itself: well formed for every mode and both architectures."""

from __future__ import annotations

import struct

import pytest

from tools.sandbox.seccomp import (
    AARCH64,
    DENIED_SYSCALLS,
    SECCOMP_RET_ALLOW,
    X86_64,
    Arch,
    build_program,
)

BPF_RET = 0x06
BPF_JMP_CLASS = 0x05


def _decode(program: bytes) -> list[tuple[int, int, int, int]]:
    assert len(program) % 8 == 0
    return [struct.unpack("<HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]


@pytest.mark.parametrize("arch", [X86_64, AARCH64], ids=lambda a: a.name)
@pytest.mark.parametrize("network", [False, True])
@pytest.mark.parametrize("strict", [False, True])
def test_program_is_well_formed(arch: Arch, network: bool, strict: bool) -> None:
    code = _decode(build_program(network=network, strict_unix=strict, arch=arch))
    assert len(code) < 4096  # the kernel's BPF_MAXINSNS
    assert code[-1][0] == BPF_RET
    for index, (op, jt, jf, _) in enumerate(code):
        if op & 0x07 == BPF_JMP_CLASS:  # every jump lands inside the program
            assert index + 1 + max(jt, jf) < len(code)
    # First instructions check the architecture.
    assert code[0][3] == 4 and code[1][3] == arch.audit_arch


@pytest.mark.parametrize("arch", [X86_64, AARCH64], ids=lambda a: a.name)
def test_every_denied_syscall_is_compared(arch: Arch) -> None:
    compared = {k for op, _, _, k in _decode(build_program(network=False, strict_unix=False,
                                                           arch=arch)) if op == 0x15}  # fmt: skip
    for name in DENIED_SYSCALLS:
        assert arch.syscalls[name] in compared, name


def test_network_on_without_strict_does_not_inspect_sockets() -> None:
    on = _decode(build_program(network=True, strict_unix=False, arch=X86_64))
    compared = {k for op, _, _, k in on if op == 0x15}
    assert X86_64.syscalls["socket"] not in compared
    assert (BPF_RET, 0, 0, SECCOMP_RET_ALLOW) in on
