"""The UI-check loop and the allow-list proxy, timed.

    python -m bench.ui_loop [--runs N] [--requests N]

1. From "start server" to "screenshot in context": in a fresh session sandbox (network
   off), `bash(background=true)` starts `python3 -m http.server` on a fixture page; the
   clock stops when the `screenshot` tool returns the stored image with its token count
   (what the loop appends to the model's context). The server's start is awaited the way
   a model would, by retrying the screenshot while the port refuses (each refused try is
   a failed tool call, counted). Printed: the median of `--runs` sessions, and its parts.
2. The proxy's added latency per request: one GET of a small page from a host HTTP server
   on loopback, made directly (a new connection each time) beside the same GET through
   the proxy (`GET http://127.0.0.1:PORT/` to the proxy's socket inside the session
   namespace, and a CONNECT tunnel then the GET), interleaved, `--requests` each (50).
   The difference of the medians is the proxy's cost: its request parsing, the policy
   check (an IP literal: no DNS), the upstream connect and the relay.
"""

from __future__ import annotations

import argparse
import http.server
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.timing import interleaved, summary
from tools.background_tools import BashKill
from tools.base import ToolContext
from tools.net_policy import NetworkPolicy
from tools.sandbox.policy import SandboxPolicy
from tools.sandbox.session import SessionSandbox
from tools.screenshot import Screenshot
from tools.shell import Bash

PAGE = ("<!doctype html><title>fixture</title><body style='font-family:sans-serif'>"
        "<h1>Fixture</h1><p>The page the UI loop checks.</p></body>\n")  # fmt: skip
PORT = 8000


def _repo() -> Path:
    repo = Path(tempfile.mkdtemp(prefix="tessera-bench-ui-", dir="/var/tmp"))
    (repo / "site").mkdir()
    (repo / "site" / "index.html").write_text(PAGE)
    return repo


def ui_loop_once(repo: Path) -> dict[str, float]:
    policy = SandboxPolicy(timeout_s=60)
    session = SessionSandbox(repo, policy, NetworkPolicy.from_config("off", []))
    ctx = ToolContext(repo, sandbox=policy, session=session)
    try:
        began = time.perf_counter()
        started = Bash().invoke({"command": f"python3 -m http.server {PORT} --bind 127.0.0.1 "
                                 "--directory site", "background": True}, ctx)  # fmt: skip
        assert started.ok, started.text
        returned = time.perf_counter()
        tries = 0
        while True:
            tries += 1
            shot = Screenshot().invoke({"target": f"http://127.0.0.1:{PORT}/", "width": 800,
                                        "height": 600}, ctx)  # fmt: skip
            if shot.ok and not shot.data.get("failed"):
                break
            if time.perf_counter() - began > 60:
                raise RuntimeError(f"no screenshot after 60 s: {shot.text}")
        done = time.perf_counter()
        assert shot.data["image"]["tokens"] > 0
        BashKill().invoke({"id": started.data["id"]}, ctx)
        return {"total": done - began, "bash_returns": returned - began,
                "screenshots": done - returned, "tries": tries,
                "tokens": shot.data["image"]["tokens"]}  # fmt: skip
    finally:
        session.close()


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok\n" * 100
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _get(sock: socket.socket, target: str) -> None:
    with sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if not data.startswith(b"HTTP/1.") or b" 200 " not in data[:20]:
        raise RuntimeError(f"unexpected answer: {data[:80]!r}")


def proxy_latency(requests: int) -> dict[str, list[float]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    repo = _repo()
    network = NetworkPolicy.from_config("allow-list", [f"127.0.0.1:{port}"])
    session = SessionSandbox(repo, SandboxPolicy(), network)
    assert session.proxy is not None, session.notes
    proxy_port = session.proxy.port

    def direct() -> None:
        _get(socket.create_connection(("127.0.0.1", port), timeout=10), "/")

    def proxied() -> None:
        _get(session.connect("127.0.0.1", proxy_port, 10), f"http://127.0.0.1:{port}/")

    def tunnelled() -> None:
        sock = session.connect("127.0.0.1", proxy_port, 10)
        sock.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        _get(sock, "/")

    # The baseline for the proxied cases: entering the namespace to open the socket costs
    # a thread; time it alone so the figure separates it from the proxy's own work.
    def enter_only() -> None:
        session.connect("127.0.0.1", proxy_port, 10).close()

    try:
        return interleaved({"direct": direct, "proxy (plain HTTP)": proxied,
                            "proxy (CONNECT)": tunnelled,
                            "namespace connect only": enter_only}, requests)  # fmt: skip
    finally:
        session.close()
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()

    repo = _repo()
    loops = [ui_loop_once(repo) for _ in range(args.runs)]
    print(f"UI loop: start server -> screenshot in context, {args.runs} sessions")
    for part in ("total", "bash_returns", "screenshots"):
        print(f"  {part:<14} {summary([loop[part] for loop in loops])}")
    tries = [loop["tries"] for loop in loops]
    print(f"  screenshot tries per loop: {tries}; image tokens: {loops[0]['tokens']:.0f}")

    samples = proxy_latency(args.requests)
    print(f"\nproxy latency per request, {args.requests} each, interleaved")
    for name, values in samples.items():
        print(f"  {name:<24} {summary(values)}")
    direct = statistics.median(samples["direct"]) * 1000
    for name in ("proxy (plain HTTP)", "proxy (CONNECT)"):
        added = statistics.median(samples[name]) * 1000 - direct
        print(f"  added by the {name}: {added:+.2f} ms (median vs direct)")


if __name__ == "__main__":
    main()
