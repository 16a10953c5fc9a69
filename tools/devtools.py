"""Just enough of the Chrome DevTools protocol, over `--remote-debugging-pipe`, to check
every request a page makes and take its screenshot.

Chromium reads commands on fd 3 and writes replies and events on fd 4, each message a
JSON object ending in NUL. The browser starts from a bash line that puts our pipes
there, gives it a home and a profile under `$TMPDIR` (or `/tmp`) — inside the sandbox
that is a private tmpfs which vanishes with it — and execs it. How the line itself is
started (inside the sandbox) is the caller's `start`.
"""

from __future__ import annotations

import base64
import fcntl
import json
import math
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

from tools.base import ToolError

_BASH = shutil.which("bash") or "/bin/bash"
# $0 is the browser, "$@" its flags; the descriptors are filled in per launch.
_LAUNCH = (
    'base="${{TMPDIR:-/tmp}}/tessera-browser" && mkdir -p "$base" && export HOME="$base" && '
    'exec "$0" "$@" --user-data-dir="$base/profile" --remote-debugging-pipe '
    "3<&{read_fd} 4>&{write_fd}"
)

Start = Callable[[list[str], tuple[int, ...]], "subprocess.Popen[bytes]"]
EventHandler = Callable[[dict[str, Any]], None]


def start_plain(command: list[str], pass_fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
    """Start the launch line as is (no sandbox): for callers that bring none."""
    quiet = subprocess.DEVNULL
    return subprocess.Popen(command, pass_fds=pass_fds, stdin=quiet, stdout=quiet, stderr=quiet,
                            start_new_session=True)  # fmt: skip


class DevToolsPipe:
    def __init__(self, browser_argv: Sequence[str], timeout_s: float,
                 start: Start = start_plain) -> None:  # fmt: skip
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # Both ends the child inherits must sit above 3 and 4, or `3<&4 4>&3` would tangle.
        to_browser_read, from_browser_write = _above(to_browser_read), _above(from_browser_write)
        launch = _LAUNCH.format(read_fd=to_browser_read, write_fd=from_browser_write)
        # bash, not sh: dash only redirects descriptors 0-9.
        command = [_BASH, "-c", launch, *browser_argv]
        try:
            self._process = start(command, (to_browser_read, from_browser_write))
        except BaseException:
            os.close(self._to_browser)
            os.close(self._from_browser)
            raise
        finally:
            os.close(to_browser_read)
            os.close(from_browser_write)
        self._deadline = time.monotonic() + timeout_s
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.handlers: dict[str, EventHandler] = {}

    def send(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> int:
        """Send a command without waiting for its reply; returns its id."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def call(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> dict:
        sent = self.send(method, params, session)
        while True:
            reply = self._next_message()
            if reply.get("id") == sent:
                if "error" in reply:
                    raise ToolError(f"Chromium refused {method}: {reply['error'].get('message')}")
                return reply.get("result", {})

    def wait_for_event(self, method: str, session: str) -> None:
        def seen() -> bool:
            return any(
                e.get("method") == method and e.get("sessionId") == session for e in self.events
            )

        while not seen():
            self._next_message()

    def _next_message(self) -> dict[str, Any]:
        """One message; events go to their handler, or to `events` when none is set."""
        message = self._read()
        method = message.get("method")
        if method in self.handlers:
            self.handlers[method](message)
        elif method:
            self.events.append(message)
        return message

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
        """Kill the browser: its profile is thrown away, so there is nothing to shut down
        cleanly (a graceful Browser.close costs a few hundred ms)."""
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        # Its own session: the group holds everything it started. Inside bubblewrap the
        # sandbox's pid namespace dies with bwrap (--die-with-parent).
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()


def _above(fd: int, floor: int = 10) -> int:
    """The same file as `fd` on a descriptor ≥ `floor` (the original is closed)."""
    if fd >= floor:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)
    os.close(fd)
    return moved


def intercept_requests(pipe: DevToolsPipe, answer: Callable[[dict[str, Any]], tuple]) -> None:
    """Pause every request of every target (frames, workers, redirect hops) for `answer`.

    Enabled on the browser itself, not one page, so out-of-process iframes and workers
    are covered as well; `answer(params)` returns the Fetch command that settles it.
    """

    def on_paused(event: dict[str, Any]) -> None:
        method, params = answer(event["params"])
        pipe.send(method, params, event.get("sessionId", ""))

    pipe.handlers["Fetch.requestPaused"] = on_paused
    pipe.call("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})


def capture_png(pipe: DevToolsPipe, url: str, width: int, height: int,
                full_page: bool, max_height: int) -> bytes:  # fmt: skip
    """PNG of `url` at `width`×`height`, or of its whole page: laid out at `height`, then
    captured down to its content's height (up to `max_height`)."""
    target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    attached = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})
    session = attached["sessionId"]
    pipe.call("Page.enable", session=session)
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    pipe.call("Emulation.setDeviceMetricsOverride", metrics, session)
    navigated = pipe.call("Page.navigate", {"url": url}, session)
    if navigated.get("errorText"):
        raise ToolError(f"Chromium could not load {url}: {navigated['errorText']}")
    pipe.wait_for_event("Page.loadEventFired", session)
    shot_height = height
    if full_page:
        layout = pipe.call("Page.getLayoutMetrics", session=session)
        content = layout.get("cssContentSize") or layout.get("contentSize") or {}
        shot_height = min(max_height, max(height, math.ceil(content.get("height", height))))
    # Capture beyond the viewport rather than growing it: a taller viewport would
    # stretch anything sized in vh and change the very height being measured.
    clip = {"x": 0, "y": 0, "width": width, "height": shot_height, "scale": 1}
    shot = pipe.call(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": full_page, "clip": clip},
        session,
    )
    return base64.b64decode(shot["data"])
