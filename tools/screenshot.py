"""`screenshot`: render a loopback URL or a local HTML file with headless Chromium.

Only loopback is allowed: the dev server the agent started, or a file in the
repository. Chromium also gets a dead proxy for everything that is not loopback, so a
page cannot pull anything from elsewhere either.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field

from tools.base import SideEffect, Tool, ToolArgs, ToolContext, ToolError, ToolResult
from tools.devtools import full_page_png
from tools.images import MAX_SIDE_PIXELS, describe, image_store_dir, store_image
from tools.paths import display_path, resolve_in_repo

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "install it with `apt-get install chromium` (Debian/Ubuntu)"
RENDER_TIMEOUT_S = 60
# Nothing listens here: requests for non-loopback hosts fail at once.
DEAD_PROXY = "http://127.0.0.1:9"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    f"--proxy-server={DEAD_PROXY}",
)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def find_browser() -> str:
    for name in BROWSERS:
        if found := shutil.which(name):
            return found
    raise ToolError(f"screenshot needs Chromium, which is not installed: {INSTALL_HINT}")


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_target(target: str, repo: Path) -> str:
    """The URL to load: a loopback http(s) URL as given, or a repository file as file://."""
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        if not is_loopback_host(host):
            raise ToolError(
                f"screenshot only renders loopback URLs (localhost, 127.0.0.0/8, [::1]); "
                f"{host or target!r} is not one"
            )
        return target
    if parts.scheme == "file":
        target = parts.path
    elif parts.scheme and len(parts.scheme) > 1:
        raise ToolError(
            f"screenshot renders http(s) URLs on loopback or files, not {parts.scheme}: URLs"
        )
    path = resolve_in_repo(repo, target)
    if not path.is_file():
        raise ToolError(f"{display_path(repo, path)} is not a file")
    return path.as_uri()


def render_png(url: str, width: int, height: int, full_page: bool = False) -> bytes:
    """PNG bytes of `url` rendered by headless Chromium in a fresh profile."""
    browser = find_browser()
    with tempfile.TemporaryDirectory(prefix="tessera-shot-") as scratch:
        argv = [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={Path(scratch) / 'profile'}",
            f"--window-size={width},{height}",
        ]
        if full_page:
            # The page's own layout says how tall it is: ask it over the DevTools pipe.
            return full_page_png(argv, url, width, height, MAX_SIDE_PIXELS, RENDER_TIMEOUT_S)
        out = Path(scratch) / "shot.png"
        try:
            done = subprocess.run(
                [*argv, f"--screenshot={out}", url],
                capture_output=True,
                timeout=RENDER_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolError(
                f"Chromium did not finish rendering {url} in {RENDER_TIMEOUT_S} s"
            ) from exc
        if not out.exists():
            tail = done.stderr.decode("utf-8", errors="replace").strip().splitlines()[-3:]
            raise ToolError(
                f"Chromium exited with {done.returncode} and wrote no screenshot of {url}: "
                + " | ".join(tail)
            )
        return out.read_bytes()


class Screenshot(Tool):
    name = "screenshot"
    description = (
        "Render a page with headless Chromium and look at it: a URL on loopback (a dev server "
        "you started, e.g. http://127.0.0.1:8000/) or an HTML file in the repository. The PNG "
        "is added to the conversation so you can see it."
    )
    side_effect = SideEffect.READ

    class Args(ToolArgs):
        target: str = Field(description="http(s) URL on localhost/127.0.0.1/[::1], or a file path")
        width: int = Field(1280, ge=64, le=3840, description="viewport width in px")
        height: int = Field(800, ge=64, le=4000, description="viewport height in px")
        full_page: bool = Field(False, description="capture the whole page, not only the viewport")

    def run(self, args: Args, ctx: ToolContext) -> ToolResult:
        url = resolve_target(args.target, ctx.repo)
        png = render_png(url, args.width, args.height, args.full_page)
        stored = store_image(png, image_store_dir(ctx.data_dir), f"screenshot of {url}")
        data = stored.as_data()
        data["url"] = url
        return ToolResult(ok=True, text=describe(stored, f"screenshot of {url}"), data=data)
