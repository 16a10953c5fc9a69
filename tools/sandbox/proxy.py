"""The allow-list proxy: how sandboxed commands reach the network in `allow-list` mode.

It runs in Tessera's own process, on the host's network, and listens on a socket inside
the session's network namespace (tools/sandbox/netns.py), the only way out of it. Commands
find it through the usual proxy variables (`proxy_environment`), so pip, npm, git, curl
and urllib need no change. Two request forms:

- `CONNECT host:port` (HTTPS and anything tunnelled): checked, then bytes relayed as is;
- a plain-HTTP request with an absolute URL: checked, sent on with an origin-form target
  and `Connection: close`, the answer relayed back.

Each connection is decided by `NetworkPolicy.check` (tools/net_policy.py): the name (and
port) against the allow-list, then the addresses it resolves to (non-public ones refused
unless listed). The proxy connects to the checked addresses only, never re-resolving.
Every decision, allowed or refused, goes to `on_decision` as a `ProxyDecision`.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tools.net_policy import NetVerdict, NetworkPolicy, Resolver

MAX_HEAD_BYTES = 64 * 1024
HEAD_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
# A tunnel with no traffic either way for this long is closed (a stuck download, a client
# that went away without a FIN).
IDLE_TIMEOUT_S = 300.0
RELAY_CHUNK = 64 * 1024
# Our hop's headers: never forwarded to the server.
PROXY_HEADERS = frozenset({"proxy-connection", "proxy-authorization", "connection", "keep-alive"})


@dataclass(frozen=True)
class ProxyDecision:
    """One connection the proxy allowed or refused."""

    allowed: bool
    method: str  # "CONNECT" or the HTTP method of a plain request
    host: str
    port: int
    reason: str
    address: str | None = None  # what was connected to, when allowed
    entry: str | None = None  # the allow_domains entry that let it through


class ProxyRequestError(ValueError):
    """A request the proxy cannot understand: answered 400."""


@dataclass
class _Request:
    method: str
    host: str
    port: int
    head: bytes  # what to send the server first (plain HTTP); b"" for CONNECT
    rest: bytes  # bytes the client sent after the head


def _read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    deadline = time.monotonic() + HEAD_TIMEOUT_S
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD_BYTES:
            raise ProxyRequestError("request head too large")
        conn.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = conn.recv(RELAY_CHUNK)
        if not chunk:
            raise ProxyRequestError("connection closed before a full request head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def parse_request(head: bytes, rest: bytes) -> _Request:
    """The request's target and what to send on. Raises ProxyRequestError."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ProxyRequestError(f"not an HTTP request line: {lines[0][:100]!r}")
    method, target, version = parts
    if method.upper() == "CONNECT":
        host, sep, port_text = target.rpartition(":")
        if not sep or not port_text.isdigit() or not host:
            raise ProxyRequestError(f"CONNECT needs host:port, got {target[:100]!r}")
        return _Request("CONNECT", host.strip("[]"), int(port_text), b"", rest)
    url = urlsplit(target)
    if url.scheme != "http" or not url.hostname:
        raise ProxyRequestError(
            "a proxied request needs an absolute http:// URL (https goes through CONNECT), "
            f"got {target[:100]!r}"
        )
    try:
        port = url.port or 80
    except ValueError as exc:
        raise ProxyRequestError(f"bad port in {target[:100]!r}") from exc
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    headers = [line for line in lines[1:]
               if line.split(":", 1)[0].strip().lower() not in PROXY_HEADERS]  # fmt: skip
    out = "\r\n".join([f"{method} {path} {version}", *headers, "Connection: close", "", ""])
    return _Request(method, url.hostname, port, out.encode("latin-1"), rest)


