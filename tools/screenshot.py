"""`screenshot`: render a loopback URL or a local HTML file with headless Chromium.

The page is someone else's HTML, so the browser gets no more than a command would: it
runs inside the command sandbox (tools/sandbox: the host read-only, secrets masked, a
private /tmp, no network at all) in a fresh profile that dies with it, and DevTools
hands every request to `RequestGuard` before it is made (tools/browser_guard.py):
repository files load, loopback servers on allowed ports are fetched from the host side
and handed over, everything else fails and is named in the result.

In a session, "loopback" is the session's: its background servers listen in the session's
network namespace (tools/sandbox/session.py), and the guard's fetches are made there.

Allowed loopback ports: the target URL's own and the tool's allow-list. Pages reach them
only through that fetch, never over a socket, so a WebSocket (which DevTools cannot
pause) has nowhere to connect.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from tools.base import SideEffect, Tool, ToolArgs, ToolContext, ToolError, ToolResult
from tools.browser_guard import RequestGuard, is_loopback_host, url_port
from tools.devtools import DevToolsPipe, capture_png, intercept_requests
from tools.images import MAX_SIDE_PIXELS, describe, image_store_dir, store_image
from tools.paths import confine, display_path, secret_paths_in_repo
from tools.sandbox.policy import SandboxMode, SandboxPolicy
from tools.sandbox.runner import SandboxPlan, plan_command

__all__ = ["Screenshot", "find_browser", "is_loopback_host", "render_png", "resolve_target"]

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "install it with `apt-get install chromium` (Debian/Ubuntu)"
RENDER_TIMEOUT_S = 60
# Nothing listens here. The sandbox has no network anyway; where it cannot be made
# (no bubblewrap), a request that slipped past the guard still goes nowhere.
DEAD_PROXY = "http://127.0.0.1:9"
CHROMIUM_FLAGS = (
    "--headless",
    # No first tab (here a New Tab page with its own renderer): we open the one we need.
    "--no-startup-window",
    # Chromium's own sandbox needs namespaces it cannot make inside ours.
    "--no-sandbox",
    "--no-zygote",
    "--disable-dev-shm-usage",
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
# Chromium reserves far more address space than it uses (V8 cages, allocator pools): the
# command sandbox's address-space limit would kill it at start.
BROWSER_MEMORY = resource.RLIM_INFINITY
HOME_ROOTS = ("/home", "/root")


def find_browser() -> str:
    for name in BROWSERS:
        if found := shutil.which(name):
            return found
    raise ToolError(f"screenshot needs Chromium, which is not installed: {INSTALL_HINT}")


def resolve_target(target: str, ctx: ToolContext) -> str:
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
    path = confine(ctx, target)
    if not path.is_file():
        raise ToolError(f"{display_path(ctx.repo, path)} is not a file")
    return path.as_uri()


def browser_policy(sandbox: SandboxPolicy, browser: str) -> SandboxPolicy:
    """The command sandbox's policy, read-only and offline whatever commands may do.

    Home directories are hidden too (the browser's own HOME is in its private /tmp; the
    repository stays visible even when it lies under one): the guard already refuses
    files outside the repository, this keeps them out of reach should a load slip past
    it. Not a home the browser itself is installed under.

    `strict_unix` is lifted: Chromium's processes need unix sockets among themselves (it
    dies at start without), while a page has no way to open one, and the guard refuses
    every URL scheme but file, http(s) to allowed ports, data, blob and about.
    """
    installed = Path(os.path.realpath(browser))
    homes = [home for home in (str(Path.home()), *HOME_ROOTS)
             if not installed.is_relative_to(os.path.realpath(home))]  # fmt: skip
    return sandbox.with_(
        mode=SandboxMode.READ_ONLY, network=False, strict_unix=False,
        memory_bytes=BROWSER_MEMORY, timeout_s=RENDER_TIMEOUT_S,
        extra_masked_paths=(*sandbox.extra_masked_paths, *homes),
    )  # fmt: skip


def render_png(
    url: str,
    width: int,
    height: int,
    full_page: bool,
    *,
    browser: str,
    repo: Path,
    policy: SandboxPolicy,
    guard: RequestGuard,
) -> tuple[bytes, SandboxPlan]:
    """PNG bytes of `url` rendered by headless Chromium inside the sandbox of `policy`."""
    plans: list[SandboxPlan] = []

    def start(command: list[str], pass_fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
        plan = plan_command(command, repo=repo, policy=policy)
        plans.append(plan)
        quiet = subprocess.DEVNULL
        return subprocess.Popen(
            plan.argv, env=plan.env, cwd=plan.cwd, pass_fds=(*plan.pass_fds, *pass_fds),
            preexec_fn=plan.preexec, start_new_session=True, stdin=quiet, stdout=quiet,
            stderr=quiet,
        )  # fmt: skip

    argv = [browser, *CHROMIUM_FLAGS, f"--window-size={width},{height}"]
    try:
        pipe = DevToolsPipe(argv, RENDER_TIMEOUT_S, start)
        try:
            intercept_requests(pipe, guard.answer)
            png = capture_png(pipe, url, width, height, full_page, MAX_SIDE_PIXELS)
        finally:
            pipe.close()
    finally:
        for plan in plans:
            if plan.cgroup is not None:
                plan.cgroup.kill_all()  # what left the process group, outside a pid namespace
            plan.cleanup()
    return png, plans[0]


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

    def __init__(self, allowed_ports: Iterable[int] = ()) -> None:
        # Loopback ports any page may reach besides its own URL's: servers the session runs.
        self.allowed_ports = frozenset(allowed_ports)

    def run(self, args: Args, ctx: ToolContext) -> ToolResult:
        url = resolve_target(args.target, ctx)
        ports = set(self.allowed_ports)
        if urlsplit(url).scheme != "file":
            ports.add(url_port(url))
        deadline = time.monotonic() + RENDER_TIMEOUT_S
        # The session's servers listen in its network namespace: the guard connects there.
        connect = ctx.session.connect if ctx.session is not None else None
        guard = RequestGuard(ctx.repo, ports, secret_paths_in_repo(ctx), deadline=deadline,
                             connect=connect)  # fmt: skip
        browser = find_browser()
        policy = browser_policy(ctx.sandbox, browser)
        try:
            png, plan = render_png(url, args.width, args.height, args.full_page, browser=browser,
                                   repo=ctx.repo, policy=policy, guard=guard)  # fmt: skip
        except ToolError as exc:
            refused = guard.report()
            raise ToolError(f"{exc}\n{refused}" if refused else str(exc)) from exc
        stored = store_image(png, image_store_dir(ctx.data_dir), f"screenshot of {url}")
        data: dict[str, Any] = stored.as_data()
        data.update(url=url, blocked=guard.blocked, failed=guard.failed, sandbox=plan.layers)
        lines = [describe(stored, f"screenshot of {url}")]
        if not plan.sandboxed:
            lines += [f"note: {note}" for note in plan.notes]
        if refused := guard.report():
            lines.append(refused)
        return ToolResult(ok=True, text="\n".join(lines), data=data)
