"""Landlock through ctypes: the filesystem layer used when bubblewrap is unavailable.

Landlock is an allow-list of what a process may do beneath given directories. The
ruleset is built in the parent (where errors can be reported); the child only makes
two calls before exec: `prctl(NO_NEW_PRIVS)` and `landlock_restrict_self`.

Landlock cannot take a right away below a directory it granted, so a `hidden` path is
hidden by granting around it: each directory on the way down to it gets listing (and, when
writable, entry-making) rights only, and each of its other entries the full grant. Names
inside a hidden directory can still be listed, never read; a file created after the start
directly in such a directory (say `$HOME`) cannot be opened inside.
"""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

# Syscall numbers are the same on x86_64 and aarch64 (unified table).
SYS_CREATE_RULESET = 444
SYS_ADD_RULE = 445
SYS_RESTRICT_SELF = 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5

NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

READ_ONLY = EXECUTE | READ_FILE | READ_DIR
FILE_ONLY_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
# What a directory on the way to a hidden path keeps: nothing that opens a file's content.
ENTRY_RIGHTS = ~FILE_ONLY_RIGHTS

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def abi_version() -> int:
    """The kernel's Landlock ABI (0 when Landlock is missing or disabled)."""
    result = _libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
    return max(int(result), 0)


def _all_fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def _inside(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def rules_around(root: Path, rights: int, hidden: list[Path]) -> list[tuple[Path, int]]:
    """(path, rights) rules granting `rights` beneath `root`, except beneath `hidden` paths."""
    if any(_inside(root, secret) for secret in hidden):
        return []
    if not any(root in secret.parents for secret in hidden):
        return [(root, rights)]
    rules = [(root, rights & ENTRY_RIGHTS)]
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return rules
    for name in names:
        child = root / name
        # A symlink is reached through its target's own rules; a rule on it would grant
        # the target (possibly a hidden path) under this root's rights.
        if not child.is_symlink():
            rules += rules_around(child, rights, hidden)
    return rules


class LandlockRuleset:
    """An open ruleset fd: read everywhere, write only beneath `writable` paths, and nothing
    at all beneath `hidden` paths (real paths, symlinks resolved) — except that `visible`
    and `writable` roots stay readable inside a hidden path that contains them (the
    repository inside a masked home), with the hidden paths below them still hidden."""

    def __init__(self, *, writable: list[Path], network: bool, abi: int | None = None,
                 hidden: tuple[Path, ...] | list[Path] = (),
                 visible: tuple[Path, ...] | list[Path] = ()) -> None:  # fmt: skip
        self.abi = abi_version() if abi is None else abi
        if self.abi < 1:
            raise OSError("Landlock is not available in this kernel")
        handled_fs = _all_fs_rights(self.abi)
        handled_net = NET_BIND_TCP | NET_CONNECT_TCP if self.abi >= 4 and not network else 0
        scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if self.abi >= 6 else 0
        attr = struct.pack("<QQQ", handled_fs, handled_net, scoped)
        size = 8 if self.abi < 4 else (16 if self.abi < 6 else 24)
        buffer = ctypes.create_string_buffer(attr[:size], size)
        fd = _libc.syscall(SYS_CREATE_RULESET, buffer, ctypes.c_size_t(size), 0)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
        self.fd = int(fd)
        self.scoped = bool(scoped)
        try:
            roots = [(Path("/"), READ_ONLY & handled_fs)]
            roots += [(Path(os.path.realpath(path)), READ_ONLY & handled_fs) for path in visible]
            roots += [(Path(os.path.realpath(path)), handled_fs) for path in writable]
            rules = []
            for root, rights in roots:
                below = [secret for secret in hidden if not _inside(root, secret)]
                rules += rules_around(root, rights, below)
            for path, rights in rules:
                self._allow(path, rights)
            for device in ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty"):
                self._allow(Path(device), (READ_FILE | WRITE_FILE | TRUNCATE) & handled_fs)
        except Exception:
            self.close()
            raise

    def _allow(self, path: Path, rights: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            if not os.path.isdir(path):
                rights &= FILE_ONLY_RIGHTS
            if not rights:
                return
            attr = ctypes.create_string_buffer(struct.pack("<Qi", rights, fd), 12)
            if _libc.syscall(SYS_ADD_RULE, self.fd, RULE_PATH_BENEATH, attr, 0) != 0:
                raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
        finally:
            os.close(fd)

    def restrict_self(self) -> None:
        """Apply to the calling process (meant for a `preexec_fn`). Raises OSError."""
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if _libc.syscall(SYS_RESTRICT_SELF, self.fd, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