def _answer(conn: socket.socket, status: str, body: str) -> None:
    payload = (body + "\n").encode()
    head = (f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n")  # fmt: skip
    with contextlib.suppress(OSError):
        conn.sendall(head.encode() + payload)


def relay(a: socket.socket, b: socket.socket, idle_timeout: float = IDLE_TIMEOUT_S) -> None:
    """Copy bytes both ways until both sides have finished (or nothing moves for long)."""
    selector = selectors.DefaultSelector()
    peers = {a: b, b: a}
    for sock in peers:
        sock.setblocking(True)
        sock.settimeout(None)
        selector.register(sock, selectors.EVENT_READ)
    open_reads = 2
    try:
        while open_reads:
            ready = selector.select(idle_timeout)
            if not ready:
                return
            for key, _ in ready:
                source = key.fileobj
                assert isinstance(source, socket.socket)
                try:
                    chunk = source.recv(RELAY_CHUNK)
                except OSError:
                    chunk = b""
                if chunk:
                    try:
                        peers[source].sendall(chunk)
                    except OSError:
                        return
                    continue
                selector.unregister(source)
                open_reads -= 1
                with contextlib.suppress(OSError):
                    peers[source].shutdown(socket.SHUT_WR)
    finally:
        selector.close()


class NetworkProxy:
    """Serves `listener` (already bound, listening) on threads of its own until `close()`."""

    def __init__(self, policy: NetworkPolicy, listener: socket.socket,
                 on_decision: Callable[[ProxyDecision], None],
                 resolver: Resolver | None = None) -> None:  # fmt: skip
        self.policy = policy
        self.listener = listener
        self.on_decision = on_decision
        self.resolver = resolver
        self.port: int = listener.getsockname()[1]
        self.allowed = 0
        self.refused = 0
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tessera-proxy", daemon=True)

    def start(self) -> NetworkProxy:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._closed.is_set()

    def _serve(self) -> None:
        self.listener.settimeout(0.5)
        while not self._closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _track(self, *socks: socket.socket, add: bool = True) -> None:
        with self._lock:
            for sock in socks:
                (self._connections.add if add else self._connections.discard)(sock)

    def _decide(self, request: _Request) -> NetVerdict:
        verdict = self.policy.check(request.host, request.port, self.resolver)
        with self._lock:
            if verdict.allowed:
                self.allowed += 1
            else:
                self.refused += 1
        return verdict

    def _report(self, request: _Request, verdict: NetVerdict, allowed: bool, reason: str,
                address: str | None = None) -> None:  # fmt: skip
        decision = ProxyDecision(allowed, request.method, verdict.host or request.host,
                                 request.port, reason, address, verdict.entry)  # fmt: skip
        with contextlib.suppress(Exception):  # a consumer's failure must not kill the relay
            self.on_decision(decision)

    def _handle(self, conn: socket.socket) -> None:
        self._track(conn)
        upstream: socket.socket | None = None
        try:
            try:
                request = parse_request(*_read_head(conn))
            except (ProxyRequestError, OSError) as exc:
                _answer(conn, "400 Bad Request", f"tessera proxy: {exc}")
                return
            verdict = self._decide(request)
            if not verdict.allowed:
                self._report(request, verdict, False, verdict.reason)
                _answer(conn, "403 Forbidden", f"tessera proxy refused "
                        f"{request.host}:{request.port}: {verdict.reason}")  # fmt: skip
                return
            upstream, address, error = self._connect(verdict)
            if upstream is None:
                self._report(request, verdict, False, f"connection failed: {error}")
                _answer(conn, "502 Bad Gateway", f"tessera proxy: {request.host}:"
                        f"{request.port} allowed, but the connection failed: {error}")  # fmt: skip
                return
            self._track(upstream)
            self._report(request, verdict, True, verdict.reason, address)
            if request.method == "CONNECT":
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                upstream.sendall(request.head)
            if request.rest:
                upstream.sendall(request.rest)
            relay(conn, upstream)
        except OSError:
            pass
        finally:
            for sock in (conn, upstream):
                if sock is not None:
                    self._track(sock, add=False)
                    with contextlib.suppress(OSError):
                        sock.close()

    def _connect(self, verdict: NetVerdict) -> tuple[socket.socket | None, str | None, str]:
        error = "no address to connect to"
        for address in verdict.addresses:
            try:
                sock = socket.create_connection((address, verdict.port), CONNECT_TIMEOUT_S)
            except OSError as exc:
                error = f"{address}: {exc.strerror or exc}"
                continue
            return sock, address, ""
        return None, None, error

    def close(self) -> None:
        """Stop accepting and cut every open connection."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        with self._lock:
            open_now = list(self._connections)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=2)


def proxy_environment(port: int, bypass: tuple[str, ...]) -> dict[str, str]:
    """The variables that send pip, npm, git, curl and urllib through the proxy.

    `bypass`: loopback names reached directly (the session's own servers live there).
    """
    url = f"http://127.0.0.1:{port}"
    no_proxy = ",".join(bypass)
    env = {}
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        env[name] = env[name.upper()] = url
    env["no_proxy"] = env["NO_PROXY"] = no_proxy
    # npm reads its own names before the generic ones; yarn berry and git need theirs.
    env["npm_config_proxy"] = env["npm_config_https_proxy"] = url
    env["YARN_HTTP_PROXY"] = env["YARN_HTTPS_PROXY"] = url
    return env
