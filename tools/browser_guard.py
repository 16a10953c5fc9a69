"""Every request a screenshot's page makes, checked: what may load, and from where.

The browser runs without a network (tools/sandbox), and on top of that DevTools hands us
each request before it is made (`Fetch.requestPaused`, for every frame, worker and
redirect hop). `RequestGuard.answer` says what to do with it:

- `file://` inside the repository (symlinks resolved, the sandbox's secret masks
  excluded): continue, the browser reads it from its read-only view of the repository;
- `http(s)://` to a loopback address on an allowed port (the target URL's own port and
  the allow-list): fetched here on the host and handed to the browser whole
  (`Fetch.fulfillRequest`), redirects included, so the next hop is checked again. The
  connection is made by `connect` when given: the session's network namespace, where its
  background servers listen (tools/sandbox/session.py), else the host's loopback;
- `data:`, `blob:`, `about:`: continue, they never leave the browser;
- anything else fails and is recorded with its reason, for the tool result.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import math
import os
import socket
import ssl
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})
DEFAULT_PORTS = {"http": 80, "https": 443}
# A dev server's page, not a download: a larger response fails rather than fill memory.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
REQUEST_TIMEOUT_S = 15.0
# A page with hundreds of refused requests should not flood the model's context.
REPORT_LINES = 20
# (host, port, timeout) -> a connected socket: how a loopback server is reached.
Connector = Callable[[str, int, float], socket.socket]
# Connection-level headers belong to our connection to the server, not to the browser's.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length",
                        "proxy-connection", "upgrade", "te", "trailer"})  # fmt: skip


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_port(url: str) -> int | None:
    """The port an http(s) URL connects to (its scheme's default when none is written)."""
    parts = urlsplit(url)
    try:
        return parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None


@dataclass
class RequestGuard:
    repo: Path
    ports: Collection[int]  # loopback ports the page may reach
    secrets: Iterable[Path] = ()  # paths inside the repository the sandbox masks
    deadline: float = math.inf  # time.monotonic() by which every fetch must be done
    connect: Connector | None = None  # None: the host's own loopback
    blocked: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.repo = Path(os.path.realpath(self.repo))
        self.secrets = tuple(self.secrets)

    def refusal(self, url: str) -> str | None:
        """Why `url` may not load, or None when it may."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in LOCAL_SCHEMES:
            return None
        if scheme == "file":
            return self._file_refusal(parts.netloc, unquote(parts.path))
        if scheme in DEFAULT_PORTS:
            if not is_loopback_host(parts.hostname or ""):
                return "not a loopback address"
            port = url_port(url)
            if port not in self.ports:
                return f"loopback port {port} is not allowed"
            return None
        return f"{scheme or 'relative'}: URLs are not allowed"

    def _file_refusal(self, host: str, path: str) -> str | None:
        if host not in ("", "localhost"):
            return "a file on another host"
        resolved = Path(os.path.realpath(path))
        if not resolved.is_relative_to(self.repo):
            return "outside the repository"
        if any(resolved.is_relative_to(secret) for secret in self.secrets):
            return "a secret path the sandbox masks"
        return None

    def answer(self, paused: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The Fetch command (method, params) that settles one `Fetch.requestPaused`."""
        request_id = paused["requestId"]
        request = paused["request"]
        url = request["url"]
        reason = self.refusal(url)
        if reason is not None:
            self.blocked.append({"url": url, "reason": reason})
            return "Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"}
        if urlsplit(url).scheme.lower() not in DEFAULT_PORTS:
            return "Fetch.continueRequest", {"requestId": request_id}
        try:
            # Fetches run one at a time: a hung server must not outlast the render.
            timeout = min(REQUEST_TIMEOUT_S, self.deadline - time.monotonic())
            if timeout <= 0:
                raise TimeoutError("the screenshot's time ran out")
            response = fetch_loopback(request, timeout, self.connect)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.failed.append({"url": url, "reason": str(exc) or type(exc).__name__})
            return "Fetch.failRequest", {"requestId": request_id, "errorReason": "Failed"}
        return "Fetch.fulfillRequest", {"requestId": request_id, **response}

    def report(self) -> str:
        """Lines for the tool result: what was refused and what could not be fetched."""
        lines = [f"blocked: {b['url']} ({b['reason']})" for b in self.blocked]
        lines += [f"failed: {f['url']} ({f['reason']})" for f in self.failed]
        if len(lines) > REPORT_LINES:
            more = len(lines) - REPORT_LINES
            lines = [*lines[:REPORT_LINES], f"... and {more} more (data: blocked, failed)"]
        return "\n".join(line if len(line) < 300 else line[:297] + "..." for line in lines)


def fetch_loopback(request: dict[str, Any], timeout: float = REQUEST_TIMEOUT_S,
                   connect: Connector | None = None) -> dict[str, Any]:
    """The browser's request made from here, as `Fetch.fulfillRequest` parameters.

    http.client rather than urllib: urllib would follow redirects itself (the browser
    must, so each hop comes back to the guard) and honour proxy variables.
    """
    parts = urlsplit(request["url"])
    host = parts.hostname or "localhost"
    # Names under .localhost need not resolve on the host; they mean this machine.
    if host.endswith(".localhost"):
        host = "127.0.0.1"
    port = url_port(request["url"])
    if parts.scheme == "https":
        # A dev server's certificate is self-signed more often than not.
        insecure = ssl._create_unverified_context()
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=insecure
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    if connect is not None:
        # http.client uses a socket already set instead of opening its own.
        raw = connect(host, port or 80, timeout)
        if parts.scheme == "https":
            conn.sock = insecure.wrap_socket(raw, server_hostname=host)
        else:
            conn.sock = raw
    headers = {k: v for k, v in request.get("headers", {}).items() if k.lower() not in HOP_BY_HOP}
    headers["Accept-Encoding"] = "identity"  # the body goes to the browser as it came
    body = request.get("postData")
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    try:
        conn.request(request.get("method", "GET"), target, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read(MAX_RESPONSE_BYTES + 1)
    finally:
        conn.close()
    if len(data) > MAX_RESPONSE_BYTES:
        raise ValueError(f"response larger than {MAX_RESPONSE_BYTES // 2**20} MiB")
    return {
        "responseCode": response.status,
        "responsePhrase": response.reason or "OK",
        "responseHeaders": [
            {"name": name, "value": value}
            for name, value in response.getheaders()
            if name.lower() not in HOP_BY_HOP
        ],
        "body": base64.b64encode(data).decode("ascii"),
    }
