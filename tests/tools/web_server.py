"""A real HTTP server on loopback, in a thread, with the pages web_fetch's tests need."""

from __future__ import annotations

import gzip
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PAGE = b"""<!doctype html>
<html><head><title>Widget docs</title><meta charset="utf-8">
<style>body { color: red }</style><script>alert("run me")</script></head>
<body>
<nav><a href="/">Home</a></nav>
<h1>Installing widgets</h1>
<p>Run the <strong>installer</strong> first, then read <a href="/guide/next">the guide</a>.</p>
<ul><li>fast</li><li>small</li></ul>
<pre><code>pip install widgets</code></pre>
<pre><code class="language-python">import widgets</code></pre>
<img src="data:image/png;base64,iVBORw0KGgo=" alt="inline">
<script>document.write("hidden")</script>
</body></html>
"""


@dataclass
class Site:
    """What the server answers, and what it was asked (to check nothing was fetched)."""

    port: int = 0
    redirect_to: str = "/page"  # where /redirect sends the client
    big_bytes: int = 1024 * 1024
    slow_seconds: float = 10.0
    requests: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def send(self, status: int, content_type: str, body: bytes, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            site.requests.append(self.path)
            route = self.path.split("?")[0]
            if route == "/page":
                self.send(200, "text/html; charset=utf-8", PAGE)
            elif route == "/redirect":
                self.send(302, "text/plain", b"moved", Location=site.redirect_to)
            elif route == "/loop":
                self.send(302, "text/plain", b"again", Location="/loop")
            elif route == "/json":
                self.send(200, "application/json", b'{"name": "widgets", "version": "1.2"}')
            elif route == "/big":
                self.send(200, "text/plain", b"x" * site.big_bytes)
            elif route == "/binary":
                self.send(200, "image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 4096)
            elif route == "/disguised":  # says text, is not
                self.send(200, "text/plain", b"ELF\0\0\0\x01\x02" * 64)
            elif route == "/missing":
                self.send(404, "text/html", b"<h1>Not here</h1><p>try /page</p>")
            elif route == "/gzip":  # compressed although the client asked for identity
                self.send(200, "text/html", gzip.compress(PAGE), Content_Encoding="gzip")
            elif route == "/gzip-bomb":  # 20 MB of text in ~20 KB
                packed = gzip.compress(b"a" * 20_000_000)
                self.send(200, "text/plain", packed, Content_Encoding="gzip")
            elif route == "/brotli":
                self.send(200, "text/plain", b"\x1b\x03\x00", Content_Encoding="br")
            elif route == "/slow":
                self.slow_body()
            else:
                self.send(404, "text/plain", b"no such page")

        def slow_body(self) -> None:
            """Headers at once, then one byte now and then: each read is quick, the body
            never ends in time."""
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            deadline = time.monotonic() + site.slow_seconds
            try:
                while time.monotonic() < deadline and not site.stop.is_set():
                    self.wfile.write(b"y")
                    self.wfile.flush()
                    site.stop.wait(0.05)
            except OSError:
                return  # the client gave up, as it should

    return Handler


@contextmanager
def serve(site: Site | None = None, tls: tuple[Path, Path] | None = None) -> Iterator[Site]:
    """Serve `site` on 127.0.0.1; over TLS with `tls` = (certificate, key) files."""
    site = site or Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
