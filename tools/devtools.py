"""Just enough of the Chrome DevTools protocol, over `--remote-debugging-pipe`, to take a
full-page screenshot: the page's real height comes from its layout, not a guess.

Chromium reads commands on fd 3 and writes replies and events on fd 4, each message a
JSON object ending in NUL. A bash `exec` with redirections puts our pipes there.
"""

from __future__ import annotations

import base64
import fcntl
import json
import math
import os
import select
import shutil
import subprocess
import time
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from tools.base import ToolError

_BASH = shutil.which("bash") or "/bin/bash"


class DevToolsPipe:
    def __init__(self, argv: Sequence[str], timeout_s: float) -> None:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # Both ends the child inherits must sit above 3 and 4, or `3<&4 4>&3` would tangle.
        to_browser_read, from_browser_write = _above(to_browser_read), _above(from_browser_write)
        redirect = f'exec "$0" "$@" 3<&{to_browser_read} 4>&{from_browser_write}'
        self._process = subprocess.Popen(
            # bash, not sh: dash only redirects descriptors 0-9.
            [_BASH, "-c", redirect, argv[0], *argv[1:], "--remote-debugging-pipe"],
            pass_fds=(to_browser_read, from_browser_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._deadline = time.monotonic() + timeout_s
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise ToolError(f"Chromium refused {method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for_event(self, method: str, session: str) -> None:
        def seen() -> bool:
            return any(
                e.get("method") == method and e.get("sessionId") == session for e in self.events
            )

        while not seen():
            self.events.append(self._read())

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise ToolError("Chromium did not finish rendering in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise ToolError("Chromium exited before the screenshot was taken")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        with suppress(OSError):
            os.write(self._to_browser, b'{"id": 0, "method": "Browser.close"}\0')
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _above(fd: int, floor: int = 10) -> int:
    """The same file as `fd` on a descriptor ≥ `floor` (the original is closed)."""
    if fd >= floor:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)
    os.close(fd)
    return moved


def full_page_png(
    argv: Sequence[str], url: str, width: int, height: int, max_height: int, timeout_s: float
) -> bytes:
    """PNG of the whole page at `width`: laid out at `height`, then resized to its content."""
    pipe = DevToolsPipe(argv, timeout_s)
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        pipe.call("Page.enable", session=session)
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        pipe.call("Emulation.setDeviceMetricsOverride", metrics, session)
        navigated = pipe.call("Page.navigate", {"url": url}, session)
        if navigated.get("errorText"):
            raise ToolError(f"Chromium could not load {url}: {navigated['errorText']}")
        pipe.wait_for_event("Page.loadEventFired", session)
        layout = pipe.call("Page.getLayoutMetrics", session=session)
        content = layout.get("cssContentSize") or layout.get("contentSize") or {}
        full = min(max_height, max(height, math.ceil(content.get("height", height))))
        # Capture beyond the viewport rather than growing it: a taller viewport would
        # stretch anything sized in vh and change the very height being measured.
        clip = {"x": 0, "y": 0, "width": width, "height": full, "scale": 1}
        shot = pipe.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip},
            session,
        )
        return base64.b64decode(shot["data"])
    finally:
        pipe.close()
