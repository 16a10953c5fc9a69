"""The session's own network namespace: where its commands, its servers and its proxy meet.

A fresh namespace holds only a loopback interface. Every sandboxed command of a session
joins this one (instead of getting an empty one each), so a server started in the
background is reachable from the next command, from the screenshot tool (which connects
here from the host process) and, in allow-list mode, the proxy listens here too. Nothing
in it routes anywhere: the host's interfaces are in another namespace.

The namespace is kept alive by an open file descriptor, not by a process: it goes away
when Tessera closes it (or exits) and the last process inside has ended. Host-side sockets
are made in it from a short-lived thread that enters it (`setns` changes only the calling
thread's namespace, and a socket stays in the namespace it was created in). Making and
entering namespaces needs CAP_SYS_ADMIN: as another user `SessionNetwork.create` raises
`NamespaceUnavailable` and commands keep a namespace of their own each.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import TypeVar

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = "16sH14x"

T = TypeVar("T")


class NamespaceUnavailable(OSError):
    """No network namespace could be made or entered here (not root, no CAP_SYS_ADMIN)."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise NamespaceUnavailable(err, f"{what}: {os.strerror(err)}")


def _in_thread(work: Callable[[], T]) -> T:
    """Run `work` on a thread of its own and return its result (or raise its error): the
    thread may change its namespace, and it ends with the call."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="tessera-netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack(_IFREQ, b"lo", 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(probe, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(probe, SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | IFF_UP))


class SessionNetwork:
    """One network namespace with loopback up, held by `fd` until `close()`."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._libc = _libc()
        self.inode = os.fstat(fd).st_ino

    @classmethod
    def create(cls) -> SessionNetwork:
        """A new namespace. Raises NamespaceUnavailable where this process may not make one."""

        def make() -> int:
            _check(_libc().unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _loopback_up()
            except OSError:
                os.close(fd)
                raise
            return fd

        try:
            return cls(_in_thread(make))
        except NamespaceUnavailable:
            raise
        except OSError as exc:
            raise NamespaceUnavailable(exc.errno or 0, f"network namespace: {exc}") from exc

    @property
    def path(self) -> str:
        """A path that opens this namespace while it is held (for `join_from`)."""
        return f"/proc/{os.getpid()}/fd/{self.fd}"

    def contains(self, pid: int) -> bool:
        """Whether process `pid` lives in this namespace."""
        try:
            return os.stat(f"/proc/{pid}/ns/net").st_ino == self.inode
        except OSError:
            return False

    def _enter(self) -> None:
        _check(self._libc.setns(self.fd, CLONE_NEWNET), "setns(CLONE_NEWNET)")

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection to `host:port` as seen from inside (127.0.0.1 is the session's)."""

        def work() -> socket.socket:
            self._enter()
            return socket.create_connection((host, port), timeout=timeout)

        return _in_thread(work)

    def listen(self, host: str = "127.0.0.1", port: int = 0) -> socket.socket:
        """A listening TCP socket inside the namespace, owned by this (host) process."""

        def work() -> socket.socket:
            self._enter()
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                server.bind((host, port))
                server.listen(64)
            except OSError:
                server.close()
                raise
            return server

        return _in_thread(work)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = -1


def join_step(path: str) -> Callable[[], None]:
    """A child-setup step (run after fork, before exec) that moves the child into the
    namespace at `path`; it raises, and the command does not start, when it cannot."""
    libc = _libc()

    def join() -> None:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(libc.setns(fd, CLONE_NEWNET), "setns(CLONE_NEWNET)")
        finally:
            os.close(fd)

    return join
