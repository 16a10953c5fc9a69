"""Battery, network: off by default, abstract sockets unreachable, strict mode for AF_UNIX."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tools.sandbox.conftest import PYTHON, requires_bwrap

pytestmark = requires_bwrap()


@pytest.fixture(params=["own", "off", "allow-list"])
def network_mode(request: pytest.FixtureRequest) -> str:
    """The modes that keep commands off the host's network (a session's namespace included:
    it may open IP sockets, but they reach only its own loopback)."""
    return request.param


class Listener:
    """A host-side server socket that records every connection it accepts."""

    def __init__(self, family: int, address: object) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> int:
        self.stopped.set()
        self.thread.join(timeout=2)
        self.sock.close()
        return self.connections


@pytest.fixture
def tcp_listener() -> Iterator[Listener]:
    listener = Listener(socket.AF_INET, ("127.0.0.1", 0))
    yield listener
    listener.close()


def _py(code: str) -> list[str]:
    return [PYTHON, "-c", code]


def test_tcp_to_loopback_listener_fails(run, tcp_listener: Listener) -> None:
    port = tcp_listener.sock.getsockname()[1]
    result = run(_py(f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"))
    assert result.exit_code != 0
    assert tcp_listener.close() == 0


@pytest.mark.require_program("curl")
def test_curl_to_loopback_listener_fails(run, tcp_listener: Listener) -> None:
    port = tcp_listener.sock.getsockname()[1]
    result = run(["curl", "-sS", "--max-time", "3", f"http://127.0.0.1:{port}/"])
    assert result.exit_code != 0
    assert tcp_listener.close() == 0


def test_dev_tcp_fails(run, tcp_listener: Listener) -> None:
    port = tcp_listener.sock.getsockname()[1]
    result = run(f"echo hello > /dev/tcp/127.0.0.1/{port}")
    assert result.exit_code != 0
    assert tcp_listener.close() == 0


def test_udp_send_fails(run, network_mode: str) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.5)
    port = receiver.getsockname()[1]
    try:
        code = (
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            f"s.sendto(b'leak', ('127.0.0.1', {port}))"
        )
        result = run(_py(code))
        if network_mode == "own":  # seccomp refuses the socket itself
            assert result.exit_code != 0
        with pytest.raises(TimeoutError):
            receiver.recvfrom(64)
    finally:
        receiver.close()


def test_abstract_unix_socket_fails(run) -> None:
    name = f"\0tessera-test-{uuid.uuid4().hex}"
    listener = Listener(socket.AF_UNIX, name)
    code = (
        "import socket; s = socket.socket(socket.AF_UNIX); "
        f"s.connect({name!r})"
    )
    result = run(_py(code))
    assert result.exit_code != 0
    assert listener.close() == 0


def test_pathname_unix_socket_blocked_in_strict_mode(run, scratch: Path) -> None:
    path = scratch / "host.sock"
    listener = Listener(socket.AF_UNIX, str(path))
    code = f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({str(path)!r})"
    try:
        strict = run(_py(code), strict_unix=True)
        assert strict.exit_code != 0
        assert "Operation not permitted" in strict.output
        assert listener.connections == 0
        # Without strict mode a host pathname socket is reachable: the documented gap
        # that strict mode exists to close.
        loose = run(_py(code))
        assert loose.exit_code == 0, loose.output
    finally:
        listener.close()


def test_unix_socketpair_still_works_in_strict_mode(run) -> None:
    code = "import socket; a, b = socket.socketpair(); a.send(b'ok'); print(b.recv(2).decode())"
    result = run(_py(code), strict_unix=True)
    assert result.output.strip() == "ok"


def test_network_on_reaches_the_loopback_listener(run, tcp_listener: Listener) -> None:
    port = tcp_listener.sock.getsockname()[1]
    code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5).close()"
    result = run(_py(code), network=True)
    assert result.exit_code == 0, result.output
    assert "network-off" not in result.layers


def test_network_on_with_strict_unix_denies_only_unix(run, tcp_listener: Listener) -> None:
    port = tcp_listener.sock.getsockname()[1]
    code = (
        "import socket\n"
        f"socket.create_connection(('127.0.0.1', {port}), timeout=5).close()\n"
        "try:\n    socket.socket(socket.AF_UNIX)\n"
        "except PermissionError:\n    print('unix denied')\n"
    )
    result = run(_py(code), network=True, strict_unix=True)
    assert result.exit_code == 0, result.output
    assert "unix denied" in result.output
