"""A classic-BPF seccomp program, assembled in pure Python (no libseccomp).

The filter is a deny-list on top of the namespaces bubblewrap sets up: it closes the
kernel surface that namespaces and dropped capabilities leave open (new namespaces,
io_uring, keyrings, ptrace, eBPF, new mount API) and, with the network off, every socket
family but AF_UNIX. `clone3` answers ENOSYS rather than EPERM because glibc then falls
back to `clone`, whose flags a classic filter *can* inspect (clone3 passes them in
memory), so threads keep working while namespace flags stay denied.

`build_program()` returns raw `struct sock_filter` bytes: what `bwrap --seccomp FD`
reads, and what `install_in_this_process()` hands to prctl when bwrap is absent.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct
from dataclasses import dataclass

# --- BPF and seccomp constants (linux/filter.h, linux/seccomp.h, linux/audit.h) ---------------
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_JSET_K = 0x45
BPF_RET_K = 0x06

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
OFFSET_NR = 0
OFFSET_ARCH = 4


def _arg_low(index: int) -> int:
    # Both supported arches are little-endian: the low 32 bits of args[i] come first. The
    # arguments we inspect are C ints (socket domain, clone flags' namespace bits), so the
    # kernel only ever looks at those 32 bits.
    return 16 + 8 * index


AF_UNIX = 1
CLONE_NAMESPACE_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
)

# Syscalls denied outright (EPERM). Names are the kernel's.
DENIED_SYSCALLS: tuple[str, ...] = (
    "mount", "umount2", "pivot_root", "unshare", "setns",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "ptrace", "process_vm_readv", "process_vm_writev",
    "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "bpf", "perf_event_open", "userfaultfd",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "open_by_handle_at",
)  # fmt: skip


@dataclass(frozen=True)
class Arch:
    name: str
    audit_arch: int
    syscalls: dict[str, int]
    has_x32: bool = False


_COMMON_NEW = {  # numbered alike on every arch since 4.x's unified table
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "clone3": 435, "mount_setattr": 442,
}  # fmt: skip

X86_64 = Arch(
    "x86_64",
    AUDIT_ARCH_X86_64,
    {
        "socket": 41, "socketpair": 53, "clone": 56, "ptrace": 101, "pivot_root": 155,
        "mount": 165, "umount2": 166, "init_module": 175, "delete_module": 176,
        "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250,
        "unshare": 272, "perf_event_open": 298, "open_by_handle_at": 304, "setns": 308,
        "process_vm_readv": 310, "process_vm_writev": 311, "finit_module": 313,
        "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, **_COMMON_NEW,
    },
    has_x32=True,
)

AARCH64 = Arch(
    "aarch64",
    AUDIT_ARCH_AARCH64,
    {
        "umount2": 39, "mount": 40, "pivot_root": 41, "unshare": 97, "kexec_load": 104,
        "init_module": 105, "delete_module": 106, "ptrace": 117, "socket": 198,
        "socketpair": 199, "add_key": 217, "request_key": 218, "keyctl": 219, "clone": 220,
        "perf_event_open": 241, "open_by_handle_at": 265, "setns": 268,
        "process_vm_readv": 270, "process_vm_writev": 271, "finit_module": 273, "bpf": 280,
        "userfaultfd": 282, "kexec_file_load": 294, **_COMMON_NEW,
    },
)

ARCHES = {"x86_64": X86_64, "amd64": X86_64, "aarch64": AARCH64, "arm64": AARCH64}


class SeccompUnsupported(Exception):
    """No filter for this CPU architecture."""


def native_arch() -> Arch:
    machine = platform.machine().lower()
    if machine not in ARCHES:
        raise SeccompUnsupported(f"no seccomp filter for architecture {machine!r}")
    return ARCHES[machine]


class _Assembler:
    """Straight-line BPF with forward jumps to named labels, resolved at the end."""

    def __init__(self) -> None:
        self.code: list[tuple[int, int | str, int | str, int]] = []
        self.labels: dict[str, int] = {}

    def load(self, offset: int) -> None:
        self.code.append((BPF_LD_W_ABS, 0, 0, offset))

    def jump(self, op: int, value: int, if_true: int | str = 0, if_false: int | str = 0) -> None:
        self.code.append((op, if_true, if_false, value))

    def ret(self, action: int) -> None:
        self.code.append((BPF_RET_K, 0, 0, action))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = bytearray()
        for index, (code, jt, jf, k) in enumerate(self.code):
            out += struct.pack("<HBBI", code, self._offset(index, jt), self._offset(index, jf), k)
        return bytes(out)

    def _offset(self, index: int, target: int | str) -> int:
        if isinstance(target, int):
            return target
        distance = self.labels[target] - index - 1
        if not 0 <= distance <= 255:
            raise ValueError(f"jump to {target} out of range ({distance})")
        return distance


def _errno(code: int) -> int:
    return SECCOMP_RET_ERRNO | code


def build_program(*, network: bool, strict_unix: bool, arch: Arch | None = None) -> bytes:
    """The filter as packed `struct sock_filter` entries (8 bytes each)."""
    arch = arch or native_arch()
    nr = arch.syscalls
    asm = _Assembler()

    # A syscall made under another ABI (i386 via int 0x80 on x86_64) would be checked
    # against the wrong numbers: kill instead of guessing.
    asm.load(OFFSET_ARCH)
    asm.jump(BPF_JEQ_K, arch.audit_arch, if_true=1)
    asm.ret(SECCOMP_RET_KILL_PROCESS)
    asm.load(OFFSET_NR)
    if arch.has_x32:
        asm.jump(BPF_JGE_K, X32_SYSCALL_BIT, if_true="eperm")

    for name in DENIED_SYSCALLS:
        asm.jump(BPF_JEQ_K, nr[name], if_true="eperm")
    asm.jump(BPF_JEQ_K, nr["clone3"], if_true="enosys")
    asm.jump(BPF_JEQ_K, nr["clone"], if_true="clone")
    if not network or strict_unix:
        asm.jump(BPF_JEQ_K, nr["socket"], if_true="socket")
    if not network:
        asm.jump(BPF_JEQ_K, nr["socketpair"], if_true="socketpair")
    asm.ret(SECCOMP_RET_ALLOW)

    asm.label("clone")
    asm.load(_arg_low(0))
    asm.jump(BPF_JSET_K, CLONE_NAMESPACE_FLAGS, if_true="eperm")
    asm.ret(SECCOMP_RET_ALLOW)

    if not network or strict_unix:
        asm.label("socket")
        asm.load(_arg_low(0))
        if network:  # strict mode with the network on: only AF_UNIX is refused
            asm.jump(BPF_JEQ_K, AF_UNIX, if_true="eperm")
            asm.ret(SECCOMP_RET_ALLOW)
        elif strict_unix:
            asm.ret(_errno(errno.EPERM))
        else:
            asm.jump(BPF_JEQ_K, AF_UNIX, if_true="allow")
            asm.ret(_errno(errno.EPERM))
    if not network:
        # socketpair only ever connects the caller to itself: AF_UNIX stays allowed even in
        # strict mode; other families are refused like socket().
        asm.label("socketpair")
        asm.load(_arg_low(0))
        asm.jump(BPF_JEQ_K, AF_UNIX, if_true="allow")
        asm.ret(_errno(errno.EPERM))

    asm.label("allow")
    asm.ret(SECCOMP_RET_ALLOW)
    asm.label("eperm")
    asm.ret(_errno(errno.EPERM))
    asm.label("enosys")
    asm.ret(_errno(errno.ENOSYS))
    return asm.assemble()


# --- installing the filter without bwrap (fallback path) ---------------------------------------
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class PreparedFilter:
    """A filter laid out in memory before fork, so the child only makes one prctl call."""

    def __init__(self, program: bytes) -> None:
        self._buffer = ctypes.create_string_buffer(program, len(program))
        self._fprog = _SockFprog(len(program) // 8, ctypes.addressof(self._buffer))
        self._libc = ctypes.CDLL(None, use_errno=True)

    def install(self) -> None:
        """Apply to the calling process (meant for a `preexec_fn`). Raises OSError."""
        if self._libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if self._libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self._fprog)) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
